// The faults a drill can inject, as data: what each does, to which machine, which fault
// drivers of the topology it needs, whether leadership should move, and how it is healed.
// Pure: the client refuses a drill whose drivers are missing before anything starts.
import type { FaultDrivers, Host, Topology } from './schema';
import { appHosts, dbHosts, etcdMembers, haproxyHosts } from './derive';

export interface FaultSpec {
  /** One line for the plan and the report. */
  what: string;
  /** The machine it strikes: the current leader, the observer (etcd and HAProxy), or the application master. */
  target: 'leader' | 'observer' | 'app-master';
  /** Fault drivers (topology `faults:`) it runs. */
  drivers: (keyof FaultDrivers)[];
  /** Whether another DB node should end up leader. */
  leaderMoves: boolean;
  /** Writes cannot resume before the heal: it is applied after `holdSeconds`, as part of the recovery. */
  healedToRecover?: { holdSeconds: number };
  /** What healing does, for the plan. */
  heal: string;
}

export const FAULTS = {
  switchover: {
    what: "a planned switchover through Patroni's REST API (POST /switchover)",
    target: 'leader',
    drivers: [],
    leaderMoves: true,
    heal: 'nothing to heal: the old leader goes on as a replica',
  },
  'stop-patroni': {
    what: 'a graceful stop of Patroni on the leader (systemctl stop patroni)',
    target: 'leader',
    drivers: [],
    leaderMoves: true,
    heal: 'start Patroni on the old leader again',
  },
  'kill-postgres': {
    what: "kill -9 of the leader's postmaster: Patroni restarts PostgreSQL in place",
    target: 'leader',
    drivers: [],
    leaderMoves: false,
    heal: 'nothing to heal: Patroni restarts PostgreSQL itself',
  },
  'crash-leader': {
    what: "a power cut of the leader's machine: every process dies at once",
    target: 'leader',
    drivers: ['power_off', 'power_on'],
    leaderMoves: true,
    heal: 'power the old leader on again (faults.power_on)',
  },
  'partition-leader': {
    what: 'the leader cut from etcd and from the other DB nodes (faults.partition)',
    target: 'leader',
    drivers: ['partition', 'heal'],
    leaderMoves: true,
    heal: 'remove the partition (faults.heal)',
  },
  'crash-observer': {
    what: 'a power cut of the observer: etcd and HAProxy die at once',
    target: 'observer',
    drivers: ['power_off', 'power_on'],
    leaderMoves: false,
    healedToRecover: { holdSeconds: 10 },
    heal: 'power the observer on again (faults.power_on)',
  },
  'crash-app-master': {
    what: "a power cut of the application master's machine: the application monitor must fail the application over",
    target: 'app-master',
    drivers: ['power_off', 'power_on'],
    // Only when that machine also leads the database (standalone layout); not a requirement.
    leaderMoves: false,
    heal: 'power the old application master on again (faults.power_on); the application monitor fences it',
  },
} as const satisfies Record<string, FaultSpec>;

export type FaultName = keyof typeof FAULTS;
export const FAULT_NAMES = Object.keys(FAULTS) as FaultName[];

export function isFaultName(name: string): name is FaultName {
  return (FAULT_NAMES as string[]).includes(name);
}

/** The observer a crash-observer strikes: the machine running HAProxy (and etcd) that is not a DB node. */
export function observerOf(topology: Topology): Host | undefined {
  const dbs = new Set(dbHosts(topology).map((h) => h.name));
  const proxies = haproxyHosts(topology).filter((h) => !dbs.has(h.name));
  return proxies.find((h) => etcdMembers(topology).some((m) => m.name === h.name)) ?? proxies[0];
}

/** The faults a classic cluster (no Patroni) can be drilled with: those its application monitor answers. */
export const CLASSIC_FAULTS: readonly FaultName[] = ['crash-app-master'];

/**
 * Why a fault cannot be drilled on this topology, one sentence each (empty: it can): a fault
 * driver it needs is not configured, or there is no machine for it to strike.
 */
export function faultProblems(topology: Topology, fault: FaultName): string[] {
  const spec: FaultSpec = FAULTS[fault];
  if (topology.layout === 'classic' && !CLASSIC_FAULTS.includes(fault)) {
    return [`fault ${fault} works through Patroni, which a classic cluster (layout: classic) does not run; it is drilled with ${CLASSIC_FAULTS.join(', ')}, which its application monitor answers`];
  }
  const problems = spec.drivers
    .filter((driver) => !topology.faults[driver])
    .map((driver) => `fault ${fault} needs the fault driver faults.${driver} (a command run on the worker, such as an IPMI or cloud CLI call with {host}), which the topology does not set`);
  if (spec.target === 'observer' && !observerOf(topology)) problems.push(`fault ${fault} needs an HAProxy machine that is not a DB node; this topology has none`);
  if (spec.target === 'app-master' && (!topology.app || appHosts(topology).length < 2)) problems.push(`fault ${fault} needs an application tier with a master and a slave (an app section and two hosts with role app)`);
  if (dbHosts(topology).length < 2 && spec.leaderMoves) problems.push(`fault ${fault} needs a replica to take over; this topology has one DB node`);
  return problems;
}
