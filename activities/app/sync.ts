// File sync between the application nodes (the classic guide's "File Sync"): the directories
// of app.sync_dirs (attachments, patches, packages, logs) pushed from the master to the slave
// with rsync over SSH. haflow gives the master a key of its own for this (root's, on the
// master only) and lets the slave's common user accept it from the master's address only; the
// slave's host key comes from the worker's known_hosts, so the master never trusts a key on
// first sight. The first full sync is verified by checksums; the application monitor then syncs
// on a bounded interval (activities/app/watch.ts).
// Files are added and updated on the slave, never deleted there: an empty directory on a broken
// master must not empty the slave's.
import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import type { Host, Topology } from '../../topology/schema';
import { appMaster, hostByName, requireApp, sshTarget } from '../../topology/derive';
import type { HostInput, StepResult } from '../contract';
import { StepFailureTypes } from '../contract';
import { entryMatches, knownHostsName, parseKnownHosts } from '../shared/known-hosts';
import { expandHome } from '../shared/secrets';
import { targetFor, withHostSsh, type SshSession } from '../shared/ssh';
import { shellQuote } from '../shared/shell';
import { guardFailed, hostOf, stepResult } from '../shared/step';

const SYNC_DIR = '/etc/haflow/app-sync';
const SYNC_KEY = `${SYNC_DIR}/id_ed25519`;
const SYNC_KNOWN_HOSTS = `${SYNC_DIR}/known_hosts`;

/** The worker's known_hosts lines for `to`, as the master must know them (names written plainly). */
export function knownHostLinesFor(knownHostsText: string, address: string, port: number): string[] {
  const name = knownHostsName(address, port);
  return parseKnownHosts(knownHostsText)
    .filter((e) => !e.marker && entryMatches(e, name))
    .map((e) => `${name} ${e.keyType} ${e.key}`);
}

/**
 * The rsync command the master runs for one directory: as root, to the slave's common user, whose
 * sudo runs rsync there. It connects from the master's own address, the one the slave accepts
 * the key from (a machine with several addresses would otherwise pick one by its routes).
 */
export function rsyncCommand(topology: Topology, from: Host, to: Host, dir: string, opts: { dryRun?: boolean } = {}): string {
  const app = requireApp(topology);
  const { port } = sshTarget(topology, to);
  const ssh = `ssh -i ${SYNC_KEY} -p ${port} -o BindAddress=${from.address} -o UserKnownHostsFile=${SYNC_KNOWN_HOSTS} -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=10`;
  const path = shellQuote(`${dir}/`);
  return [
    'rsync -a --stats',
    opts.dryRun ? '--dry-run' : '',
    `-e ${shellQuote(ssh)}`,
    // A dry run (check mode) creates nothing on the slave either.
    `--rsync-path=${shellQuote(opts.dryRun ? 'sudo rsync' : `sudo mkdir -p ${shellQuote(dir)} && sudo rsync`)}`,
    path,
    shellQuote(`${app.user}@${to.address}:${dir}/`),
  ]
    .filter(Boolean)
    .join(' ');
}

/** A directory's files and their SHA-256, one `hash  ./path` line each, sorted: the same listing on both sides means the same files. */
const checksumsCommand = (dir: string) => `cd ${shellQuote(dir)} && find . -type f -print0 | sort -z | xargs -0 -r sha256sum`;

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
 * The slave's authorized_keys line for the master's sync key: accepted only from the master's
 * addresses (from=), and for nothing a key can do by itself (restrict: no forwarding, no terminal).
 */
export function syncKeyLine(publicKey: string, fromAddresses: string[]): string {
  return `from="${fromAddresses.join(',')}",restrict ${publicKey}`;
}

/** The addresses the slave sees the master connect from: its IPv4 address, or what its DNS name resolves to there (sshd matches from= against addresses). */
async function masterAddresses(slave: SshSession, master: Host): Promise<string[]> {
  if (/^[0-9.]+$/.test(master.address)) return [master.address];
  const resolved = await slave.exec(`getent ahostsv4 ${shellQuote(master.address)} | awk '{print $1}' | sort -u`);
  const addresses = resolved.stdout.split('\n').filter((a) => /^[0-9.]+$/.test(a));
  if (addresses.length === 0) {
    throw guardFailed(`${slave.target.name} cannot resolve the master's address ${master.address}, so it could not tell the master's connections from others'`, `make ${master.address} resolve on ${slave.target.name} (DNS or /etc/hosts), or write the master's IPv4 address in its hosts entry`);
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

/** The master's key for the sync, created once; returns its public half. */
async function masterKey(master: SshSession, check: boolean): Promise<{ publicKey?: string; created: boolean }> {
  const existing = await master.exec(`cat ${SYNC_KEY}.pub`, { sudo: true });
  if (existing.code === 0) return { publicKey: existing.stdout.trim(), created: false };
  if (check) return { created: true };
  const out = await master.check(`install -d -m 700 ${SYNC_DIR} && ssh-keygen -q -t ed25519 -N '' -C haflow-app-sync@${shellQuote(master.target.name)} -f ${SYNC_KEY} && cat ${SYNC_KEY}.pub`, { sudo: true });
  return { publicKey: out.trim(), created: true };
}

export interface SyncOutcome {
  actions: string[];
  /** Per directory: files and bytes rsync sent. */
  transferred: string[];
  /** Per directory, on a verified sync: how many files the checksums agree on. */
  verified: string[];
}

/** Sets up the trust (idempotent) and pushes every sync directory from `from` to `to`; with `verify`, compares checksums after. */
export async function syncFiles(topology: Topology, from: Host, to: Host, opts: { check: boolean; verify: boolean }): Promise<SyncOutcome> {
  const app = requireApp(topology);
  const outcome: SyncOutcome = { actions: [], transferred: [], verified: [] };
  const knownHosts = readFileSync(expandHome(topology.ssh.known_hosts), 'utf8');
  const { port } = sshTarget(topology, to);
  const hostKeys = knownHostLinesFor(knownHosts, to.address, port);
  if (hostKeys.length === 0) {
    throw guardFailed(
      `the worker's ${topology.ssh.known_hosts} has no host key for ${to.name} (${knownHostsName(to.address, port)}), so ${from.name} could not check whom it sends files to`,
      `add it after checking its fingerprint: ssh-keyscan -p ${port} ${to.address} >> ${topology.ssh.known_hosts}`,
    );
  }
  await withHostSsh(targetFor(topology, from), async (master) =>
    withHostSsh(targetFor(topology, to), async (slave) => {
      const key = await masterKey(master, opts.check);
      if (key.created) outcome.actions.push(`${opts.check ? 'would create' : 'created'} ${from.name}'s file-sync key ${SYNC_KEY}`);
      // The slave's common user accepts the master's key from the master only, for this and nothing else a key can do by itself (no forwarding, no terminal).
      const home = (await slave.check(`getent passwd ${shellQuote(app.user)} | cut -d: -f6`)).trim();
      if (!home) throw guardFailed(`${to.name}: the common user ${app.user} (app.user) does not exist`, `create it on ${to.name}, with sudo rights`);
      const authorized = await authorizedKeysFile(slave, app.user, home);
      const line = key.publicKey ? syncKeyLine(key.publicKey, await masterAddresses(slave, from)) : undefined;
      const group = line && !opts.check ? (await slave.check(`id -gn ${shellQuote(app.user)}`)).trim() : '';
      // An existing file keeps its owner and mode (sshd's StrictModes checks them); a new one in the
      // user's home is the user's, elsewhere root's.
      const create = authorized.startsWith(`${home}/`)
        ? `install -d -m 700 -o ${shellQuote(app.user)} -g ${shellQuote(group)} "$(dirname ${shellQuote(authorized)})" && install -m 600 -o ${shellQuote(app.user)} -g ${shellQuote(group)} /dev/null ${shellQuote(authorized)}`
        : `install -d -m 755 "$(dirname ${shellQuote(authorized)})" && install -m 644 /dev/null ${shellQuote(authorized)}`;
      if (!line || (await authorizeKeyLine(slave, authorized, line, create, opts.check))) {
        outcome.actions.push(`${opts.check ? 'would authorize' : 'authorized'} ${from.name}'s file-sync key for ${app.user} on ${to.name}, from ${from.address} only (${authorized})`);
      }
      const knownNow = await master.exec(`cat ${SYNC_KNOWN_HOSTS}`, { sudo: true });
      const wanted = `${hostKeys.join('\n')}\n`;
      if (knownNow.stdout !== wanted) {
        outcome.actions.push(`${opts.check ? 'would write' : 'wrote'} ${to.name}'s host key to ${from.name}:${SYNC_KNOWN_HOSTS}`);
        if (!opts.check) await master.check(`install -d -m 700 ${SYNC_DIR} && umask 077 && cat > ${SYNC_KNOWN_HOSTS}`, { sudo: true, stdin: wanted });
      }
      for (const dir of app.sync_dirs) {
        if (opts.check && key.created) {
          outcome.transferred.push(`${dir}: would sync once the key exists`);
          continue;
        }
        if (opts.check) {
          // Check mode changes nothing, not even a missing directory: it says it would create it.
          if ((await master.exec(`test -d ${shellQuote(dir)}`, { sudo: true })).code !== 0) {
            outcome.transferred.push(`${dir}: would create it on ${from.name} (empty), nothing to send yet`);
            continue;
          }
        } else {
          await master.check(`mkdir -p ${shellQuote(dir)}`, { sudo: true });
        }
        const run = await master.exec(rsyncCommand(topology, from, to, dir, { dryRun: opts.check }), { sudo: true, timeoutMs: 30 * 60_000 });
        if (run.code !== 0) {
          throw ApplicationFailure.create({
            type: StepFailureTypes.commandFailed,
            message: `${from.name}: rsync of ${dir} to ${to.name} failed (exit ${run.code}): ${run.stderr.trim().slice(-600)}`,
            details: [{ remedy: `check that ${from.name} reaches ${to.name} on SSH port ${port} and that ${app.user} may sudo rsync on ${to.name}, then retry` }],
          });
        }
        const files = run.stdout.match(/Number of regular files transferred: ([\d,]+)/)?.[1] ?? '?';
        const bytes = run.stdout.match(/Total transferred file size: ([\d,]+)/)?.[1] ?? '?';
        outcome.transferred.push(`${dir}: ${files} file(s), ${bytes} bytes ${opts.check ? 'would be sent' : 'sent'}`);
        if (opts.verify && !opts.check) {
          const [there, here] = await Promise.all([master.check(checksumsCommand(dir), { sudo: true }), slave.check(checksumsCommand(dir), { sudo: true })]);
          const slaveFiles = new Set(here.split('\n').filter(Boolean));
          const missing = there.split('\n').filter((l) => l && !slaveFiles.has(l));
          if (missing.length > 0) {
            throw ApplicationFailure.create({
              type: StepFailureTypes.commandFailed,
              message: `${dir}: after the sync, ${missing.length} file(s) of ${from.name} differ on ${to.name} or are missing there: ${missing.slice(0, 5).map((l) => l.replace(/^\S+\s+/, '')).join(', ')}`,
            });
          }
          outcome.verified.push(`${dir}: ${there.split('\n').filter(Boolean).length} file(s) with the same SHA-256 on both`);
        }
      }
    }),
  );
  return outcome;
}

/** The install's first full sync, from the application master to this slave, verified by checksums. */
export async function syncAppFiles(input: HostInput & { from?: string }): Promise<StepResult> {
  const { topology } = input;
  const to = hostOf(input);
  const from = input.from ? hostByName(topology, input.from) : appMaster(topology)!;
  const app = requireApp(topology);
  if (app.sync_dirs.length === 0) return stepResult([], 'no directories to sync (app.sync_dirs is empty)');
  const outcome = await syncFiles(topology, from, to, { check: input.check, verify: true });
  const summary = [...outcome.transferred, ...outcome.verified].join('; ');
  return outcome.actions.length > 0 ? stepResult([...outcome.actions, summary], '') : { changed: !input.check && outcome.transferred.some((t) => !/: 0 file/.test(t)), summary: `synced ${from.name} → ${to.name}: ${summary}` };
}
