// The application monitor's state and its event log, as data: who is master and slave now,
// what happened and when. Pure, shared by the monitor's workflow and the CLI that shows it.
import type { Topology } from '../topology/schema';
import { appHosts, appMaster } from '../topology/derive';

export type MonitorEventKind =
  | 'watching'
  | 'master-failing'
  | 'failover-refused'
  | 'master-recovered'
  | 'failover'
  | 'failover-failed'
  | 'switchback'
  | 'switchback-failed'
  | 'fenced'
  | 'fence-failed'
  | 'held'
  | 'released';

export interface MonitorEvent {
  /** ISO time the event was recorded. */
  at: string;
  kind: MonitorEventKind;
  message: string;
  /** For a failover: the first failed check, when it was detected, and when the application answered through HAProxy again. */
  firstFailureAt?: string;
  detectedAt?: string;
  answeringAt?: string;
}

export interface MonitorState {
  cluster: string;
  master: string;
  slave: string;
  /** The newest last; at most MAX_EVENTS. */
  events: MonitorEvent[];
  failovers: number;
  /** An old master the failover could not fence (it was down): fenced as soon as it answers again. */
  unfenced?: string;
  /** When this monitor (across continue-as-new) started. */
  since: string;
  /**
   * An operation that changes the application tier (an install) holds the monitor's failovers,
   * switchbacks and fences until it ends or releases them, so the two never act at once.
   */
  hold?: { workflowId: string; runId: string; what: string; since: string };
}

/** Events kept: enough for months of rare events, small enough for a workflow's input. */
export const MAX_EVENTS = 50;

export function initialMonitorState(topology: Topology, now: Date): MonitorState {
  const master = appMaster(topology);
  const slave = appHosts(topology).find((h) => h.name !== master?.name);
  if (!topology.app || !master || !slave) {
    throw new Error(`cluster ${topology.cluster} has no application tier with a master and a slave to observe (hosts with role app: ${appHosts(topology).map((h) => h.name).join(', ') || 'none'})`);
  }
  return {
    cluster: topology.cluster,
    master: master.name,
    slave: slave.name,
    events: [{ at: now.toISOString(), kind: 'watching', message: `watching the master application ${master.name}; ${slave.name} is the slave` }],
    failovers: 0,
    since: now.toISOString(),
  };
}

export function withEvent(state: MonitorState, event: MonitorEvent): MonitorState {
  return { ...state, events: [...state.events, event].slice(-MAX_EVENTS) };
}

/** After a completed failover or switchback: the roles swapped. */
export function swapped(state: MonitorState): MonitorState {
  return { ...state, master: state.slave, slave: state.master };
}

/** Seconds between two ISO times, one decimal. */
export function secondsBetween(from: string, to: string): number {
  return Math.round((Date.parse(to) - Date.parse(from)) / 100) / 10;
}

/** One line per event, for `haflow monitor status`. */
export function formatEvent(event: MonitorEvent): string {
  const at = event.at.replace(/\.\d+Z$/, 'Z');
  return `${at}  ${event.kind.padEnd(17)} ${event.message}`;
}
