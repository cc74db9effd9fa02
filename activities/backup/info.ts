// What `pgbackrest info --output=json` says about a stanza, in haflow's words. Pure.
import type { BackupType } from '../../topology/schema';

/** One backup in the repository. */
export interface BackupSet {
  label: string;
  type: BackupType;
  /** When it started and stopped (ISO 8601). */
  startedAt: string;
  stoppedAt: string;
  seconds: number;
  /** The database's size, and what the backup holds of it in the repository (compressed, and only changes for diff and incr). */
  databaseBytes: number;
  repositoryBytes: number;
  /** The WAL a restore of it needs, from first to last segment. */
  walStart?: string;
  walStop?: string;
  /** The backup it builds on (diff, incr). */
  prior?: string;
  annotations: Record<string, string>;
  /** pgBackRest found a page checksum error while copying. */
  error: boolean;
}

export interface StanzaInfo {
  stanza: string;
  /** pgBackRest's status: 0 ok; otherwise its message (missing stanza, no valid backups, …). */
  statusCode: number;
  statusMessage: string;
  /** A backup runs now (pgBackRest's lock). */
  backupRunning: boolean;
  cipher?: string;
  /** Oldest first. */
  backups: BackupSet[];
  /** The archive's oldest and newest WAL segment for the current database. */
  archiveMin?: string;
  archiveMax?: string;
  postgresVersion?: string;
  systemId?: number;
}

interface RawBackup {
  label: string;
  type: BackupType;
  timestamp: { start: number; stop: number };
  info: { size: number; repository: { delta: number; size: number } };
  archive?: { start?: string | null; stop?: string | null };
  prior?: string | null;
  annotation?: Record<string, string>;
  error?: boolean;
}

interface RawStanza {
  name: string;
  cipher?: string;
  status: { code: number; message: string; lock?: { backup?: { held?: boolean } } };
  backup?: RawBackup[];
  archive?: { id: string; min?: string | null; max?: string | null; database?: { id: number } }[];
  db?: { id: number; version: string; 'system-id': number }[];
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

/** The stanza's info from `pgbackrest --stanza=<s> info --output=json`; throws on output that is not that. */
export function parseStanzaInfo(json: string, stanza: string): StanzaInfo {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error(`pgbackrest info did not print JSON: ${json.slice(0, 200)}`);
  }
  const raw = (Array.isArray(parsed) ? (parsed as RawStanza[]) : []).find((s) => s.name === stanza);
  if (!raw) return { stanza, statusCode: 1, statusMessage: 'missing stanza path', backupRunning: false, backups: [] };
  const db = raw.db?.at(-1);
  const archive = raw.archive?.filter((a) => db === undefined || a.database?.id === db.id).at(-1);
  return {
    stanza,
    statusCode: raw.status.code,
    statusMessage: raw.status.message,
    backupRunning: raw.status.lock?.backup?.held === true,
    cipher: raw.cipher,
    backups: (raw.backup ?? []).map((b) => ({
      label: b.label,
      type: b.type,
      startedAt: iso(b.timestamp.start),
      stoppedAt: iso(b.timestamp.stop),
      seconds: b.timestamp.stop - b.timestamp.start,
      databaseBytes: b.info.size,
      repositoryBytes: b.info.repository.delta,
      ...(b.archive?.start ? { walStart: b.archive.start } : {}),
      ...(b.archive?.stop ? { walStop: b.archive.stop } : {}),
      ...(b.prior ? { prior: b.prior } : {}),
      annotations: b.annotation ?? {},
      error: b.error === true,
    })),
    ...(archive?.min ? { archiveMin: archive.min } : {}),
    ...(archive?.max ? { archiveMax: archive.max } : {}),
    ...(db ? { postgresVersion: db.version, systemId: db['system-id'] } : {}),
  };
}

/** A WAL segment's name as a number of 16 MiB segments since the start of its timeline (the timeline left out). */
export function segmentNumber(wal: string): number {
  if (!/^[0-9A-F]{24}$/.test(wal)) throw new Error(`not a WAL segment name: ${wal}`);
  // With the default 16 MiB segments, 256 segments make one "log" (the middle 8 digits).
  return parseInt(wal.slice(8, 16), 16) * 256 + parseInt(wal.slice(16, 24), 16);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** One line about a backup: what the backup runbook and `haflow backups` say. */
export function describeBackup(b: BackupSet): string {
  const wal = b.walStart && b.walStop ? `, WAL ${b.walStart}…${b.walStop}` : '';
  return `${b.label} (${b.type}, ${b.seconds} s, database ${formatBytes(b.databaseBytes)}, ${formatBytes(b.repositoryBytes)} in the repository${wal})`;
}

/** An archived WAL segment as `pgbackrest repo-ls --output=json` lists it: its name and when it was written. */
export interface ArchivedSegment {
  wal: string;
  /** Seconds since the epoch. */
  time: number;
}

/** The archived segments in `pgbackrest repo-ls --recurse --output=json archive/<stanza>` (compressed or not, not .history or .backup files). */
export function archivedSegments(json: string): ArchivedSegment[] {
  const listing = JSON.parse(json) as Record<string, { type: string; time?: number }>;
  return Object.entries(listing)
    .map(([name, item]) => ({ wal: name.match(/(?:^|\/)([0-9A-F]{24})-[0-9a-f]{40}/)?.[1], time: item.time ?? 0, type: item.type }))
    .filter((s): s is { wal: string; time: number; type: string } => s.wal !== undefined && s.type === 'file')
    .map(({ wal, time }) => ({ wal, time }))
    .sort((a, b) => a.wal.localeCompare(b.wal));
}

/**
 * Gaps in the archive: segment numbers missing between the oldest and the newest, on every
 * timeline together (a promotion starts the new timeline at the segment where the old one
 * ended, so across a failover the numbers continue). Each gap as "first…last".
 */
export function archiveGaps(segments: ArchivedSegment[]): string[] {
  const numbers = [...new Set(segments.map((s) => segmentNumber(s.wal)))].sort((a, b) => a - b);
  const gaps: string[] = [];
  for (let i = 1; i < numbers.length; i++) {
    if (numbers[i] > numbers[i - 1] + 1) gaps.push(`${segmentName(numbers[i - 1] + 1)}…${segmentName(numbers[i] - 1)}`);
  }
  return gaps;
}

/** A segment number as the last 16 digits of its name (the timeline left out). */
const segmentName = (n: number) => `${Math.floor(n / 256).toString(16).toUpperCase().padStart(8, '0')}${(n % 256).toString(16).toUpperCase().padStart(8, '0')}`;
