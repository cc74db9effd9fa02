// The classic layout's database failover, without Patroni: the old master fenced (stopped, and
// made unable to start as a primary again), the slave promoted. A fenced node carries three
// things: standby.signal in its data directory (any start, by hand or at boot, comes up read-only
// in recovery, streaming from nobody), start.conf set to manual (the boot does not start it), and
// a marker file saying why and what brings it back: `haflow app switchback`, which rebuilds it as
// a standby of the new master first (streaming.ts, configureStreamingStandby).
import { ApplicationFailure } from '@temporalio/common';
import type { Host, Topology } from '../../topology';
import { classicCluster, hostByName } from '../../topology/derive';
import { StepFailureTypes, type HostInput, type StepResult } from '../contract';
import { psql } from '../shared/psql';
import { targetFor, withHostSsh, type SshSession } from '../shared/ssh';
import { shellQuote } from '../shared/shell';
import { guardFailed, hostOf, onHost, stepResult, waitFor, type Probe } from '../shared/step';
import { ensureRemoteFile } from '../shared/remote-files';
import { classicPostgresFiles } from './streaming-config';

/** A failover does not wait long for a machine that is gone: a few seconds to connect. */
const FENCE_CONNECT_MS = 3_000;

/** The marker in the cluster's configuration directory that says the node is fenced. */
export function fenceMarkerPath(topology: Topology): string {
  return `${classicCluster(topology).confDir}/haflow-fenced`;
}

/** Whether the node carries the fence marker: a failover moved the database away from it. */
export async function isFenced(ssh: SshSession, topology: Topology): Promise<boolean> {
  return (await ssh.exec(`[ -f ${shellQuote(fenceMarkerPath(topology))} ]`, { sudo: true })).code === 0;
}

export type ClusterState = 'primary' | 'standby' | 'stopped';

/** Whether Debian's cluster runs, and as what. */
export async function classicClusterState(ssh: SshSession, topology: Topology): Promise<ClusterState> {
  const { version, name } = classicCluster(topology);
  const status = (await ssh.exec(`pg_lsclusters -h | awk '$1 == ${version} && $2 == "${name}" {print $4}'`, { sudo: true })).stdout.trim();
  if (!status.startsWith('online')) return 'stopped';
  return (await psql(ssh, topology, 'SELECT pg_is_in_recovery()')).trim() === 't' ? 'standby' : 'primary';
}

/** The fence marker's text: why, when, and the way back. */
export function fenceMarkerText(topology: Topology, host: Host, to: string, at: Date): string {
  return [
    `${host.name} was fenced by haflow at ${at.toISOString()}: the database of cluster ${topology.cluster} failed over to ${to}.`,
    'It must not run as a primary again: it may hold writes the new master never had.',
    'standby.signal keeps any start of it read-only, and start.conf keeps the boot from starting it.',
    `\`haflow app switchback ${topology.cluster}\` rebuilds it as a standby of ${to} (its data archived first), then makes it master again.`,
    '',
  ].join('\n');
}

/**
 * The old master's database fenced: stopped, standby.signal written (and primary_conninfo
 * removed, so it streams from nobody), start.conf manual, the marker written. A failover's fence
 * (not planned) of a machine that does not answer is recorded as not fenced; the application monitor fences
 * it as soon as it answers again.
 */
export async function fenceClassicDatabase(input: HostInput & { to: string; planned?: boolean }): Promise<StepResult> {
  const { topology, check } = input;
  const host = hostOf(input);
  const target = targetFor(topology, host);
  const connectTimeoutMs = input.planned ? target.connectTimeoutMs : Math.min(target.connectTimeoutMs, FENCE_CONNECT_MS);
  try {
    return await withHostSsh({ ...target, connectTimeoutMs }, async (ssh) => {
      const { version, name, confDir, dataDir } = classicCluster(topology);
      const marker = fenceMarkerPath(topology);
      const state = await classicClusterState(ssh, topology);
      const has = async (test: string) => (await ssh.exec(test, { sudo: true })).code === 0;
      const signal = `${dataDir}/standby.signal`;
      const auto = `${dataDir}/postgresql.auto.conf`;
      const needs = {
        stop: state !== 'stopped',
        signal: !(await has(`[ -f ${shellQuote(signal)} ]`)),
        conninfo: await has(`grep -q '^primary_conninfo' ${shellQuote(auto)}`),
        manual: !(await has(`grep -qx 'manual' ${shellQuote(`${confDir}/start.conf`)}`)),
        marker: !(await isFenced(ssh, topology)),
      };
      const actions: string[] = [];
      const say = (done: string, would: string) => actions.push(check ? `would ${would}` : done);
      // standby.signal first: should anything start the cluster while it is being fenced, it comes up read-only.
      if (needs.signal) {
        if (!check) await ssh.check(`install -m 600 -o postgres -g postgres /dev/null ${shellQuote(signal)}`, { sudo: true });
        say(`wrote ${signal}: any start of it is read-only`, `write ${signal}`);
      }
      if (needs.conninfo) {
        if (!check) await ssh.check(`sed -i '/^primary_conninfo/d' ${shellQuote(auto)}`, { sudo: true });
        say(`removed primary_conninfo from ${auto}: it streams from nobody`, `remove primary_conninfo from ${auto}`);
      }
      if (needs.stop) {
        // Fast: sessions are ended, and the WAL written so far goes to a connected standby first.
        if (!check) await ssh.check(`pg_ctlcluster ${version} ${name} stop -m fast`, { sudo: true, timeoutMs: 120_000 });
        say(`stopped PostgreSQL ${version}/${name} (it ran as ${state})`, `stop PostgreSQL ${version}/${name} (it runs as ${state})`);
      }
      if (needs.manual) {
        if (!check) await ssh.check(`printf 'manual\\n' > ${shellQuote(`${confDir}/start.conf`)}`, { sudo: true });
        say(`set ${confDir}/start.conf to manual: the boot does not start it`, `set ${confDir}/start.conf to manual`);
      }
      if (needs.marker) {
        if (!check) await ssh.check(`cat > ${shellQuote(marker)}`, { sudo: true, stdin: fenceMarkerText(topology, host, input.to, new Date()) });
        say(`wrote the fence marker ${marker}`, `write the fence marker ${marker}`);
      }
      return stepResult(actions, `PostgreSQL ${version}/${name} on ${host.name} is fenced: stopped, read-only if started (${marker})`, [], { fenced: true });
    });
  } catch (err) {
    if (input.planned || !(err instanceof ApplicationFailure) || err.type !== StepFailureTypes.hostUnreachable) throw err;
    return stepResult([`could not fence the database on ${input.host}: it does not answer SSH (${err.message}); HAProxy keeps users off it, and the application monitor fences it when it answers again`], '', [], { fenced: false });
  }
}

/**
 * The host a standby's data directory streams from: primary_conninfo's host in
 * postgresql.auto.conf. The last setting counts: a base backup copies its source's file, which
 * may name an earlier primary, and appends its own.
 */
export async function primaryConninfoHost(ssh: SshSession, dataDir: string): Promise<string | undefined> {
  const out = await ssh.exec(`sed -n "s/^primary_conninfo = .* host=\\([^ ']*\\).*/\\1/p" ${shellQuote(`${dataDir}/postgresql.auto.conf`)}`, { sudo: true });
  return out.stdout.trim().split('\n').at(-1) || undefined;
}

/** `Latest checkpoint location` of a cleanly shut down cluster (pg_controldata), or undefined if it did not shut down cleanly. */
export function shutdownCheckpoint(controldata: string): string | undefined {
  const state = /^Database cluster state:\s*(.+)$/m.exec(controldata)?.[1]?.trim();
  const location = /^Latest checkpoint location:\s*(\S+)$/m.exec(controldata)?.[1];
  return state === 'shut down' && location ? location : undefined;
}

/**
 * The slave's database promoted to primary. A fenced node is refused (it may hold writes the
 * master never had); so is a standby of another node than the master it takes over from. Planned
 * (a switchback), the old master was shut down cleanly first: the slave is promoted only once it
 * has replayed the old master's shutdown checkpoint, so no write is lost.
 */
export async function promoteClassicStandby(input: HostInput & { from: string; planned?: boolean }): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const { version, name, confDir, dataDir } = classicCluster(topology);
    const from = hostByName(topology, input.from);
    const marker = fenceMarkerPath(topology);
    if (await isFenced(ssh, topology)) {
      throw guardFailed(
        `${host.name} is fenced (${marker}): it was a master that failed over, and may hold writes ${from.name} never had`,
        `rebuild it as a standby of ${from.name} first: \`haflow app switchback ${topology.cluster}\` does that before it promotes it`,
      );
    }
    const actions: string[] = [];
    let state = await classicClusterState(ssh, topology);
    if (state === 'primary') return stepResult([], `${host.name}'s PostgreSQL ${version}/${name} is the primary`);
    const conninfo = await primaryConninfoHost(ssh, dataDir);
    if (conninfo !== from.address) {
      throw guardFailed(
        `${host.name}'s PostgreSQL is ${conninfo ? `a standby of ${conninfo}` : 'not a standby'}, not of the master ${from.name} (${from.address})`,
        `make ${host.name} a standby of ${from.name} first (\`haflow install\` with app.master: ${from.name}), or fail over from the node it follows`,
      );
    }
    if (check) return stepResult([`would ${state === 'stopped' ? 'start and ' : ''}promote PostgreSQL ${version}/${name} on ${host.name}`], '');
    if (state === 'stopped') {
      await ssh.check(`pg_ctlcluster ${version} ${name} start`, { sudo: true, timeoutMs: 120_000 });
      actions.push(`started PostgreSQL ${version}/${name} (a standby of ${from.name})`);
      state = 'standby';
    }
    let replayed = '';
    if (input.planned) {
      // The old master's shutdown checkpoint is its last WAL record: replayed, nothing is lost.
      const controldata = await withHostSsh(targetFor(topology, from), (fromSsh) =>
        fromSsh.check(`LC_ALL=C /usr/lib/postgresql/${version}/bin/pg_controldata ${shellQuote(dataDir)}`, { sudo: true }),
      );
      const checkpoint = shutdownCheckpoint(controldata);
      if (!checkpoint) {
        throw guardFailed(`${from.name}'s PostgreSQL did not shut down cleanly: the writes it had cannot be known to be on ${host.name}`, `start ${from.name}'s PostgreSQL, let ${host.name} catch up, and run the switchback again`);
      }
      replayed = await waitFor<string>(
        `${host.name} to replay ${from.name}'s shutdown checkpoint ${checkpoint}`,
        async () => {
          const out = (await psql(ssh, topology, `SELECT pg_last_wal_replay_lsn() >= '${checkpoint}'::pg_lsn, pg_last_wal_replay_lsn()`)).trim();
          const [done, lsn] = out.split('|');
          return done === 't' ? { done: String(lsn) } : { notYet: `replayed up to ${lsn}` };
        },
        { timeoutMs: 120_000, remedy: `look at PostgreSQL's log on ${host.name}: it must stream from ${from.name}` },
      );
      actions.push(`${host.name} replayed ${from.name}'s shutdown checkpoint ${checkpoint} (at ${replayed}): no write is lost`);
    } else {
      replayed = (await psql(ssh, topology, "SELECT pg_last_wal_replay_lsn() || ' (last transaction replayed ' || coalesce(pg_last_xact_replay_timestamp()::text, 'never') || ')'")).trim();
    }
    await ssh.check(`pg_ctlcluster ${version} ${name} promote`, { sudo: true, timeoutMs: 120_000 });
    await waitFor(`${host.name} to leave recovery`, async () => ((await classicClusterState(ssh, topology)) === 'primary' ? { done: true } : { notYet: 'still in recovery' }), { timeoutMs: 60_000 });
    // A primary starts at boot.
    await ensureRemoteFile(ssh, classicPostgresFiles(topology, host).find((f) => f.path === `${confDir}/start.conf`)!, false);
    actions.push(`promoted PostgreSQL ${version}/${name} on ${host.name} to primary, with WAL replayed up to ${replayed}`);
    return stepResult(actions, '');
  });
}

/**
 * A drill's recovery on the classic layout: `host` (the slave) runs its database as the primary,
 * waited for up to `waitSeconds` (the application monitor promotes it). The time it was seen is a fact.
 */
export async function classicPromoted(input: HostInput & { waitSeconds: number }): Promise<StepResult> {
  const { topology } = input;
  const host = hostOf(input);
  const probe = async (): Promise<Probe<string>> => {
    const state = await withHostSsh(targetFor(topology, host), (ssh) => classicClusterState(ssh, topology));
    return state === 'primary' ? { done: `${host.name}'s PostgreSQL runs as the primary` } : { notYet: `${host.name}'s PostgreSQL is ${state}` };
  };
  if (input.check) {
    const seen = await probe().catch((err: Error) => ({ notYet: err.message }));
    return stepResult([], 'done' in seen ? seen.done : `not yet: ${seen.notYet}`);
  }
  const summary = await waitFor(`${host.name}'s database to be promoted`, probe, {
    timeoutMs: input.waitSeconds * 1000,
    intervalMs: 500,
    remedy: `look at the application monitor's events (\`haflow monitor status ${topology.cluster}\`): it promotes the slave's database after the master application failed its checks`,
  });
  return stepResult([], summary, [], { promotedSeenAt: Date.now() });
}

/**
 * A drill's end on the classic layout: the old master, powered on again, carries the fence marker
 * and does not run its database as a primary (the application monitor fences it as soon as it answers).
 */
export async function classicFenced(input: HostInput & { waitSeconds: number }): Promise<StepResult> {
  const { topology } = input;
  const host = hostOf(input);
  const probe = async (): Promise<Probe<string>> =>
    withHostSsh(targetFor(topology, host), async (ssh) => {
      const state = await classicClusterState(ssh, topology);
      if (!(await isFenced(ssh, topology))) return { notYet: `${host.name} has no fence marker yet (its database is ${state})` };
      return state === 'primary' ? { notYet: `${host.name} is marked fenced, but its database runs as a primary` } : { done: `${host.name} is fenced: its database is ${state}, ${fenceMarkerPath(topology)} says why` };
    });
  if (input.check) {
    const seen = await probe().catch((err: Error) => ({ notYet: err.message }));
    return stepResult([], 'done' in seen ? seen.done : `not yet: ${seen.notYet}`);
  }
  const summary = await waitFor(`${host.name} to be fenced`, probe, {
    timeoutMs: input.waitSeconds * 1000,
    intervalMs: 1000,
    remedy: `the application monitor fences it once its web server or database answers (\`haflow monitor status ${topology.cluster}\`); until then it must not serve: keep it off the network`,
  });
  return stepResult([], summary);
}
