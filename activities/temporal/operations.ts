// What Temporal knows about a cluster's operations, read by a workflow that must not start a
// runbook while another holds the cluster (a scheduled drill during an install). Uses the
// worker's own client, so it needs no settings of its own.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/common';
import { clusterWorkflowId } from '../../connection/workflow-ids';

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
