// File sync between the application nodes (the classic guide's "File Sync"): the directories
// of app.sync_dirs (attachments, patches, packages, logs) pushed from the master to the slave
// with rsync over SSH. haflow gives the master a key of its own for this (root's, on the
// master only) and lets the slave's common user accept it from the master's address only; the
// slave's host key comes from the worker's known_hosts, so the master never trusts a key on
// first sight. The first full sync is verified by checksums; the application monitor then syncs
// on a bounded interval (activities/app/watch.ts).
// Files are added and updated on the slave, never deleted there: an empty directory on a broken
// master must not empty the slave's.
import { ApplicationFailure } from '@temporalio/common';
import type { Host, Topology } from '../../topology/schema';
import { appMaster, hostByName, requireApp, sshTarget } from '../../topology/derive';
import type { HostInput, StepResult } from '../contract';
import { StepFailureTypes } from '../contract';
import { authorizeKeyFrom, workerKnownHostLines } from '../shared/host-keys';
import { targetFor, withHostSsh, type SshSession } from '../shared/ssh';
import { shellQuote } from '../shared/shell';
import { hostOf, stepResult } from '../shared/step';

const SYNC_DIR = '/etc/haflow/app-sync';
const SYNC_KEY = `${SYNC_DIR}/id_ed25519`;
const SYNC_KNOWN_HOSTS = `${SYNC_DIR}/known_hosts`;

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
  const hostKeys = workerKnownHostLines(topology, from, to, 'sends files to');
  const { port } = sshTarget(topology, to);
  await withHostSsh(targetFor(topology, from), async (master) =>
    withHostSsh(targetFor(topology, to), async (slave) => {
      const key = await masterKey(master, opts.check);
      if (key.created) outcome.actions.push(`${opts.check ? 'would create' : 'created'} ${from.name}'s file-sync key ${SYNC_KEY}`);
      // The slave's common user accepts the master's key from the master only, for this and nothing else a key can do by itself (no forwarding, no terminal).
      const authorized = await authorizeKeyFrom(slave, app.user, key.publicKey, from, opts.check);
      if (authorized) {
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
