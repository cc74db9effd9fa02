// `haflow list`: the cluster's health, read on a worker (the client talks only to Temporal).
// A short workflow of one activity; it does not hold the cluster.
import { proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { ClusterHealth } from '../activities/cluster/health';
import type { Topology } from '../topology/schema';

const { readClusterHealth } = proxyActivities<typeof activities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 2 },
});

export async function clusterHealthWorkflow(input: { topology: Topology }): Promise<ClusterHealth> {
  return readClusterHealth({ topology: input.topology });
}
