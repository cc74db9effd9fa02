// OpenSSH known_hosts: which host keys a host may present. Pure, so the rules (plain and
// hashed names, [host]:port, markers) are tested without a server.
import { createHash, createHmac } from 'node:crypto';

export interface KnownHostEntry {
  patterns: string[];
  /** `|1|salt|hash` entries: the names are hidden, only a match can be checked. */
  hashed?: { salt: Buffer; hash: Buffer };
  keyType: string;
  /** The key blob, base64 as in the file. */
  key: string;
  marker?: '@revoked' | '@cert-authority';
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    const marker = fields[0].startsWith('@') ? (fields.shift() as KnownHostEntry['marker']) : undefined;
    if (fields.length < 3) continue;
    const [names, keyType, key] = fields;
    if (names.startsWith('|1|')) {
      const [, , salt, hash] = names.split('|');
      entries.push({ patterns: [], hashed: { salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') }, keyType, key, marker });
    } else {
      entries.push({ patterns: names.split(','), keyType, key, marker });
    }
  }
  return entries;
}

/** The name known_hosts uses for a host: `addr` on port 22, `[addr]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return regex.test(name);
}

export function entryMatches(entry: KnownHostEntry, name: string): boolean {
  if (entry.hashed) {
    const digest = createHmac('sha1', entry.hashed.salt).update(name).digest();
    return digest.equals(entry.hashed.hash);
  }
  let matched = false;
  for (const pattern of entry.patterns) {
    if (pattern.startsWith('!')) {
      if (globMatch(pattern.slice(1), name)) return false;
    } else if (globMatch(pattern, name)) {
      matched = true;
    }
  }
  return matched;
}

/** SHA256 fingerprint as ssh-keygen -l prints it. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

export type HostKeyVerdict =
  | { ok: true }
  | { ok: false; reason: 'unknown' | 'changed' | 'revoked'; presented: string; expected: string[] };

/** Whether a presented host key is one known_hosts allows for this host and port. */
export function checkHostKey(entries: KnownHostEntry[], host: string, port: number, keyBlob: Buffer): HostKeyVerdict {
  const name = knownHostsName(host, port);
  const presentedBase64 = keyBlob.toString('base64');
  const presented = fingerprint(keyBlob);
  const forHost = entries.filter((e) => e.marker !== '@cert-authority' && entryMatches(e, name));
  if (forHost.some((e) => e.marker === '@revoked' && e.key === presentedBase64)) {
    return { ok: false, reason: 'revoked', presented, expected: [] };
  }
  const allowed = forHost.filter((e) => e.marker === undefined);
  if (allowed.some((e) => e.key === presentedBase64)) return { ok: true };
  const expected = allowed.map((e) => `${e.keyType} ${fingerprint(Buffer.from(e.key, 'base64'))}`);
  return { ok: false, reason: allowed.length === 0 ? 'unknown' : 'changed', presented, expected };
}
