// One host trusting another over SSH for one purpose (the application's file sync, pgBackRest):
// a key of the connecting side's own, accepted by the other side's user only from the connecting
// side's addresses and for nothing a key can do by itself (restrict), and the other side's host
// key taken from the worker's known_hosts, so that no host trusts a key on first sight.
import { readFileSync } from 'node:fs';
import type { Host, Topology } from '../../topology/schema';
import { sshTarget } from '../../topology/derive';
import { entryMatches, knownHostsName, parseKnownHosts } from './known-hosts';
import { expandHome } from './secrets';
import type { SshSession } from './ssh';
import { shellQuote } from './shell';
import { guardFailed } from './step';

/** The worker's known_hosts lines for `to`, as the connecting host must know them (names written plainly). */
export function knownHostLinesFor(knownHostsText: string, address: string, port: number): string[] {
  const name = knownHostsName(address, port);
  return parseKnownHosts(knownHostsText)
    .filter((e) => !e.marker && entryMatches(e, name))
    .map((e) => `${name} ${e.keyType} ${e.key}`);
}

/** `to`'s host key lines from the worker's known_hosts; a guard failure names the remedy when there are none. */
export function workerKnownHostLines(topology: Topology, from: Host, to: Host, purpose: string): string[] {
  const knownHosts = readFileSync(expandHome(topology.ssh.known_hosts), 'utf8');
  const { port } = sshTarget(topology, to);
  const lines = knownHostLinesFor(knownHosts, to.address, port);
  if (lines.length === 0) {
    throw guardFailed(
      `the worker's ${topology.ssh.known_hosts} has no host key for ${to.name} (${knownHostsName(to.address, port)}), so ${from.name} could not check whom it ${purpose}`,
      `add it after checking its fingerprint: ssh-keyscan -p ${port} ${to.address} >> ${topology.ssh.known_hosts}`,
    );
  }
  return lines;
}

/**
 * Where sshd on the host reads the user's authorized keys: its first AuthorizedKeysFile, as
 * `sshd -T` reports it for that user (%u, %h, %% expanded, relative to the home); the usual
 * ~/.ssh/authorized_keys when sshd cannot say.
 */
async function authorizedKeysFile(ssh: SshSession, user: string, home: string): Promise<string> {
  const out = await ssh.exec(`sshd -T -C user=${shellQuote(user)},host=localhost,addr=127.0.0.1 2>/dev/null | grep -i '^authorizedkeysfile '`, { sudo: true });
  const first = out.stdout.trim().split(/\s+/)[1];
  if (out.code !== 0 || !first || first.toLowerCase() === 'none') return `${home}/.ssh/authorized_keys`;
  const path = first.replace(/%(.)/g, (_m, c: string) => (c === 'u' ? user : c === 'h' ? home : c === '%' ? '%' : `%${c}`));
  return path.startsWith('/') ? path : `${home}/${path}`;
}

/**
 * The authorized_keys line for a key of another host: accepted only from that host's addresses
 * (from=), and for nothing a key can do by itself (restrict: no forwarding, no terminal).
 */
export function restrictedKeyLine(publicKey: string, fromAddresses: string[]): string {
  return `from="${fromAddresses.join(',')}",restrict ${publicKey}`;
}

/** The addresses `on` sees `peer` connect from: its IPv4 address, or what its DNS name resolves to there (sshd matches from= against addresses). */
export async function peerAddresses(on: SshSession, peer: Host): Promise<string[]> {
  if (/^[0-9.]+$/.test(peer.address)) return [peer.address];
  const resolved = await on.exec(`getent ahostsv4 ${shellQuote(peer.address)} | awk '{print $1}' | sort -u`);
  const addresses = resolved.stdout.split('\n').filter((a) => /^[0-9.]+$/.test(a));
  if (addresses.length === 0) {
    throw guardFailed(`${on.target.name} cannot resolve ${peer.name}'s address ${peer.address}, so it could not tell ${peer.name}'s connections from others'`, `make ${peer.address} resolve on ${on.target.name} (DNS or /etc/hosts), or write ${peer.name}'s IPv4 address in its hosts entry`);
  }
  return addresses;
}

/**
 * Puts `line` into the authorized keys file `file`, once: a line with the same key without it
 * (authorised before from= was written, or from another address) is replaced, the file keeping
 * its owner, mode and other keys; a missing file is made by `create` first. Returns whether the
 * file changes (in check mode: would change).
 */
export async function authorizeKeyLine(ssh: SshSession, file: string, line: string, create: string, check: boolean): Promise<boolean> {
  if ((await ssh.exec(`grep -qxF -- ${shellQuote(line)} ${shellQuote(file)}`, { sudo: true })).code === 0) return false;
  if (check) return true;
  // The key's base64 blob names it whatever options precede it.
  const blob = line.split(' ').find((word) => /^AAAA[A-Za-z0-9+/=]+$/.test(word));
  if (!blob) throw new Error(`not an authorized_keys line with a public key: ${line.slice(0, 60)}`);
  const [f, b, l] = [file, blob, line].map(shellQuote);
  // Rewritten through cat: the same file (inode, owner, mode) gets the new content.
  await ssh.check(
    `if [ ! -f ${f} ]; then ${create}; fi && tmp=$(mktemp) && { grep -vF -- ${b} ${f} || [ $? -eq 1 ]; } > "$tmp" && printf '%s\\n' ${l} >> "$tmp" && cat "$tmp" > ${f} && rm -f "$tmp"`,
    { sudo: true },
  );
  return true;
}

/**
 * `user` on `to` accepts `publicKey` from `from`'s addresses only. Returns the authorized keys
 * file when it changes (in check mode: would change), undefined when the key was there already.
 */
export async function authorizeKeyFrom(to: SshSession, user: string, publicKey: string | undefined, from: Host, check: boolean): Promise<string | undefined> {
  const home = (await to.check(`getent passwd ${shellQuote(user)} | cut -d: -f6`)).trim();
  if (!home) throw guardFailed(`${to.target.name}: the user ${user} does not exist`, `create it on ${to.target.name}`);
  const authorized = await authorizedKeysFile(to, user, home);
  const line = publicKey ? restrictedKeyLine(publicKey, await peerAddresses(to, from)) : undefined;
  const group = line && !check ? (await to.check(`id -gn ${shellQuote(user)}`)).trim() : '';
  // An existing file keeps its owner and mode (sshd's StrictModes checks them); a new one in the
  // user's home is the user's, elsewhere root's.
  const create = authorized.startsWith(`${home}/`)
    ? `install -d -m 700 -o ${shellQuote(user)} -g ${shellQuote(group)} "$(dirname ${shellQuote(authorized)})" && install -m 600 -o ${shellQuote(user)} -g ${shellQuote(group)} /dev/null ${shellQuote(authorized)}`
    : `install -d -m 755 "$(dirname ${shellQuote(authorized)})" && install -m 644 /dev/null ${shellQuote(authorized)}`;
  if (!line || (await authorizeKeyLine(to, authorized, line, create, check))) return authorized;
  return undefined;
}
