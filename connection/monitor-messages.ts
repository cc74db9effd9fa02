// What an operation says to the application monitor of its cluster (workflows/app-monitor.ts),
// from a worker's activity: hold your failovers while I change the application tier, and the
// release at its end. Here, below both, so the workflow and the activities share one definition.
import { defineQuery, defineUpdate } from '@temporalio/workflow';

/** An operation on the cluster that holds the monitor's failovers until it ends (or releases them). */
export interface MonitorHold {
  workflowId: string;
  runId: string;
  /** What holds it, for the event log: "install of cluster pgha". */
  what: string;
}

/** Who the monitor sees as the application's master and slave now, and what holds it. */
export interface MonitorRoles {
  master: string;
  slave: string;
  hold?: MonitorHold;
}

export const rolesQuery = defineQuery<MonitorRoles>('roles');

/** Holds the monitor's failovers, switchbacks and fences; answers with who it sees as master and slave. Refused while one runs. */
export const holdUpdate = defineUpdate<{ master: string; slave: string }, [MonitorHold]>('hold');

/** Releases the hold this run took; answers whether it held one. */
export const releaseUpdate = defineUpdate<boolean, [{ runId: string }]>('release');
