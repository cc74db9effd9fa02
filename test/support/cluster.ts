// The cluster as the tests see it, asked directly and not through haflow: Patroni's REST API on
// every DB node, HAProxy's stats CSV, and the probe's rows on the leader.
import { Client } from 'pg';
import { postgresTls } from '../../activities/postgres/superuser';
import { statsRequestHeaders } from '../../activities/haproxy/stats';
import type { Lab } from '../../lab';
import { restJson } from './rest';

export interface DirectView {
  leader?: string;
  /** Replicas the leader has a streaming WAL sender for. */
  streaming: string[];
  /** Servers of HAProxy's postgres proxy that are UP. */
  routesTo: string[];
  /** Each member's state as Patroni reports it (`running`, `streaming`, `starting`, ...). */
  states: Record<string, string>;
  /** Each member's timeline and lag in bytes, as Patroni reports them (lag: replicas only; 'unknown' when Patroni cannot tell). */
  timelines: Record<string, number | undefined>;
  lags: Record<string, number | string | undefined>;
}

export async function directView(lab: Lab): Promise<DirectView> {
  const dbs = lab.topology.hosts.filter((h) => h.roles.includes('db'));
  let leader: string | undefined;
  let states: Record<string, string> = {};
  let timelines: Record<string, number | undefined> = {};
  let lags: Record<string, number | string | undefined> = {};
  for (const db of dbs) {
    try {
      const { members } = (await restJson(lab.topology, db.address, '/cluster')) as { members: { name: string; role: string; state: string; timeline?: number; lag?: number | string }[] };
      leader = members.find((m) => m.role === 'leader')?.name;
      states = Object.fromEntries(members.map((m) => [m.name, m.state]));
      timelines = Object.fromEntries(members.map((m) => [m.name, m.timeline]));
      lags = Object.fromEntries(members.map((m) => [m.name, m.lag]));
      break;
    } catch {
      // next
    }
  }
  let streaming: string[] = [];
  const leaderHost = dbs.find((h) => h.name === leader);
  if (leaderHost) {
    const status = (await restJson(lab.topology, leaderHost.address, '/patroni').catch(() => ({}))) as { replication?: { application_name: string; state: string }[] };
    streaming = (status.replication ?? []).filter((r) => r.state === 'streaming').map((r) => r.application_name).sort();
  }
  const proxy = lab.topology.hosts.find((h) => h.roles.includes('haproxy'))!;
  const csv = await fetch(`http://${proxy.address}:${lab.topology.haproxy.stats_port}/;csv`, { headers: statsRequestHeaders(lab.topology), signal: AbortSignal.timeout(2000) }).then((r) => r.text(), () => '');
  const routesTo = csv
    .split('\n')
    .map((l) => l.split(','))
    .filter((f) => f[0] === 'postgres' && f[1] !== 'FRONTEND' && f[1] !== 'BACKEND' && f[17]?.startsWith('UP'))
    .map((f) => f[1]);
  return { leader, streaming, routesTo, states, timelines, lags };
}

/**
 * Waits (bounded) until one leader, every other DB node streaming from it (by the leader's WAL
 * senders, and by its own Patroni, whose state lags PostgreSQL's) on the leader's timeline with
 * its lag under maximum_lag_on_failover (what a drill's gate asks), HAProxy on exactly the leader.
 */
export async function waitHealthy(lab: Lab, timeoutMs = 120_000): Promise<DirectView> {
  const dbs = lab.topology.hosts.filter((h) => h.roles.includes('db')).map((h) => h.name);
  const deadline = Date.now() + timeoutMs;
  let view: DirectView | undefined;
  while (Date.now() < deadline) {
    view = await directView(lab);
    const replicas = dbs.filter((n) => n !== view!.leader).sort();
    const maxLag = lab.topology.patroni.maximum_lag_on_failover;
    const replicasSettled = replicas.every((n) => {
      const lag = view!.lags[n];
      return (view!.states[n] === 'running' || view!.states[n] === 'streaming') && view!.timelines[n] === view!.timelines[view!.leader!] && typeof lag === 'number' && lag <= maxLag;
    });
    if (view.leader && JSON.stringify(view.streaming) === JSON.stringify(replicas) && replicasSettled && view.routesTo.length === 1 && view.routesTo[0] === view.leader) return view;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`the cluster did not become healthy within ${timeoutMs / 1000} s: ${JSON.stringify(view)}`);
}

/** The probe's sequence numbers of a drill, read on the leader itself (not through HAProxy). */
export async function probeRowsOn(lab: Lab, leader: string, drill: string): Promise<Set<number>> {
  const host = lab.host(leader);
  const client = new Client({ host: host.address, port: 5432, user: 'postgres', password: process.env.HAFLOW_PG_SUPERUSER_PASSWORD, database: 'haflow_probe', ssl: postgresTls(lab.topology, { host: host.address, port: 5432 }) });
  await client.connect();
  try {
    const rows = await client.query<{ seq: string }>('SELECT seq FROM probe_writes WHERE drill = $1', [drill]);
    return new Set(rows.rows.map((r) => Number(r.seq)));
  } finally {
    await client.end();
  }
}
