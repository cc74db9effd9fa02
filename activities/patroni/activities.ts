// Patroni: the config (etcd3), the unit, bootstrapping the leader, the guide's guard that
// Patroni stays inactive on the replica until DB configuration, and the replica streaming.
import { dbHosts, type Host, type Topology } from '../../topology';
import type { ClusterInput, HostInput, StepResult } from '../contract';
import { appLoginWorks } from '../shared/psql';
import { ensureRemoteFiles } from '../shared/remote-files';
import { resolveSecret, secretValue } from '../shared/secrets';
import { ensureUnit, reloadIfUnitsChanged, unitState } from '../shared/services';
import { targetFor, withHostSsh, type SshSession } from '../shared/ssh';
import { shellQuote } from '../shared/shell';
import { guardFailed, hostOf, onHost, type Probe, sleep, stepResult, waitFor } from '../shared/step';
import { patroniComponent } from './component';
import { memberIsReplica, memberRuns, patroniCluster, restGet, type PatroniMember } from './rest';

export async function configurePatroni(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const actions: string[] = [];
    const details: string[] = [];
    const dataDir = topology.postgresql.data_dir;
    const dirState = await ssh.exec(`stat -c '%U %a' ${shellQuote(dataDir)} 2>/dev/null`, { sudo: true });
    if (dirState.stdout.trim() !== 'postgres 700') {
      if (check) actions.push(`would create ${dataDir} (postgres, 700)`);
      else {
        await ssh.check(`install -d -o postgres -g postgres -m 700 ${shellQuote(dataDir)}`, { sudo: true });
        actions.push(`created ${dataDir} (postgres, 700)`);
      }
    }
    const written = await ensureRemoteFiles(ssh, patroniComponent.files(topology, host, secretValue), check);
    actions.push(...written.actions);
    details.push(...written.details);
    await reloadIfUnitsChanged(ssh, written, check);
    // A running Patroni re-reads its file on reload; one that is not running is left stopped
    // (the replica must stay inactive until DB configuration).
    const state = await unitState(ssh, 'patroni');
    if (written.changed && state.active === 'active') {
      actions.push(...(await ensureUnit(ssh, 'patroni', { running: true, enabled: state.enabled, refresh: 'reload' }, check)));
    }
    return stepResult(actions, `Patroni on ${host.name} is configured`, details);
  });
}

export async function startPatroni(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const actions = await ensureUnit(ssh, 'patroni', { running: true, enabled: true }, input.check);
    return stepResult(actions, `Patroni is enabled and running on ${host.name}`);
  });
}

export async function waitForLeader(input: HostInput): Promise<StepResult> {
  const { topology, check } = input;
  const host = hostOf(input);
  const probe = async (): Promise<Probe<string>> => {
    const response = await restGet(topology, host, '/primary');
    return response.status === 200 ? { done: `${host.name} is the leader` } : { notYet: `${host.name} answers ${response.status} on /primary` };
  };
  if (check) {
    const seen = await probe().catch((err: Error) => ({ notYet: err.message }));
    return stepResult([], 'done' in seen ? `${host.name} is the leader` : `${host.name} is not the leader yet (${seen.notYet}); the install starts it`);
  }
  await waitFor(`${host.name} to become the Patroni leader`, probe, {
    timeoutMs: 240_000,
    intervalMs: 1000,
    remedy: `look at \`journalctl -u patroni\` on ${host.name}; Patroni needs etcd (port ${topology.etcd.client_port}) and an empty or valid ${topology.postgresql.data_dir}`,
  });
  return stepResult([], `${host.name} is the leader and accepts writes`);
}

/** Is the host already a running replica of this cluster (the install ran before)? */
async function isEstablishedReplica(topology: Topology, host: Host): Promise<boolean> {
  try {
    const { members } = await patroniCluster(topology);
    const me = members.find((m) => m.name === host.name);
    return members.some((m) => m.role === 'leader' && m.name !== host.name) && memberIsReplica(me?.role) && memberRuns(me?.state);
  } catch {
    return false;
  }
}

/** The guide's DB configuration has run: the application's user logs in on the leader (always true without an application tier). */
async function databaseConfigured(topology: Topology): Promise<boolean> {
  const app = topology.app;
  if (!app) return true;
  const { members } = await patroniCluster(topology);
  const leader = dbHosts(topology).find((h) => h.name === members.find((m) => m.role === 'leader')?.name);
  if (!leader) return false;
  const password = resolveSecret(app.db_password, 'app.db_password');
  return withHostSsh(targetFor(topology, leader), (ssh) => appLoginWorks(ssh, topology, leader, app.db_user, app.db_name, password));
}

const STOP_REMEDY = (host: string) =>
  `stop Patroni on the slave ${host}: \`systemctl stop patroni\`, and find what starts it again (a setup script, a cron job, a supervisor); then \`haflow resume <cluster> --retry\``;

/** The guide's guard: Patroni on the replica is inactive before DB configuration; if active, stop it and verify. */
export async function replicaPatroniInactive(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const state = await unitState(ssh, 'patroni');
    if (state.active !== 'active' && state.active !== 'activating') return stepResult([], `Patroni is inactive on ${host.name}`);
    // On a re-run of a finished install the replica rightly runs: it joined after DB configuration.
    if ((await isEstablishedReplica(topology, host)) && (await databaseConfigured(topology))) {
      return stepResult([], `${host.name} already runs as a replica of the cluster (installed before)`);
    }
    if (check) return stepResult([`would stop Patroni on ${host.name}: it is active before DB configuration (split-brain risk)`], '');
    await ssh.exec('systemctl stop patroni', { sudo: true });
    // Something may start it again right away: look twice, a moment apart.
    const stillActive = async (s: SshSession) => ['active', 'activating'].includes((await unitState(s, 'patroni')).active);
    let active = await stillActive(ssh);
    if (!active) {
      await sleep(2000);
      active = await stillActive(ssh);
    }
    if (active) {
      throw guardFailed(`Patroni is active on the slave ${host.name} before DB configuration and could not be stopped: starting it early causes split-brain`, STOP_REMEDY(host.name));
    }
    return stepResult([`stopped Patroni on ${host.name}: it was active before DB configuration`], '');
  });
}

/** Lag of a member in bytes, or undefined when Patroni does not know it. */
function lagBytes(member: PatroniMember): number | undefined {
  return typeof member.lag === 'number' ? member.lag : undefined;
}

export async function replicaStreaming(input: HostInput): Promise<StepResult> {
  const { topology, check } = input;
  const host = hostOf(input);
  const maxLag = topology.patroni.maximum_lag_on_failover;
  const probe = async (): Promise<Probe<string>> => {
    const { members } = await patroniCluster(topology);
    const leader = members.find((m) => m.role === 'leader');
    const me = members.find((m) => m.name === host.name);
    if (!leader) return { notYet: 'the cluster has no leader' };
    if (!me) return { notYet: `${host.name} is not a member of the cluster yet` };
    if (!memberIsReplica(me.role) || !memberRuns(me.state)) return { notYet: `${host.name} is ${me.role}, ${me.state}` };
    const lag = lagBytes(me);
    if (lag === undefined || lag > maxLag) return { notYet: `${host.name} lag is ${me.lag}` };
    const leaderHost = dbHosts(topology).find((h) => h.name === leader.name);
    if (!leaderHost) return { notYet: `leader ${leader.name} is not a DB node of the topology` };
    const senders = await onHost({ ...input, host: leaderHost.name }, (ssh) =>
      ssh.check(
        `sudo -u postgres psql -X -At -h /var/run/postgresql -p ${topology.postgresql.port} -c "select application_name || ' ' || state from pg_stat_replication"`,
        { sudo: true },
      ),
    );
    if (!senders.split('\n').includes(`${host.name} streaming`)) {
      return { notYet: `${leader.name} has no streaming sender for ${host.name} (pg_stat_replication: ${senders.trim() || 'empty'})` };
    }
    return { done: `${host.name} streams from ${leader.name}, lag ${lag} bytes` };
  };
  if (check) {
    const seen = await probe().catch((err: Error) => ({ notYet: err.message }));
    return stepResult([], 'done' in seen ? seen.done : `not streaming yet (${seen.notYet}); the install starts it`);
  }
  const summary = await waitFor(`${host.name} to stream from the leader`, probe, {
    timeoutMs: 480_000,
    intervalMs: 1000,
    remedy: `look at \`journalctl -u patroni\` on ${host.name}; ports ${topology.postgresql.port} and ${topology.patroni.rest_api_port} must be open between DB nodes`,
  });
  return stepResult([], summary);
}

export async function patroniClusterHealthy(input: ClusterInput): Promise<StepResult> {
  const { topology } = input;
  const dbs = dbHosts(topology);
  const maxLag = topology.patroni.maximum_lag_on_failover;
  const probe = async (): Promise<Probe<string>> => {
    const { members, askedOf } = await patroniCluster(topology);
    const leaders = members.filter((m) => m.role === 'leader');
    const problems: string[] = [];
    if (leaders.length !== 1) problems.push(`${leaders.length} leaders (${leaders.map((l) => l.name).join(', ')})`);
    for (const db of dbs) {
      const m = members.find((x) => x.name === db.name);
      if (!m) problems.push(`${db.name} missing`);
      else if (m.role !== 'leader' && (!memberRuns(m.state) || (lagBytes(m) ?? Infinity) > maxLag)) problems.push(`${db.name} ${m.role} ${m.state} lag ${m.lag}`);
    }
    if (problems.length > 0) return { notYet: `${problems.join('; ')} (asked ${askedOf})` };
    const replicas = members.filter((m) => m.role !== 'leader');
    return { done: `one leader (${leaders[0].name}), ${replicas.length} replica(s) running: ${replicas.map((r) => `${r.name} lag ${r.lag}`).join(', ')}` };
  };
  if (input.check) {
    const seen = await probe().catch((err: Error) => ({ notYet: err.message }));
    return stepResult([], 'done' in seen ? seen.done : `not healthy yet (${seen.notYet})`);
  }
  return stepResult([], await waitFor('the Patroni cluster to have one leader and running replicas', probe, { timeoutMs: 90_000 }));
}
