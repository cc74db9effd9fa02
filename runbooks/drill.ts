// The failover drill as data: gates, the fault, the recovery, the heal, the old leader rejoining,
// optionally the switch back, and the cluster healthy again. The write probe and the watcher
// run beside these steps, from just before the fault to the recovery (workflows/drill.ts).
// Pure: `haflow drill --plan` prints exactly these steps.
import type { Topology } from '../topology/schema';
import { appMaster, dbHosts } from '../topology/derive';
import { FAULTS, observerOf, type FaultName, type FaultSpec } from '../topology/faults';
import { predictDowntime } from './report';
import { stepOf, type Runbook, type Step } from './runbook';

export interface DrillArgs {
  fault: FaultName;
  /** The leader when the drill was planned; the gate refuses if it moved since. */
  leader: string;
  /** For the switchover fault: the member to switch over to (default: the best replica). */
  candidate?: string;
  /** Switch back to the original leader at the end, so a scheduled drill leaves the cluster as it found it. */
  switchBack?: boolean;
  /** For crash-app-master: the application master now (the monitor's; default app.master). */
  appMaster?: string;
}

/** What the drill's workflow is given besides its steps: computed when the drill is planned, never again. */
export interface DrillRun extends DrillArgs {
  /** The machine the fault strikes. */
  target: string;
  /** How long the recovery may take before its step blocks (the measurement's bound). */
  recoveryBoundSeconds?: number;
}

/** The drill as planned: its target and its recovery's bound. */
export function drillRun(topology: Topology, args: DrillArgs): DrillRun {
  return { ...args, target: drillTarget(topology, args), recoveryBoundSeconds: recoveryBound(topology, args.fault) };
}

export const HEARTBEAT_SECONDS = 10;

/** How long the recovery may take before the step blocks: far beyond the predicted worst case. */
export function recoveryBound(topology: Topology, fault: FaultName): number {
  return Math.min(900, Math.ceil(predictDowntime(topology, fault).worstSeconds * 3 + 60));
}

/** How long the old leader may take to rejoin (pg_rewind, catching up) before the operator is asked. */
const REJOIN_SECONDS = 180;

export function drillTarget(topology: Topology, args: DrillArgs): string {
  const spec: FaultSpec = FAULTS[args.fault];
  if (spec.target === 'app-master') return args.appMaster ?? appMaster(topology)?.name ?? args.leader;
  return spec.target === 'leader' ? args.leader : (observerOf(topology)?.name ?? args.leader);
}

/** The application answering through HAProxy again, from another node than the one struck: the application monitor's failover. */
export function appRecovered(topology: Topology, target: string, bound: number): Step {
  const proxy = topology.hosts.find((h) => h.roles.includes('haproxy'))!;
  return stepOf(
    'appHealthyThroughHaproxy',
    {
      heartbeatSeconds: HEARTBEAT_SECONDS,
      id: 'app.recovered',
      mark: 'recovered',
      title: `Recovery: the application answers ${topology.app?.health_path ?? '/'} with 200 through HAProxy from another node than ${target}, after the application monitor's failover (bound ${bound} s)`,
      kind: 'verify',
      host: proxy.name,
      timeoutSeconds: bound + 30,
    },
    { host: proxy.name, notOn: target, waitSeconds: bound },
  );
}

export function drillSteps(topology: Topology, args: DrillArgs): Runbook {
  const spec: FaultSpec = FAULTS[args.fault];
  const target = drillTarget(topology, args);
  const leader = args.leader;
  const bound = recoveryBound(topology, args.fault);
  const hb = { heartbeatSeconds: HEARTBEAT_SECONDS };
  const gate = stepOf('clusterHealthy', { ...hb, id: 'drill.gate', title: `Gate: one leader (${leader}), replicas streaming with lag under the limit, HAProxy sends writes to the leader`, kind: 'guard', guard: 'a drill starts only on a healthy cluster, with the leader it was planned for', timeoutSeconds: 60 }, { leader });
  const probeDb = stepOf('ensureProbeDatabase', { ...hb, id: `postgres.probe-database@${leader}`, mark: 'probe-from', title: `The write probe's own database (haflow_probe) on ${leader}`, kind: 'change', host: leader, timeoutSeconds: 120 }, { host: leader });
  // Retried (a lost worker, a driver that timed out): an attempt records the fault once it is in
  // place, and a later attempt that finds the record reports it instead of injecting it again.
  const fault = stepOf(
    'injectFault',
    { ...hb, id: `fault.${args.fault}@${target}`, mark: 'strike', title: `Fault: ${args.fault} on ${target}: ${spec.what}`, kind: 'change', host: target, attempts: 3, timeoutSeconds: 180 },
    { host: target, fault: args.fault, ...(args.fault === 'switchover' && args.candidate ? { candidate: args.candidate } : {}) },
  );
  const heal = stepOf(
    'healFault',
    { ...hb, id: `fault.heal@${target}`, mark: 'heal', title: `Heal: ${spec.heal}`, kind: 'change', host: target, timeoutSeconds: 300 },
    { host: target, fault: args.fault },
  );
  const expectedLeader = args.fault === 'switchover' ? args.candidate : undefined;
  const recovered = stepOf(
    'awaitRecovery',
    {
      ...hb,
      id: 'failover.recovered',
      // The application's own recovery is the drill's when the fault strikes the application master.
      ...(spec.target === 'app-master' ? {} : { mark: 'recovered' as const }),
      title: `Recovery: ${spec.leaderMoves ? `a new leader (not ${leader})` : 'a leader'} runs as primary and HAProxy sends writes to it (bound ${bound} s)`,
      kind: 'verify',
      timeoutSeconds: bound + 30,
    },
    // A fault that need not move leadership may still move it (Patroni may fail over rather than restart).
    { oldLeader: leader, leaderMoves: spec.leaderMoves ? true : undefined, expectedLeader, waitSeconds: bound },
  );
  const items: Step[] = [gate, probeDb, fault];
  if (spec.healedToRecover) items.push(heal, recovered);
  else if (spec.target === 'app-master') items.push(recovered, appRecovered(topology, target, bound), heal);
  else items.push(recovered, heal);
  if (dbHosts(topology).some((h) => h.name === target)) {
    items.push(
      stepOf(
        'replicaRejoined',
        { ...hb, id: `patroni.rejoined@${target}`, title: `${target} rejoins as a replica streaming on the new timeline (pg_rewind when needed; bound ${REJOIN_SECONDS} s)`, kind: 'verify', host: target, timeoutSeconds: REJOIN_SECONDS + 30 },
        { host: target, waitSeconds: REJOIN_SECONDS },
      ),
    );
  }
  if (args.switchBack && spec.leaderMoves) {
    items.push(
      stepOf('switchoverTo', { ...hb, id: `patroni.switch-back@${leader}`, title: `Switch back: a switchover to ${leader}, the leader before the drill`, kind: 'change', host: leader, timeoutSeconds: 150 }, { candidate: leader, waitSeconds: 120 }),
    );
  }
  items.push(
    stepOf(
      'clusterHealthy',
      { ...hb, id: 'drill.healthy-after', title: `The cluster is healthy again${args.switchBack && spec.leaderMoves ? `, ${leader} leading` : ''} (within 120 s)`, kind: 'verify', timeoutSeconds: 150 },
      args.switchBack && spec.leaderMoves ? { leader, waitSeconds: 120 } : { waitSeconds: 120 },
    ),
  );
  // With backups, the leader after the fault archives to the same repository, and the archive has no gap.
  if (topology.backup) {
    items.push(stepOf('archiveContinuity', { ...hb, id: 'backup.archiving', title: "The leader's WAL reaches the backup repository (pgbackrest check), since when on its timeline, and the archive has no gap", kind: 'verify', timeoutSeconds: 300 }, {}));
  }
  return { name: 'drill', cluster: topology.cluster, items };
}
