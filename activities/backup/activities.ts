// The backup component's steps: pgBackRest configured on the repository host and the DB nodes,
// the stanza created and archiving checked, a backup taken and verified; and the repository read
// for `haflow backups`.
import { ApplicationFailure } from '@temporalio/common';
import type { BackupType, Host, Topology } from '../../topology/schema';
import { requireBackup } from '../../topology/derive';
import { readClusterHealth } from '../cluster/activities';
import type { ClusterInput, HostInput, StepResult } from '../contract';
import { StepFailureTypes } from '../contract';
import { ensureRemoteFiles } from '../shared/remote-files';
import { secretValue } from '../shared/secrets';
import { psql } from '../shared/psql';
import { targetFor, withHostSsh, type SshSession } from '../shared/ssh';
import { shellQuote } from '../shared/shell';
import { currentActivity } from '../shared/step-activity';
import { guardFailed, onHost, stepResult } from '../shared/step';
import { ensureBackupKey } from './access';
import { backupComponent } from './component';
import { BACKUP_SSH_DIR, backupOsUser, SPOOL_PATH } from './config';
import { archiveGaps, archivedSegments, describeBackup, parseStanzaInfo, segmentNumber, type BackupSet, type StanzaInfo } from './info';

const LOG_PATH = '/var/log/pgbackrest';

/** A directory owned by `user`, mode 750: made or put right; what was done, if anything. */
async function ensureOwnedDirectory(ssh: SshSession, dir: string, user: string, check: boolean): Promise<string | undefined> {
  const now = (await ssh.exec(`stat -c '%U:%G:%a' ${shellQuote(dir)}`, { sudo: true })).stdout.trim();
  if (now === `${user}:${user}:750`) return undefined;
  if (!check) await ssh.check(`install -d -o ${shellQuote(user)} -g ${shellQuote(user)} -m 750 ${shellQuote(dir)}`, { sudo: true });
  return `${check ? 'would make' : 'made'} ${dir} ${user}'s (mode 750)${now ? `, was ${now}` : ''}`;
}

/** pgBackRest on one host: the repository's user and directory, or a node's spool; the configuration, the SSH command and the host's key. */
export async function configureBackup(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const { settings } = requireBackup(topology);
    const user = backupOsUser(topology, host);
    const actions: string[] = [];
    if (host.roles.includes('backup') && (await ssh.exec(`id -u ${shellQuote(user)}`)).code !== 0) {
      if (!check) await ssh.check(`useradd --system --user-group --create-home --shell /bin/sh --comment 'pgBackRest repository' ${shellQuote(user)}`, { sudo: true });
      actions.push(`${check ? 'would create' : 'created'} the repository's user ${user}`);
    }
    const dirs = host.roles.includes('backup') ? [settings.repository_path, LOG_PATH] : [SPOOL_PATH, LOG_PATH];
    for (const dir of dirs) {
      const done = await ensureOwnedDirectory(ssh, dir, user, check);
      if (done) actions.push(done);
    }
    if (check && actions.some((a) => a.includes('would create the repository'))) {
      return stepResult([...actions, `would write ${backupComponent.files(topology, host, secretValue).map((f) => f.path).join(', ')}`], '');
    }
    const written = await ensureRemoteFiles(ssh, backupComponent.files(topology, host, secretValue), check);
    actions.push(...written.actions);
    if (!check) await ssh.check(`chown root:${shellQuote(user)} ${BACKUP_SSH_DIR} && chmod 750 ${BACKUP_SSH_DIR}`, { sudo: true });
    const key = await ensureBackupKey(ssh, topology, host, check);
    if (key.action) actions.push(key.action);
    return stepResult(actions, `pgBackRest on ${host.name} is configured (${host.roles.includes('backup') ? `the repository in ${settings.repository_path}` : 'archives to and restores from the repository'})`, written.details);
  });
}

/** pgBackRest as the repository's user on the backup host. */
export function pgbackrest(topology: Topology, args: string): string {
  const { settings, stanza } = requireBackup(topology);
  return `sudo -u ${shellQuote(settings.user)} pgbackrest --stanza=${shellQuote(stanza)} ${args}`;
}

export async function stanzaInfo(ssh: SshSession, topology: Topology): Promise<StanzaInfo> {
  const { stanza } = requireBackup(topology);
  const out = await ssh.exec(pgbackrest(topology, 'info --output=json'), { sudo: true, timeoutMs: 60_000 });
  if (out.code !== 0) {
    throw ApplicationFailure.create({ type: StepFailureTypes.commandFailed, message: `pgbackrest info failed on the repository host (exit ${out.code}): ${out.stderr.trim().slice(-400)}` });
  }
  return parseStanzaInfo(out.stdout, stanza);
}

/** The leader now, as the cluster's health names it. */
async function leaderHost(topology: Topology): Promise<Host> {
  const health = await readClusterHealth({ topology });
  const leader = topology.hosts.find((h) => h.name === health.leader);
  if (!leader) throw guardFailed(`cluster ${topology.cluster} has no leader now (${health.problems.join('; ') || 'none answered'})`, 'run `haflow list`, bring the cluster back, then retry');
  return leader;
}

/** Whether pgBackRest and the repository's user are on the backup host yet (in check mode on bare machines they are not). */
async function repositoryReady(ssh: SshSession, topology: Topology): Promise<boolean> {
  const { settings } = requireBackup(topology);
  return (await ssh.exec(`command -v pgbackrest >/dev/null && id -u ${shellQuote(settings.user)} >/dev/null`)).code === 0;
}

/** pgBackRest's failure, with what a database administrator does about the usual ones. */
export function pgbackrestFailed(what: string, run: { code: number; stderr: string; stdout: string }, repository: Host): ApplicationFailure {
  const said = `${run.stderr}\n${run.stdout}`.trim();
  // pgBackRest says a wrong passphrase as a CryptoError ("is or was the repo encrypted?").
  const wrongPassphrase = /CryptoError|cipher|decrypt|passphrase|encrypted\?/i.test(said);
  const remedy = wrongPassphrase
    ? `the repository was made with another passphrase: give backup.passphrase the one it was made with (it is in /etc/pgbackrest.conf on ${repository.name} only)`
    : /space left|ENOSPC|No space/i.test(said)
      ? `the repository's disk on ${repository.name} is full: free space or lower backup.retention, then retry`
      : /unable to connect|could not connect|Connection refused|Host key|Permission denied|timed out/i.test(said)
        ? `a host did not answer pgBackRest's SSH or PostgreSQL: run \`haflow install\` (it checks the SSH trust both ways) and \`haflow list\`, then retry`
        : `read pgBackRest's log in /var/log/pgbackrest on ${repository.name}, then retry`;
  return ApplicationFailure.create({
    type: StepFailureTypes.commandFailed,
    nonRetryable: wrongPassphrase || /space left|ENOSPC/i.test(said),
    message: `${what} failed (pgBackRest exit ${run.code}): ${said.split('\n').filter((l) => /ERROR|WARN/.test(l)).slice(-3).join(' ') || said.slice(-400)}`,
    details: [{ remedy }],
  });
}

/** The stanza created (pgBackRest leaves a matching one as it is), then `pgbackrest check`: the leader's WAL reaches the repository. */
export async function createBackupStanza(input: ClusterInput): Promise<StepResult> {
  const { topology, check } = input;
  const { host: repository, stanza } = requireBackup(topology);
  return withHostSsh(targetFor(topology, repository), async (ssh) => {
    if (check && !(await repositoryReady(ssh, topology))) return stepResult([`would create the stanza ${stanza} on ${repository.name} once pgBackRest and its user are there, then check that the leader's WAL is archived`], '');
    const before = await stanzaInfo(ssh, topology);
    const missing = before.statusCode === 1 && /missing stanza/i.test(before.statusMessage);
    if (check) return stepResult(missing ? [`would create the stanza ${stanza} in the repository on ${repository.name}, then check that the leader's WAL is archived`] : [], `the stanza ${stanza} exists (${before.statusMessage}); the check runs when it is not a check`);
    // A running cluster that gains backups has archive_mode in config.yml, but PostgreSQL takes it only at a restart.
    const leader = await leaderHost(topology);
    const archiving = await withHostSsh(targetFor(topology, leader), (db) => psql(db, topology, 'SHOW archive_mode'));
    if (archiving.trim() === 'off') {
      throw guardFailed(
        `archive_mode is off on the leader ${leader.name}: Patroni has the new setting, and PostgreSQL takes it only when it restarts`,
        `end this run (haflow resume ${topology.cluster} --abort), restart the members one at a time with haflow restart ${topology.cluster} (replicas first, the leader after a coordinated switchover), then run haflow install again`,
      );
    }
    const created = await ssh.exec(pgbackrest(topology, 'stanza-create'), { sudo: true, timeoutMs: 120_000 });
    if (created.code !== 0) throw pgbackrestFailed(`stanza-create of ${stanza}`, created, repository);
    const checked = await ssh.exec(pgbackrest(topology, 'check'), { sudo: true, timeoutMs: 180_000 });
    if (checked.code !== 0) throw pgbackrestFailed(`pgbackrest check of ${stanza} (the leader's WAL archived to the repository)`, checked, repository);
    return stepResult(missing ? [`created the stanza ${stanza} on ${repository.name}; the leader's WAL reaches it (pgbackrest check)`] : [], `the stanza ${stanza} exists and the leader's WAL reaches it (pgbackrest check)`);
  });
}

/** What identifies a backup as this step's: retried, the step finds its own backup instead of taking another. */
function runAnnotation(): string | undefined {
  const info = currentActivity()?.info;
  // The cluster's workflow id is the same for every operation on it: the run's id tells them apart.
  return info?.workflowExecution ? `${info.workflowExecution.workflowId}/${info.workflowExecution.runId}/${info.activityId}` : undefined;
}

export interface TakeBackupInput extends ClusterInput {
  type: BackupType;
  /** The install's first backup: taken only when the repository holds none. */
  firstOnly?: boolean;
}

/**
 * A backup of the given type, from a streaming replica when backup.from_standby says so and one
 * streams (else from the leader). Idempotent: a retry finds the backup its first attempt took by its annotation.
 */
export async function takeBackup(input: TakeBackupInput): Promise<StepResult> {
  const { topology, check, type } = input;
  const { settings, host: repository, stanza } = requireBackup(topology);
  const health = await readClusterHealth({ topology });
  const standby = settings.from_standby ? health.members.find((m) => m.name !== health.leader && m.streaming) : undefined;
  const from = standby ? `the streaming replica ${standby.name}` : health.leader ? `the leader ${health.leader}` : 'the leader the install starts';
  // In check mode on bare machines there is no cluster yet: the install would start one first.
  if (!health.leader && !check) throw guardFailed(`cluster ${topology.cluster} has no leader now, so no backup can start`, 'run `haflow list` and bring the cluster back first');
  const annotation = runAnnotation();
  return withHostSsh(targetFor(topology, repository), async (ssh) => {
    if (check && !(await repositoryReady(ssh, topology))) return stepResult([`would take a ${type} backup from ${from} once the repository on ${repository.name} exists`], '');
    const before = await stanzaInfo(ssh, topology);
    if (before.statusCode !== 0 && !/no valid backups/i.test(before.statusMessage)) {
      throw guardFailed(`the stanza ${stanza} is not usable: ${before.statusMessage}`, 'run `haflow install` (it creates the stanza and checks the archive), then retry');
    }
    if (input.firstOnly && before.backups.length > 0) return stepResult([], `the repository holds ${before.backups.length} backup(s), the newest ${before.backups.at(-1)!.label}`);
    const fullFirst = type !== 'full' && !before.backups.some((b) => b.type === 'full');
    if (check) {
      return stepResult([`would take a ${fullFirst ? `full backup (no full backup to build a ${type} on)` : `${type} backup`} from ${from} into the repository on ${repository.name}`], '');
    }
    const mine = (info: StanzaInfo) => (annotation ? info.backups.find((b) => b.annotations['haflow-run'] === annotation) : undefined);
    let backup: BackupSet | undefined = mine(before);
    if (!backup) {
      const args = [`--type=${type}`, standby ? '--backup-standby' : '--no-backup-standby', ...(annotation ? [`--annotation=haflow-run=${shellQuote(annotation)}`] : []), 'backup'];
      // The lock makes a retry beside a backup that still runs wait for it rather than start another.
      const run = await ssh.exec(pgbackrest(topology, args.join(' ')), { sudo: true, timeoutMs: 6 * 3600_000, lock: `backup-${stanza}` });
      if (run.code !== 0) throw pgbackrestFailed(`the ${type} backup of ${stanza}`, run, repository);
      const after = await stanzaInfo(ssh, topology);
      backup = mine(after) ?? after.backups.at(-1);
      if (!backup) throw ApplicationFailure.create({ type: StepFailureTypes.commandFailed, message: `pgbackrest backup ended with 0, but pgbackrest info lists no backup for ${stanza}` });
    }
    return {
      changed: true,
      summary: `took ${describeBackup(backup)} from ${from}${fullFirst ? `; full because no full backup existed to build a ${type} on` : ''}`,
      facts: { label: backup.label, type: backup.type, seconds: backup.seconds, databaseBytes: backup.databaseBytes, repositoryBytes: backup.repositoryBytes, from: standby?.name ?? health.leader! },
    };
  });
}

/** The gate of `haflow backup`: a leader to back up, and a stanza pgBackRest can use. Replicas may be down: then the leader is backed up. */
export async function backupGate(input: ClusterInput): Promise<StepResult> {
  const { topology } = input;
  const { host: repository, stanza } = requireBackup(topology);
  const health = await readClusterHealth({ topology });
  if (!health.leader) throw guardFailed(`cluster ${topology.cluster} has no leader now (${health.problems.join('; ') || 'none answered'}), so there is nothing to back up`, 'run `haflow list`, bring the cluster back, then retry');
  const info = await withHostSsh(targetFor(topology, repository), (ssh) => stanzaInfo(ssh, topology));
  if (info.statusCode !== 0 && !/no valid backups/i.test(info.statusMessage)) {
    throw guardFailed(`the stanza ${stanza} on ${repository.name} is not usable: ${info.statusMessage}`, 'run `haflow install` with the topology (it creates the stanza and checks the archive), then retry');
  }
  if (info.backupRunning) throw guardFailed(`a backup of ${stanza} runs now (pgBackRest's lock on ${repository.name} is held)`, 'wait for it to end (`haflow backups` shows it), then retry');
  const streaming = health.members.filter((m) => m.name !== health.leader && m.streaming).map((m) => m.name);
  return stepResult([], `leader ${health.leader}${streaming.length > 0 ? `, streaming: ${streaming.join(', ')}` : ', no replica streams (the backup reads the leader)'}; the stanza ${stanza} holds ${info.backups.length} backup(s)`);
}

/**
 * After a backup: the newest one is in `pgbackrest info` with no checksum error, the archive
 * holds every WAL segment it needs, and `pgbackrest check` archives a segment from the leader now.
 */
export async function verifyBackup(input: ClusterInput): Promise<StepResult> {
  const { topology, check } = input;
  const { host: repository, stanza } = requireBackup(topology);
  return withHostSsh(targetFor(topology, repository), async (ssh) => {
    const info = await stanzaInfo(ssh, topology);
    const newest = info.backups.at(-1);
    if (check) return stepResult([], newest ? `the newest backup now is ${describeBackup(newest)}` : 'no backup yet');
    if (!newest) throw ApplicationFailure.create({ type: StepFailureTypes.commandFailed, message: `pgbackrest info lists no backup for ${stanza}` });
    if (newest.error) throw guardFailed(`backup ${newest.label} found page checksum errors while copying`, `read pgBackRest's log on ${repository.name} (/var/log/pgbackrest) for the files, and check the leader's storage`);
    if (newest.walStop && info.archiveMax && segmentNumber(info.archiveMax) < segmentNumber(newest.walStop)) {
      throw ApplicationFailure.create({ type: StepFailureTypes.commandFailed, message: `backup ${newest.label} needs WAL up to ${newest.walStop}, but the archive ends at ${info.archiveMax}` });
    }
    const checked = await ssh.exec(pgbackrest(topology, 'check'), { sudo: true, timeoutMs: 180_000 });
    if (checked.code !== 0) throw pgbackrestFailed(`pgbackrest check after backup ${newest.label}`, checked, repository);
    return stepResult([], `${describeBackup(newest)} is in the repository with the WAL it needs (archive ${info.archiveMin}…${info.archiveMax}); the leader's WAL reaches the archive (pgbackrest check)`, [], { label: newest.label });
  });
}

/**
 * After a drill or a switchover: the leader now archives to the repository (`pgbackrest check`
 * forces a segment and waits for it), when its timeline's first segment reached the archive, and
 * whether the archive has a gap across the change of leader.
 */
export async function archiveContinuity(input: ClusterInput): Promise<StepResult> {
  const { topology, check } = input;
  const { host: repository, stanza } = requireBackup(topology);
  const health = await readClusterHealth({ topology });
  const leader = health.members.find((m) => m.name === health.leader);
  if (!leader) throw guardFailed(`cluster ${topology.cluster} has no leader, so nothing archives`, 'run `haflow list` and bring the cluster back');
  if (check) return stepResult([], `would check that ${leader.name} archives to the repository on ${repository.name} and that the archive has no gap`);
  return withHostSsh(targetFor(topology, repository), async (ssh) => {
    const checked = await ssh.exec(pgbackrest(topology, 'check'), { sudo: true, timeoutMs: 180_000 });
    if (checked.code !== 0) throw pgbackrestFailed(`pgbackrest check: the leader ${leader.name}'s WAL to the repository`, checked, repository);
    const listed = await ssh.exec(pgbackrest(topology, `repo-ls --recurse --output=json archive/${shellQuote(stanza)}`), { sudo: true, timeoutMs: 120_000 });
    if (listed.code !== 0) throw pgbackrestFailed('listing the archive', listed, repository);
    const segments = archivedSegments(listed.stdout);
    const gaps = archiveGaps(segments);
    const timeline = (leader.timeline ?? 1).toString(16).toUpperCase().padStart(8, '0');
    const onTimeline = segments.filter((seg) => seg.wal.startsWith(timeline));
    const resumedAt = onTimeline.length > 0 ? new Date(Math.min(...onTimeline.map((seg) => seg.time)) * 1000).toISOString() : undefined;
    if (gaps.length > 0) {
      throw guardFailed(`the archive of ${stanza} has a gap: ${gaps.join(', ')} missing; a restore cannot replay across it`, `take a full backup now (haflow backup ${topology.cluster} --type full): restores from before the gap end at it`);
    }
    return stepResult([], `${leader.name} (timeline ${leader.timeline ?? 1}) archives to the repository on ${repository.name} (pgbackrest check)${resumedAt ? `; its timeline's first segment reached the archive at ${resumedAt}` : ''}; no gap in the archive from ${segments[0]?.wal ?? '-'} to ${segments.at(-1)?.wal ?? '-'}`, [], {
      archivingLeader: leader.name,
      ...(resumedAt ? { archivingResumedAt: resumedAt } : {}),
      archiveGaps: 0,
    });
  });
}

/** The leader's archiver, as pg_stat_archiver and the current WAL say. */
export interface ArchiverReading {
  leader: string;
  currentWal: string;
  lastArchivedWal?: string;
  lastArchivedAt?: string;
  failedCount: number;
  lastFailedWal?: string;
  lastFailedAt?: string;
}

/** `haflow backups`: the repository, the archive, and the problems a database administrator would want named. */
export interface BackupReport {
  cluster: string;
  stanza: string;
  repositoryHost: string;
  checkedAt: string;
  info: StanzaInfo;
  repositoryBytes?: number;
  archiver?: ArchiverReading;
  /** WAL segments the leader has finished that the archive does not hold yet. */
  archiveLagSegments?: number;
  /** Seconds since the leader last archived a WAL segment. */
  archiveAgeSeconds?: number;
  problems: string[];
}

async function readArchiver(topology: Topology, leader: Host): Promise<ArchiverReading> {
  return withHostSsh(targetFor(topology, leader), async (ssh) => {
    const row = await psql(
      ssh,
      topology,
      "select pg_walfile_name(pg_current_wal_lsn()), coalesce(last_archived_wal, ''), coalesce(to_char(last_archived_time at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), failed_count, coalesce(last_failed_wal, ''), coalesce(to_char(last_failed_time at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') from pg_stat_archiver",
    );
    const [currentWal, lastArchivedWal, lastArchivedAt, failed, lastFailedWal, lastFailedAt] = row.trim().split('|');
    return {
      leader: leader.name,
      currentWal,
      ...(lastArchivedWal ? { lastArchivedWal } : {}),
      ...(lastArchivedAt ? { lastArchivedAt } : {}),
      failedCount: Number(failed),
      ...(lastFailedWal ? { lastFailedWal } : {}),
      ...(lastFailedAt ? { lastFailedAt } : {}),
    };
  });
}

/** The verdict on a backup report's readings. Pure. */
export function backupProblems(report: Omit<BackupReport, 'problems'>, archiveTimeoutSeconds: number): string[] {
  const problems: string[] = [];
  const { info, archiver } = report;
  if (info.statusCode !== 0) problems.push(`pgBackRest says the stanza ${info.stanza} is not ok: ${info.statusMessage}`);
  else if (info.backups.length === 0) problems.push('the repository holds no backup');
  for (const b of info.backups.filter((x) => x.error)) problems.push(`backup ${b.label} found page checksum errors while copying`);
  if (archiver?.lastFailedAt && (!archiver.lastArchivedAt || archiver.lastFailedAt > archiver.lastArchivedAt)) {
    problems.push(`the leader ${archiver.leader} fails to archive WAL: the last attempt for ${archiver.lastFailedWal} failed at ${archiver.lastFailedAt}, after the last success${archiver.lastArchivedAt ? ` at ${archiver.lastArchivedAt}` : ''}`);
  }
  // A finished segment waits at most archive_timeout to be switched out, then archive-async pushes it.
  const lag = report.archiveLagSegments;
  if (lag !== undefined && (lag > 2 || (lag > 0 && (report.archiveAgeSeconds ?? 0) > 3 * archiveTimeoutSeconds))) {
    problems.push(`the archive is ${lag} WAL segment(s) behind the leader ${archiver?.leader}${report.archiveAgeSeconds !== undefined ? `, and nothing was archived for ${report.archiveAgeSeconds} s` : ''}`);
  }
  return problems;
}

/** Reads the repository (pgbackrest info, its size on disk) and the leader's archiver. */
export async function readBackupReport(input: { topology: Topology }): Promise<BackupReport> {
  const { topology } = input;
  const { host: repository, stanza, settings } = requireBackup(topology);
  const { info, repositoryBytes } = await withHostSsh(targetFor(topology, repository), async (ssh) => {
    const read = await stanzaInfo(ssh, topology);
    const du = await ssh.exec(`du -sb ${shellQuote(settings.repository_path)} | cut -f1`, { sudo: true });
    return { info: read, repositoryBytes: du.code === 0 ? Number(du.stdout.trim()) : undefined };
  });
  const health = await readClusterHealth({ topology });
  const leader = topology.hosts.find((h) => h.name === health.leader);
  const archiver = leader ? await readArchiver(topology, leader).catch(() => undefined) : undefined;
  const checkedAt = new Date();
  // The segment being written is not finished: the archive is caught up when it holds the one before.
  const archiveLagSegments =
    archiver && info.archiveMax && archiver.currentWal.slice(0, 8) === info.archiveMax.slice(0, 8) ? Math.max(0, segmentNumber(archiver.currentWal) - 1 - segmentNumber(info.archiveMax)) : undefined;
  const archiveAgeSeconds = archiver?.lastArchivedAt ? Math.round((checkedAt.getTime() - Date.parse(archiver.lastArchivedAt)) / 1000) : undefined;
  const partial = {
    cluster: topology.cluster,
    stanza,
    repositoryHost: repository.name,
    checkedAt: checkedAt.toISOString(),
    info,
    ...(repositoryBytes !== undefined ? { repositoryBytes } : {}),
    ...(archiver ? { archiver } : {}),
    ...(archiveLagSegments !== undefined ? { archiveLagSegments } : {}),
    ...(archiveAgeSeconds !== undefined ? { archiveAgeSeconds } : {}),
  };
  return { ...partial, problems: backupProblems(partial, settings.archive_timeout_seconds) };
}

/**
 * The preflight's question on the backup host: a repository that already holds the stanza (an
 * earlier install) opens with the topology's passphrase. Asked before anything changes, because
 * with another passphrase every archive-push and archive-get fails (pgBackRest 2.45 crashes on it),
 * and a replica whose restore_command crashes cannot start.
 */
export async function repositoryPassphraseProblem(ssh: SshSession, topology: Topology): Promise<{ found: string; remedy: string } | undefined> {
  const { settings, stanza, host } = requireBackup(topology);
  const archiveInfo = `${settings.repository_path}/archive/${stanza}/archive.info`;
  const present = await ssh.exec(`command -v pgbackrest >/dev/null && id -u ${shellQuote(settings.user)} >/dev/null && test -f ${shellQuote(archiveInfo)}`, { sudo: true });
  if (present.code !== 0) return undefined;
  // The passphrase goes through stdin into a file only the repository's user reads, never onto a command line.
  const config = `[global]\nrepo1-path=${settings.repository_path}\nrepo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass=${secretValue(settings.passphrase, 'backup.passphrase', { noBlanksBecause: "pgBackRest's configuration file trims a value's blanks" })}\n`;
  const u = shellQuote(settings.user);
  const tried = await ssh.exec(
    `f=$(mktemp) && chown ${u} "$f" && chmod 600 "$f" && cat > "$f" && sudo -u ${u} pgbackrest --config="$f" --stanza=${shellQuote(stanza)} --log-level-console=error repo-get archive/${shellQuote(stanza)}/archive.info >/dev/null; rc=$?; rm -f "$f"; exit $rc`,
    { sudo: true, stdin: config, timeoutMs: 60_000 },
  );
  if (tried.code === 0) return undefined;
  return {
    found: `the repository on ${host.name} (${settings.repository_path}) already holds the stanza ${stanza}, and backup.passphrase does not open it: ${tried.stderr.trim().split('\n').find((l) => /ERROR|Error/.test(l)) ?? `pgBackRest exit ${tried.code}`}`,
    remedy: `give backup.passphrase the passphrase the repository was made with; to start a new repository instead, move ${settings.repository_path} aside on ${host.name} first`,
  };
}
