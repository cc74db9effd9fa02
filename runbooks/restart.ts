// `haflow restart` as data: PostgreSQL restarted on every member, one at a time, replicas first
// (each streams again with its lag under the limit before the next), then the leader by a
// coordinated switchover, whose demotion restarts it. The write probe runs throughout
// (workflows/restart.ts), so the result states every write pause the operation caused. Pure.
import { dbHosts, haproxyHosts } from '../topology/derive';
import type { Topology } from '../topology/schema';
import { stepOf, type Runbook, type Step } from './runbook';

export interface RestartArgs {
  /** The leader when the restart was planned: restarted last, after a switchover. */
  leader: string;
  /** The replica the leader is switched over to. */
  candidate: string;
  /** Each member's postmaster_start_time when planned (Patroni's /patroni): a restart already done is not done again. */
  plannedStarts: Record<string, string>;
}

/** The step before which the write probe starts, and the one after which it may stop. */
export const RESTART_PROBE_FROM = 'postgres.probe-database';
export const RESTART_PROBE_UNTIL = 'restart.healthy-after';

export function restartSteps(topology: Topology, args: RestartArgs): Runbook {
  const hb = { heartbeatSeconds: 10 };
  const replicas = dbHosts(topology)
    .map((h) => h.name)
    .filter((name) => name !== args.leader)
    // The candidate last, so it has streamed longest when the leader's turn comes.
    .sort((a, b) => Number(a === args.candidate) - Number(b === args.candidate));
  const restartOf = (host: string, how: string): Step[] => [
    stepOf('restartPostgres', { ...hb, id: `postgres.restart@${host}`, title: `PostgreSQL on ${host} ${how}`, kind: 'change', host, attempts: 3, timeoutSeconds: 180 }, { host, plannedStart: args.plannedStarts[host], waitSeconds: 150 }),
    stepOf('replicaStreaming', { ...hb, id: `patroni.streaming@${host}`, title: `${host} streams from the leader again, its lag under maximum_lag_on_failover`, kind: 'verify', host, timeoutSeconds: 210 }, { host }),
  ];
  const items: Step[] = [
    stepOf('clusterHealthy', { ...hb, id: 'restart.gate', title: `Gate: one leader (${args.leader}), every replica streaming with lag under the limit, HAProxy on the leader`, kind: 'guard', guard: 'a rolling restart starts only on a healthy cluster, with the leader it was planned for', timeoutSeconds: 60 }, { leader: args.leader }),
    stepOf('ensureProbeDatabase', { ...hb, id: `${RESTART_PROBE_FROM}@${args.leader}`, title: `The write probe's own database (haflow_probe) on ${args.leader}`, kind: 'change', host: args.leader, timeoutSeconds: 120 }, { host: args.leader }),
    ...replicas.flatMap((host) => restartOf(host, 'restarted through Patroni (POST /restart)')),
    stepOf(
      'coordinatedSwitchoverTo',
      { ...hb, id: `patroni.switchover@${args.candidate}`, title: `Coordinated switchover from ${args.leader} to ${args.candidate}: the leader's turn, HAProxy told through its runtime API`, kind: 'change', host: args.candidate, attempts: 1, timeoutSeconds: 150 },
      { candidate: args.candidate, waitSeconds: 120 },
    ),
    stepOf('awaitRecovery', { ...hb, id: 'restart.recovered', title: `${args.candidate} leads, runs as primary, and HAProxy sends writes to it`, kind: 'verify', timeoutSeconds: 150 }, { oldLeader: args.leader, expectedLeader: args.candidate, leaderMoves: true, waitSeconds: 120 }),
    stepOf('replicaRejoined', { ...hb, id: `patroni.rejoined@${args.leader}`, title: `${args.leader} streams from ${args.candidate} as a replica`, kind: 'verify', host: args.leader, timeoutSeconds: 210 }, { host: args.leader, waitSeconds: 180 }),
    ...restartOf(args.leader, 'restarted: by its demotion, or now through Patroni'),
    stepOf('verifyWriteThroughHaproxy', { ...hb, id: 'restart.write', title: `A write through HAProxy lands on ${args.candidate} and is readable on every replica`, kind: 'verify', timeoutSeconds: 180 }, { host: haproxyHosts(topology)[0].name }),
    stepOf('clusterHealthy', { ...hb, id: RESTART_PROBE_UNTIL, title: 'The cluster is healthy: one leader, every replica streaming, HAProxy on the leader', kind: 'verify', timeoutSeconds: 150 }, { waitSeconds: 120 }),
  ];
  return { name: 'restart', cluster: topology.cluster, items };
}
