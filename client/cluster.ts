// Reading a cluster rather than running a runbook on it: its health (`haflow list`), its
// certificates (`haflow certs status`), and the
// topology haflow last ran an operation with (so commands can take a cluster's name).
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import type { ClusterHealth } from '../activities/cluster/health';
import { TASK_QUEUE } from '../connection/temporal';
import { assertValidTopology, type Topology } from '../topology';
import type { CertificateReport } from '../activities/tls/status';
import type { backupReportWorkflow, certificateStatusWorkflow, clusterHealthWorkflow } from '../workflows';
import type { BackupReport } from '../activities/backup/activities';
import { clusterWorkflowId } from '../connection/workflow-ids';
import type { RunbookInput } from '../workflows/protocol';
import { describeOrNone, NoOperationError } from './api';

/** How long a read (`readHealth`, `readCertificateStatus`) waits for a worker to read the cluster. */
const READ_TIMEOUT = '1m';

/** The cluster's health now, read by a worker (Patroni, etcd and HAProxy over HTTP). */
export async function readHealth(client: Client, topology: Topology, opts: { taskQueue?: string } = {}): Promise<ClusterHealth> {
  return readOnWorker<typeof clusterHealthWorkflow>(client, 'clusterHealthWorkflow', 'health', topology, {}, opts);
}

/** The cluster's certificates now, read by a worker (each host's over SSH, the CA bundle on the worker). */
export async function readCertificateStatus(client: Client, topology: Topology, opts: { taskQueue?: string } = {}): Promise<CertificateReport> {
  return readOnWorker<typeof certificateStatusWorkflow>(client, 'certificateStatusWorkflow', 'certs', topology, {}, opts);
}

/** The backup repository now, read by a worker (pgbackrest info on the repository host, the leader's archiver). */
export async function readBackups(client: Client, topology: Topology, opts: { taskQueue?: string } = {}): Promise<BackupReport> {
  return readOnWorker<typeof backupReportWorkflow>(client, 'backupReportWorkflow', 'backups', topology, {}, opts);
}

/** A short workflow that reads the cluster on a worker and returns what it read; it does not hold the cluster. */
async function readOnWorker<W extends (input: { topology: Topology }) => Promise<unknown>>(
  client: Client,
  workflow: string,
  what: string,
  topology: Topology,
  more: Omit<Parameters<W>[0], 'topology'>,
  opts: { taskQueue?: string },
): Promise<Awaited<ReturnType<W>>> {
  const checked = assertValidTopology(topology);
  const handle = await client.workflow.start(workflow, {
    workflowId: `${clusterWorkflowId(checked.cluster)}-${what}-${randomUUID().slice(0, 8)}`,
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    args: [{ ...more, topology: checked }],
    workflowExecutionTimeout: READ_TIMEOUT,
  });
  try {
    return (await handle.result()) as Awaited<ReturnType<W>>;
  } catch (err) {
    if (err instanceof WorkflowFailedError && /timed out/i.test(`${err.cause?.name} ${err.cause?.message} ${err.message}`)) {
      throw new Error(`no worker read cluster ${checked.cluster} within ${READ_TIMEOUT} (is \`haflow worker\` running on task queue ${opts.taskQueue ?? TASK_QUEUE}?)`);
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

/**
 * Whether `haflow install` with this topology moves the cluster to TLS: the topology asks for TLS
 * and the cluster's latest operation ran it without. False when haflow has run nothing on it.
 */
export async function installedWithoutTls(client: Client, topology: Topology): Promise<boolean> {
  if (!topology.tls || topology.layout === 'classic') return false;
  try {
    return (await topologyOfCluster(client, topology.cluster)).tls === undefined;
  } catch (err) {
    if (err instanceof NoOperationError) return false;
    throw err;
  }
}
