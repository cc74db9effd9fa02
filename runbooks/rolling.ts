// The shape every rolling operation shares (the restart, the minor upgrade): gate, the probe's
// database, each replica's turn one at a time (the switchover's candidate last, so it has streamed
// longest), the leader's turn after a coordinated switchover and its rejoin, then a write through
// HAProxy and the health gate. What a node's turn is belongs to each operation. Pure.
import { dbHosts, haproxyHosts } from '../topology/derive';
import type { Topology } from '../topology/schema';
import { stepOf, type Runbook, type Step } from './runbook';

export interface RollingPlan {
  /** The runbook's name: `restart`, `upgrade`; it prefixes the operation's own step ids. */
  name: string;
  /** The leader when planned: its turn comes last, after a switchover. */
  leader: string;
  /** The replica the leader is switched over to. */
  candidate: string;
  /** One node's turn, as a replica. */
  turn(host: string): Step[];
  /** Checks after every turn, before the write (a minor upgrade's one version everywhere). */
  after?: Step[];
}

export function rollingSteps(topology: Topology, plan: RollingPlan): Runbook {
  const hb = { heartbeatSeconds: 10 };
  const { name, leader, candidate } = plan;
  const replicas = dbHosts(topology)
    .map((h) => h.name)
    .filter((host) => host !== leader)
    .sort((a, b) => Number(a === candidate) - Number(b === candidate));
  const items: Step[] = [
    stepOf('clusterHealthy', { ...hb, id: `${name}.gate`, title: `Gate: one leader (${leader}), every replica streaming with lag under the limit, HAProxy on the leader`, kind: 'guard', guard: `a rolling ${name} starts only on a healthy cluster, with the leader it was planned for`, timeoutSeconds: 60 }, { leader }),
    stepOf('ensureProbeDatabase', { ...hb, id: `postgres.probe-database@${leader}`, mark: 'probe-from', title: `The write probe's own database (haflow_probe) on ${leader}`, kind: 'change', host: leader, timeoutSeconds: 120 }, { host: leader }),
    ...replicas.flatMap((host) => plan.turn(host)),
    stepOf(
      'coordinatedSwitchoverTo',
      { ...hb, id: `patroni.switchover@${candidate}`, mark: 'switchover', title: `Coordinated switchover from ${leader} to ${candidate}: the leader's turn, HAProxy told through its runtime API`, kind: 'change', host: candidate, attempts: 1, timeoutSeconds: 150 },
      { candidate, waitSeconds: 120 },
    ),
    stepOf('awaitRecovery', { ...hb, id: `${name}.recovered`, title: `${candidate} leads, runs as primary, and HAProxy sends writes to it`, kind: 'verify', timeoutSeconds: 150 }, { oldLeader: leader, expectedLeader: candidate, leaderMoves: true, waitSeconds: 120 }),
    stepOf('replicaRejoined', { ...hb, id: `patroni.rejoined@${leader}`, title: `${leader} streams from ${candidate} as a replica`, kind: 'verify', host: leader, timeoutSeconds: 210 }, { host: leader, waitSeconds: 180 }),
    ...plan.turn(leader),
    ...(plan.after ?? []),
    stepOf('verifyWriteThroughHaproxy', { ...hb, id: `${name}.write`, title: `A write through HAProxy lands on ${candidate} and is readable on every replica`, kind: 'verify', timeoutSeconds: 180 }, { host: haproxyHosts(topology)[0].name }),
    stepOf('clusterHealthy', { ...hb, id: `${name}.healthy-after`, mark: 'probe-until', title: 'The cluster is healthy: one leader, every replica streaming, HAProxy on the leader', kind: 'verify', timeoutSeconds: 150 }, { waitSeconds: 120 }),
  ];
  return { name, cluster: topology.cluster, items };
}

/** A replica streaming again after its turn, its lag under the limit. */
export function streamingAgain(host: string): Step {
  return stepOf('replicaStreaming', { heartbeatSeconds: 10, id: `patroni.streaming@${host}`, title: `${host} streams from the leader again, its lag under maximum_lag_on_failover`, kind: 'verify', host, timeoutSeconds: 210 }, { host });
}
