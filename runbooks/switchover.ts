// The planned switchover as data: the gate, the probe's database, the switchover through
// Patroni's REST API, and the verification that the new leader is the one asked for, the old
// one streams from it, and HAProxy sends writes to it. The write probe runs throughout
// (workflows/switchover.ts), so the result states the write downtime the switchover caused.
import type { Topology } from '../topology/schema';
import { stepOf, type Runbook, type Step } from './runbook';

export interface SwitchoverArgs {
  /** The leader when the switchover was planned. */
  leader: string;
  /** The member to switch over to. */
  candidate: string;
  /** ISO 8601 time for Patroni's scheduled switchover (`--at`). */
  at?: string;
  /**
   * Tell HAProxy through its runtime API the moment Patroni has switched over, instead of waiting
   * for its checks (activities/cluster/coordinated-switchover.ts). Not with `at`: Patroni picks
   * the moment then, with no one watching.
   */
  coordinated?: boolean;
}

export function switchoverSteps(topology: Topology, args: SwitchoverArgs): Runbook {
  const hb = { heartbeatSeconds: 10 };
  const scheduled = args.at !== undefined;
  // With --at the workflow sleeps (a durable timer) until just before the scheduled time, then
  // starts the probe and verifies what Patroni did at that time.
  const when = scheduled ? `At ${args.at}: ` : '';
  const items: Step[] = [
    stepOf('clusterHealthy', { ...hb, id: 'switchover.gate', title: `Gate: one leader (${args.leader}), ${args.candidate} streaming with lag under the limit, HAProxy on the leader`, kind: 'guard', guard: 'a switchover starts only on a healthy cluster, with the leader it was planned for', timeoutSeconds: 60 }, { leader: args.leader }),
    stepOf('ensureProbeDatabase', { ...hb, id: `postgres.probe-database@${args.leader}`, mark: 'probe-from', title: `The write probe's own database (haflow_probe) on ${args.leader}`, kind: 'change', host: args.leader, timeoutSeconds: 120 }, { host: args.leader }),
    args.coordinated && !scheduled
      ? stepOf(
          'coordinatedSwitchoverTo',
          { ...hb, id: `patroni.switchover@${args.candidate}`, mark: 'strike', title: `Switchover from ${args.leader} to ${args.candidate} through Patroni's REST API, HAProxy told through its runtime API the moment ${args.candidate} is primary`, kind: 'change', host: args.candidate, attempts: 1, timeoutSeconds: 150 },
          { candidate: args.candidate, waitSeconds: 120 },
        )
      : stepOf(
          'switchoverTo',
          { ...hb, id: `patroni.switchover@${args.candidate}`, mark: 'strike', title: `Switchover from ${args.leader} to ${args.candidate} through Patroni's REST API (POST /switchover${scheduled ? `, scheduled_at ${args.at}` : ''})`, kind: 'change', host: args.candidate, attempts: 1, timeoutSeconds: 150 },
          { candidate: args.candidate, waitSeconds: 120, ...(scheduled ? { scheduledAt: args.at } : {}) },
        ),
    stepOf('awaitRecovery', { ...hb, id: 'switchover.recovered', mark: 'recovered', title: `${when}${args.candidate} leads, runs as primary, and HAProxy sends writes to it`, kind: 'verify', timeoutSeconds: 150 }, { oldLeader: args.leader, expectedLeader: args.candidate, leaderMoves: true, waitSeconds: 120 }),
    stepOf('replicaRejoined', { ...hb, id: `patroni.rejoined@${args.leader}`, title: `${args.leader} streams from ${args.candidate} as a replica`, kind: 'verify', host: args.leader, timeoutSeconds: 210 }, { host: args.leader, waitSeconds: 180 }),
    stepOf('verifyWriteThroughHaproxy', { ...hb, id: 'switchover.write', title: `A write through HAProxy lands on ${args.candidate} and is readable on every replica`, kind: 'verify', timeoutSeconds: 180 }, { host: haproxyHostOf(topology) }),
  ];
  return { name: 'switchover', cluster: topology.cluster, items };
}

function haproxyHostOf(topology: Topology): string {
  return topology.hosts.find((h) => h.roles.includes('haproxy'))!.name;
}
