// The application monitor (the guide's Application HA Observer) from a script's point of view:
// start it (one per cluster), stop it, read its status (the workflow's state and event log, plus
// the last check, which lives in the watch activity's heartbeat and never in the history), and ask
// it to switch back. A monitor started before it had its own name runs under its earlier workflow
// id; every function here finds it there too.
import { WorkflowExecutionAlreadyStartedError, type Client, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { TASK_QUEUE } from '../connection/temporal';
import type { WatchState } from '../activities/app/watch';
import { initialMonitorState } from '../runbooks/app-monitor';
import { assertValidTopology, type Topology } from '../topology';
import { earlierMonitorWorkflowId, monitorWorkflowId } from '../connection/workflow-ids';
import { monitorStatusQuery, switchbackUpdate, type AppMonitorInput, type MonitorStatus } from '../workflows/app-monitor';
import { RequestRefusedError } from './api';

export class MonitorRequestError extends RequestRefusedError {}

export interface MonitorView extends MonitorStatus {
  workflowId: string;
  runId: string;
  /** The watch activity's last heartbeat: the last check and the failures in a row. */
  lastCheck?: WatchState;
}

export interface StartMonitorOptions extends Pick<AppMonitorInput, 'watchSeconds' | 'periodsPerRun' | 'leaderWaitSeconds'> {
  taskQueue?: string;
}

export async function startMonitor(client: Client, topology: Topology, opts: StartMonitorOptions = {}): Promise<{ workflowId: string; runId: string }> {
  const checked = assertValidTopology(topology);
  try {
    initialMonitorState(checked, new Date()); // refuses a topology without a master and a slave
  } catch (err) {
    throw new MonitorRequestError((err as Error).message);
  }
  const workflowId = monitorWorkflowId(checked.cluster);
  const earlier = await client.workflow
    .getHandle(earlierMonitorWorkflowId(checked.cluster))
    .describe()
    .then((d) => d.status.name === 'RUNNING', () => false);
  if (earlier) {
    throw new MonitorRequestError(
      `cluster ${checked.cluster} has an application monitor running already, started by an earlier haflow (${earlierMonitorWorkflowId(checked.cluster)}): \`haflow monitor stop ${checked.cluster}\`, then start it again`,
    );
  }
  const { taskQueue, ...tuning } = opts;
  const input: AppMonitorInput = { topology: checked, ...tuning };
  try {
    const handle = await client.workflow.start('appMonitorWorkflow', {
      workflowId,
      taskQueue: taskQueue ?? TASK_QUEUE,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      staticSummary: `application monitor of cluster ${checked.cluster}`,
    });
    return { workflowId, runId: handle.firstExecutionRunId };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new MonitorRequestError(`cluster ${checked.cluster} has an application monitor running already (${workflowId}): \`haflow monitor status ${checked.cluster}\``);
    throw err;
  }
}

/** The running monitor's handle (under its id, or the earlier one), or an error saying there is none. */
async function runningMonitor(client: Client, cluster: string) {
  let ended: string | undefined;
  for (const workflowId of [monitorWorkflowId(cluster), earlierMonitorWorkflowId(cluster)]) {
    const handle = client.workflow.getHandle(workflowId);
    try {
      const description = await handle.describe();
      if (description.status.name === 'RUNNING') return { handle, description };
      ended ??= description.status.name.toLowerCase();
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
  if (ended) throw new MonitorRequestError(`the application monitor of cluster ${cluster} is not running (it ended ${ended}): \`haflow monitor start <topology>\``);
  throw new MonitorRequestError(`cluster ${cluster} has no application monitor: \`haflow monitor start <topology>\``);
}

/** A heartbeat's payload as the worker sent it: through the codecs (decrypted), then the payload converter. */
async function decodeHeartbeat(client: Client, payload: Payload): Promise<WatchState | null | undefined> {
  const { payloadCodecs, payloadConverter } = client.options.loadedDataConverter;
  let decoded = payload;
  // The codecs encoded in order; they decode in the reverse one.
  for (const codec of [...payloadCodecs].reverse()) [decoded] = await codec.decode([decoded]);
  return payloadConverter.fromPayload<WatchState | null | undefined>(decoded);
}

/** How long `stopMonitor` waits for the monitor to end after it was asked to. */
const STOP_WAIT_MS = 60_000;

export async function monitorStatus(client: Client, cluster: string): Promise<MonitorView> {
  const { handle, description } = await runningMonitor(client, cluster);
  const status = await handle.query(monitorStatusQuery);
  const raw = await handle.describe().then((d) => d.raw);
  const watch = raw.pendingActivities?.find((a) => a.activityType?.name === 'watchAppHealth');
  const payload = watch?.heartbeatDetails?.payloads?.[0];
  // Decoded as the worker encoded it, through the codec too (an attempt that has not heartbeated yet has no details).
  const decoded = payload ? await decodeHeartbeat(client, payload) : undefined;
  const lastCheck = decoded && typeof decoded === 'object' && 'checks' in decoded ? decoded : undefined;
  return { ...status, workflowId: handle.workflowId, runId: description.runId, ...(lastCheck ? { lastCheck } : {}) };
}

/**
 * Asks the monitor to stop (a failover in progress is cancelled with it) and waits until it has
 * ended; a monitor still running after STOP_WAIT_MS (no worker to take the cancellation, say) is
 * an error that says so, never a stop reported that did not happen.
 */
export async function stopMonitor(client: Client, cluster: string, opts: { waitMs?: number } = {}): Promise<void> {
  const { handle } = await runningMonitor(client, cluster);
  await handle.cancel();
  const deadline = Date.now() + (opts.waitMs ?? STOP_WAIT_MS);
  for (;;) {
    const status = (await handle.describe()).status.name;
    if (status !== 'RUNNING') return;
    if (Date.now() >= deadline) {
      throw new MonitorRequestError(
        `the application monitor of cluster ${cluster} (${handle.workflowId}) was asked to stop but still runs after ${Math.round((opts.waitMs ?? STOP_WAIT_MS) / 1000)} s: is a haflow worker running? It stops once a worker takes the cancellation; \`haflow monitor status ${cluster}\``,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Switches the application back (to the slave, or `to`); resolves with the monitor's event message. */
export async function switchbackApp(client: Client, cluster: string, to?: string): Promise<string> {
  const { handle } = await runningMonitor(client, cluster);
  try {
    return await handle.executeUpdate(switchbackUpdate, { args: [{ ...(to ? { to } : {}) }] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new MonitorRequestError(err.cause?.message ?? err.message);
    throw err;
  }
}
