// What Temporal knows about a cluster's operations, read by a workflow that must not start a
// runbook while another holds the cluster (a scheduled drill during an install). Uses the
// worker's own client, so it needs no settings of its own.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { HostInput, StepResult } from '../contract';
import { stepResult } from '../shared/step';
import { clusterWorkflowId, monitorWorkflowId } from '../../connection/workflow-ids';

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
 * that nothing fails the application over while a migration moves it. Idempotent: a monitor
 * that does not run is left so. Uses the worker's own client.
 */
export async function stopAppMonitor(input: Omit<HostInput, 'host'> & { cluster: string }): Promise<StepResult> {
  const handle = Context.current().client.workflow.getHandle(monitorWorkflowId(input.cluster));
  const running = await handle
    .describe()
    .then((d) => d.status.name === 'RUNNING')
    .catch((err) => {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    });
  if (!running) return stepResult([], `no application monitor runs for cluster ${input.cluster}`);
  if (input.check) return stepResult([`would stop the application monitor of cluster ${input.cluster} (${handle.workflowId})`], '');
  await handle.cancel();
  await Promise.race([handle.result().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 60_000))]);
  return stepResult([`stopped the application monitor of cluster ${input.cluster} (${handle.workflowId}): nothing fails the application over until \`haflow monitor start\``], '');
}
