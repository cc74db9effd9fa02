// The application observer from a script's point of view: start it (one per cluster), stop it,
// read its status (the workflow's state and event log, plus the last check, which lives in
// the watch activity's heartbeat and never in the history), and ask it to switch back.
import { WorkflowExecutionAlreadyStartedError, type Client, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { TASK_QUEUE } from '../connection/temporal';
import type { WatchState } from '../activities/app/watch';
import { initialObserverState } from '../runbooks/app-observer';
import type { Topology } from '../topology';
import { observerStatusQuery, observerWorkflowId, switchbackUpdate, type AppObserverInput, type ObserverStatus } from '../workflows/app-observer';
import { assertValidTopology, RequestRefusedError } from './api';

export class ObserverRequestError extends RequestRefusedError {}

export interface ObserverView extends ObserverStatus {
  workflowId: string;
  runId: string;
  /** The watch activity's last heartbeat: the last check and the failures in a row. */
  lastCheck?: WatchState;
}

export interface StartObserverOptions extends Pick<AppObserverInput, 'watchSeconds' | 'periodsPerRun' | 'leaderWaitSeconds'> {
  taskQueue?: string;
}

export async function startObserver(client: Client, topology: Topology, opts: StartObserverOptions = {}): Promise<{ workflowId: string; runId: string }> {
  const checked = assertValidTopology(topology);
  try {
    initialObserverState(checked, new Date()); // refuses a topology without a master and a slave
  } catch (err) {
    throw new ObserverRequestError((err as Error).message);
  }
  const workflowId = observerWorkflowId(checked.cluster);
  const { taskQueue, ...tuning } = opts;
  const input: AppObserverInput = { topology: checked, ...tuning };
  try {
    const handle = await client.workflow.start('appObserverWorkflow', {
      workflowId,
      taskQueue: taskQueue ?? TASK_QUEUE,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      staticSummary: `application observer of cluster ${checked.cluster}`,
    });
    return { workflowId, runId: handle.firstExecutionRunId };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new ObserverRequestError(`cluster ${checked.cluster} has an observer running already (${workflowId}): \`haflow observer status ${checked.cluster}\``);
    throw err;
  }
}

/** The running observer's handle, or an error saying there is none. */
async function runningObserver(client: Client, cluster: string) {
  const handle = client.workflow.getHandle(observerWorkflowId(cluster));
  try {
    const description = await handle.describe();
    if (description.status.name !== 'RUNNING') throw new ObserverRequestError(`the observer of cluster ${cluster} is not running (it ended ${description.status.name.toLowerCase()}): \`haflow observer start <topology>\``);
    return { handle, description };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new ObserverRequestError(`cluster ${cluster} has no observer: \`haflow observer start <topology>\``);
    throw err;
  }
}

export async function observerStatus(client: Client, cluster: string): Promise<ObserverView> {
  const { handle, description } = await runningObserver(client, cluster);
  const status = await handle.query(observerStatusQuery);
  const raw = await handle.describe().then((d) => d.raw);
  const watch = raw.pendingActivities?.find((a) => a.activityType?.name === 'watchAppHealth');
  const payload = watch?.heartbeatDetails?.payloads?.[0];
  // Decoded as the worker encoded it (an attempt that has not heartbeated yet has no details).
  const decoded = payload ? client.options.loadedDataConverter.payloadConverter.fromPayload<WatchState | null | undefined>(payload) : undefined;
  const lastCheck = decoded && typeof decoded === 'object' && 'checks' in decoded ? decoded : undefined;
  return { ...status, workflowId: handle.workflowId, runId: description.runId, ...(lastCheck ? { lastCheck } : {}) };
}

export async function stopObserver(client: Client, cluster: string): Promise<void> {
  const { handle } = await runningObserver(client, cluster);
  await handle.cancel();
  await handle.result().catch(() => undefined);
}

/** Switches the application back (to the slave, or `to`); resolves with the observer's event message. */
export async function switchbackApp(client: Client, cluster: string, to?: string): Promise<string> {
  const { handle } = await runningObserver(client, cluster);
  try {
    return await handle.executeUpdate(switchbackUpdate, { args: [{ ...(to ? { to } : {}) }] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new ObserverRequestError(err.cause?.message ?? err.message);
    throw err;
  }
}
