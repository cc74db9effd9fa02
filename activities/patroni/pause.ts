// Patroni's maintenance mode (pause) and a restart of Patroni under it, for moving a running
// cluster from plain text to TLS. Paused, Patroni neither fails over nor demotes a leader that
// loses etcd, and a Patroni that stops leaves PostgreSQL running: so etcd and each Patroni can be
// restarted on TLS while PostgreSQL goes on taking writes. Every request here goes in the scheme
// the member speaks now (inSchemeNow), as the move changes it under the run.
import { dbHosts, type Host, type Topology } from '../../topology';
import type { ClusterInput, HostInput, StepResult } from '../contract';
import { ensureRemoteFiles } from '../shared/remote-files';
import { secretValue } from '../shared/secrets';
import { ensureUnit, reloadIfUnitsChanged } from '../shared/services';
import { guardFailed, hostOf, onHost, stepResult, waitFor } from '../shared/step';
import { patroniFiles } from './component';
import { inSchemeNow, restGet, restSend, type MemberStatus } from './rest';

/** What GET /patroni says of pause, in whichever scheme the member speaks. */
async function memberPaused(topology: Topology, host: Host): Promise<{ paused: boolean; status: MemberStatus; tls: boolean }> {
  return inSchemeNow(topology, async (asRunning) => {
    const response = await restGet(asRunning, host, '/patroni');
    if (response.status !== 200 && response.status !== 503) throw new Error(`${host.name}: GET /patroni answered HTTP ${response.status}`);
    const body = JSON.parse(response.body) as MemberStatus & { pause?: boolean };
    return { paused: body.pause === true, status: body, tls: asRunning.tls !== undefined };
  });
}

/** PATCH /config on the first member that takes it, in the scheme it speaks. */
async function patchConfig(topology: Topology, change: Record<string, unknown>): Promise<void> {
  const errors: string[] = [];
  for (const host of dbHosts(topology)) {
    try {
      const response = await inSchemeNow(topology, (asRunning) => restSend(asRunning, host, '/config', 'PATCH', change, 10_000));
      if (response.status === 200) return;
      errors.push(`${host.name}: HTTP ${response.status} ${response.body.slice(0, 200)}`);
    } catch (err) {
      errors.push(`${host.name}: ${(err as Error).message}`);
    }
  }
  throw new Error(`no member took PATCH /config ${JSON.stringify(change)} (${errors.join('; ')})`);
}

/** Every DB node reports pause as `paused` (each sees the change at its next loop). */
async function waitForPause(topology: Topology, paused: boolean): Promise<void> {
  const hosts = dbHosts(topology);
  await waitFor(
    `every member to report pause ${paused ? 'on' : 'off'}`,
    async () => {
      const states = await Promise.all(hosts.map((h) => memberPaused(topology, h).then((s) => s.paused)));
      const behind = hosts.filter((_, i) => states[i] !== paused).map((h) => h.name);
      return behind.length === 0 ? { done: true } : { notYet: `${behind.join(', ')} ${paused ? 'not paused yet' : 'still paused'}` };
    },
    { timeoutMs: (topology.patroni.loop_wait + 10) * 1000 * 3, intervalMs: 500, remedy: `look at \`journalctl -u patroni\` on the members; \`patronictl ${paused ? 'pause' : 'resume'}\` does the same by hand` },
  );
}

/** Maintenance mode on (the move's start) or off (its end), on every member; unchanged when it already is. */
async function setPause(input: ClusterInput, paused: boolean): Promise<StepResult> {
  const { topology, check } = input;
  const states = await Promise.all(dbHosts(topology).map((h) => memberPaused(topology, h)));
  if (states.every((s) => s.paused === paused)) {
    return stepResult([], paused ? 'Patroni is paused on every member: it leaves PostgreSQL as it is' : 'Patroni is not paused: it fails over as configured');
  }
  const request = `PATCH /config {"pause": ${paused ? 'true' : 'null'}}`;
  if (check) return stepResult([`would ${paused ? 'pause' : 'resume'} Patroni (${request})${paused ? ': no failover and no demotion until the move ends' : ''}`], '');
  await patchConfig(topology, { pause: paused ? true : null });
  await waitForPause(topology, paused);
  return stepResult([paused ? 'paused Patroni on every member: no failover and no demotion until the move ends' : 'resumed Patroni on every member: it fails over again'], '');
}

/** Maintenance mode on: Patroni leaves PostgreSQL as it is until resumePatroni. */
export const pausePatroni = (input: ClusterInput) => setPause(input, true);

/** Maintenance mode off: Patroni drives PostgreSQL again, failovers included. */
export const resumePatroni = (input: ClusterInput) => setPause(input, false);

/**
 * Patroni on one DB node restarted on the topology's TLS (etcd over HTTPS with the cluster's CA,
 * its REST API over HTTPS, PostgreSQL's ssl on by reload) while paused: PostgreSQL keeps running
 * and keeps its role. pg_hba keeps `host` lines, so clients that have not moved to TLS still log
 * in; the install's Patroni step after the move makes them `hostssl`. Restarted unless its REST
 * API already answers over HTTPS (a retry after a crash between the write and the restart restarts it).
 */
export async function restartPatroniPaused(input: HostInput): Promise<StepResult> {
  const { topology, check } = input;
  const host = hostOf(input);
  const before = await memberPaused(topology, host);
  // In check mode the pause before it was not made either.
  if (!before.paused && !check) {
    throw guardFailed(
      `${host.name}: Patroni is not paused; a restart now could demote the leader or fail over while etcd and the REST API change scheme`,
      `pause it first (the step tls.pause does; by hand: patronictl pause), then \`haflow resume ${topology.cluster} --retry\``,
    );
  }
  return onHost(input, async (ssh) => {
    const written = await ensureRemoteFiles(ssh, patroniFiles(topology, host, secretValue, { plainTextToo: true }), check);
    await reloadIfUnitsChanged(ssh, written, check);
    const actions = [...written.actions];
    if (before.tls && !written.changed) return stepResult(actions, `Patroni on ${host.name} speaks TLS (REST API over HTTPS, etcd over HTTPS)`, written.details);
    actions.push(...(await ensureUnit(ssh, 'patroni', { running: true, enabled: true, refresh: 'restart' }, check)));
    if (check) return stepResult(actions, '', written.details);
    const role = before.status.role;
    await waitFor(
      `Patroni on ${host.name} to answer over HTTPS as the ${role} it was, PostgreSQL running`,
      async () => {
        const now = await restGet(topology, host, '/patroni');
        const status = JSON.parse(now.body) as MemberStatus;
        return status.state === 'running' && status.role === role ? { done: true } : { notYet: `${host.name}: ${status.role ?? '?'} ${status.state ?? '?'}` };
      },
      { timeoutMs: 120_000, intervalMs: 500, remedy: `look at \`journalctl -u patroni\` on ${host.name}: Patroni must reach etcd over HTTPS with ${topology.tls?.dir}/ca.crt` },
    );
    const samePostmaster = before.status.postmaster_start_time === undefined || (await memberPaused(topology, host)).status.postmaster_start_time === before.status.postmaster_start_time;
    actions.push(`Patroni answers over HTTPS as the ${role}; PostgreSQL ${samePostmaster ? 'kept running (same postmaster)' : 'was restarted'}`);
    return stepResult(actions, '', written.details);
  });
}
