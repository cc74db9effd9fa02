// The failover drill on the classic layout, as data: there is no Patroni, so the fault that makes
// sense is the one the application monitor answers, a power cut of the master's machine (its
// application and its database). Gate, the fault, the slave's database promoted and the
// application answering from it, the machine powered on again, and the monitor's fence of it.
// The drill ends there: the cluster runs on the slave alone until `haflow app switchback`, which
// rebuilds the old master first. The write probe follows the primary from one node to the other
// (workflows/drill.ts, activities/failover/measure.ts). Pure: `haflow drill --plan` prints these steps.
import type { Topology } from '../topology/schema';
import { dbHosts } from '../topology/derive';
import { CLASSIC_FAULTS, FAULTS } from '../topology/faults';
import { appRecovered, drillTarget, HEARTBEAT_SECONDS, recoveryBound, type DrillArgs } from './drill';
import { stepOf, type Runbook } from './runbook';

/** How long the monitor may take to fence the old master once it is powered on. */
const FENCE_SECONDS = 180;

export function classicDrillSteps(topology: Topology, args: DrillArgs): Runbook {
  if (!CLASSIC_FAULTS.includes(args.fault)) throw new Error(`drill ${args.fault}: the classic layout is drilled with ${CLASSIC_FAULTS.join(', ')} only`);
  const hb = { heartbeatSeconds: HEARTBEAT_SECONDS };
  const master = drillTarget(topology, args);
  const standbys = dbHosts(topology).filter((h) => h.name !== master).map((h) => h.name);
  const slave = standbys[0];
  const bound = recoveryBound(topology, args.fault);
  const spec = FAULTS[args.fault];
  return {
    name: 'drill',
    cluster: topology.cluster,
    items: [
      stepOf(
        'classicSourceReady',
        { ...hb, id: 'drill.gate', title: `Gate: ${master} runs its database as the unfenced primary and ${standbys.join(', ')} stream(s) from it`, kind: 'guard', host: master, guard: 'a drill starts only on a healthy cluster, with the master it was planned for', timeoutSeconds: 60 },
        { host: master, standbys },
      ),
      stepOf('ensureProbeDatabase', { ...hb, id: `postgres.probe-database@${master}`, mark: 'probe-from', title: `The write probe's own database (haflow_probe) on ${master}, streamed to ${slave}`, kind: 'change', host: master, timeoutSeconds: 120 }, { host: master }),
      stepOf(
        'injectFault',
        { ...hb, id: `fault.${args.fault}@${master}`, mark: 'strike', title: `Fault: ${args.fault} on ${master}: ${spec.what}`, kind: 'change', host: master, attempts: 3, timeoutSeconds: 180 },
        { host: master, fault: args.fault },
      ),
      stepOf(
        'classicPromoted',
        { ...hb, id: `db.promoted@${slave}`, title: `Recovery: the application monitor promotes ${slave}'s database, which runs as the primary (bound ${bound} s)`, kind: 'verify', host: slave, timeoutSeconds: bound + 30 },
        { host: slave, waitSeconds: bound },
      ),
      appRecovered(topology, master, bound),
      stepOf('healFault', { ...hb, id: `fault.heal@${master}`, mark: 'heal', title: `Heal: ${spec.heal}`, kind: 'change', host: master, timeoutSeconds: 300 }, { host: master, fault: args.fault }),
      stepOf(
        'classicFenced',
        { ...hb, id: `db.fenced@${master}`, title: `${master}, powered on, is fenced by the application monitor: its database not a primary, the marker written (bound ${FENCE_SECONDS} s); \`haflow app switchback\` brings it back`, kind: 'verify', host: master, timeoutSeconds: FENCE_SECONDS + 30 },
        { host: master, waitSeconds: FENCE_SECONDS },
      ),
    ],
  };
}
