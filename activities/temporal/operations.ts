// What Temporal knows about a cluster's operations, read by a workflow that must not start a
// runbook while another holds the cluster (a scheduled drill during an install). Uses the
// worker's own client, so it needs no settings of its own.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { HostInput, StepResult } from '../contract';
import { stepResult } from '../shared/step';
import { clusterWorkflowId, earlierMonitorWorkflowId, monitorWorkflowId } from '../../connection/workflow-ids';

export interface RunningOperation {
  workflowId: string;
  runId: string;
  /** The workflow type, e.g. installWorkflow. */
  type: string;
  startTime: string;
}

/** The operation running on the cluster's workflow id, or undefined when none runs. */
export async function runningClusterOperation(input: { cluster: string }): Promise<RunningOperation | undefined> {
  const handle = Context.current().client.workflow.getHandle(clusterWorkflowId(input.cluster));
  try {
    const description = await handle.describe();
    if (description.status.name !== 'RUNNING') return undefined;
    return { workflowId: description.workflowId, runId: description.runId, type: description.type, startTime: description.startTime.toISOString() };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/**
 * The application monitor of a cluster stopped (cancelled, as `haflow monitor stop` does), so
 * that nothing fails the application over while a migration moves it; one started by an earlier
 * version, under its earlier workflow id, too. Idempotent: a monitor that does not run is left
 * so. Uses the worker's own client.
 */
export async function stopAppMonitor(input: Omit<HostInput, 'host'> & { cluster: string }): Promise<StepResult> {
  const client = Context.current().client;
  const running = [];
  for (const workflowId of [monitorWorkflowId(input.cluster), earlierMonitorWorkflowId(input.cluster)]) {
    const handle = client.workflow.getHandle(workflowId);
    const runs = await handle
      .describe()
      .then((d) => d.status.name === 'RUNNING')
      .catch((err) => {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      });
    if (runs) running.push(handle);
  }
  if (running.length === 0) return stepResult([], `no application monitor runs for cluster ${input.cluster}`);
  const ids = running.map((h) => h.workflowId).join(', ');
  if (input.check) return stepResult([`would stop the application monitor of cluster ${input.cluster} (${ids})`], '');
  for (const handle of running) {
    await handle.cancel();
    // Ended, or the step fails (and is retried): a monitor still running could fail the application over mid-migration.
    const deadline = Date.now() + 60_000;
    while ((await handle.describe()).status.name === 'RUNNING') {
      if (Date.now() > deadline) throw new Error(`the application monitor ${handle.workflowId} was asked to stop but still runs after 60 s`);
      Context.current().heartbeat();
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  return stepResult([`stopped the application monitor of cluster ${input.cluster} (${ids}): nothing fails the application over until \`haflow monitor start\``], '');
}
