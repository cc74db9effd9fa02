// Reading a cluster rather than running a runbook on it: its health (`haflow list`), and the
// topology haflow last ran an operation with (so commands can take a cluster's name).
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import type { ClusterHealth } from '../activities/cluster/health';
import { TASK_QUEUE } from '../connection/temporal';
import { assertValidTopology, type Topology } from '../topology';
import type { clusterHealthWorkflow } from '../workflows';
import { clusterWorkflowId } from '../connection/workflow-ids';
import type { RunbookInput } from '../workflows/protocol';
import { describeOrNone } from './api';

/** How long `readHealth` waits for a worker to read the cluster. */
const HEALTH_TIMEOUT = '1m';

/** The cluster's health now, read by a worker (Patroni, etcd and HAProxy over HTTP). */
export async function readHealth(client: Client, topology: Topology, opts: { taskQueue?: string } = {}): Promise<ClusterHealth> {
  const checked = assertValidTopology(topology);
  const handle = await client.workflow.start<typeof clusterHealthWorkflow>('clusterHealthWorkflow', {
    workflowId: `${clusterWorkflowId(checked.cluster)}-health-${randomUUID().slice(0, 8)}`,
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    args: [{ topology: checked }],
    workflowExecutionTimeout: HEALTH_TIMEOUT,
  });
  try {
    return await handle.result();
  } catch (err) {
    if (err instanceof WorkflowFailedError && /timed out/i.test(`${err.cause?.name} ${err.cause?.message} ${err.message}`)) {
      throw new Error(`no worker read cluster ${checked.cluster} within ${HEALTH_TIMEOUT} (is \`haflow worker\` running on task queue ${opts.taskQueue ?? TASK_QUEUE}?)`);
    }
    throw err;
  }
}

/**
 * The topology of the cluster's latest operation (install, drill, …), from its workflow input:
 * the cluster as haflow last worked on it. Throws NoOperationError when there is none.
 */
export async function topologyOfCluster(client: Client, cluster: string): Promise<Topology> {
  const handle = client.workflow.getHandle(clusterWorkflowId(cluster));
  await describeOrNone(handle, cluster);
  const history = await handle.fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const input = await decodeFromPayloadsAtIndex<RunbookInput>(client.options.loadedDataConverter, 0, started?.input?.payloads);
  if (!input?.topology) throw new Error(`the latest operation on cluster ${cluster} carries no topology; pass the topology file instead`);
  return assertValidTopology(input.topology);
}
