// The operator's API, one implementation for every runbook: start a runbook by name on the
// cluster's workflow id, follow it, look at it, decide for a blocked step, and ask the
// machines what a runbook would change (check mode). The install keeps only its two
// one-line wrappers at the end. The CLI is a thin shell over these functions, so an
// operator's own script can do everything `haflow` does.
//
// Every function takes a connected Client (see connectClient in ./temporal.ts) and talks only
// to Temporal: the worker does the work, and a run carries on while nobody follows it.
import type { TlsMoveArgs } from '../runbooks/tls-move';
import { randomUUID } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  isGrpcDeadlineError,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { ApplicationFailure, TemporalFailure, WorkflowNotFoundError } from '@temporalio/common';
import { EncryptedPayloadError } from '../connection/codec';
import { TASK_QUEUE } from '../connection/temporal';
import { assertValidTopology, type Topology } from '../topology';
import { clusterWorkflowId } from '../connection/workflow-ids';
import {
  decideUpdate,
  DECISIONS,
  progressQuery,
  RunbookFailureTypes,
  type Decision,
  type DecisionRequest,
  type Progress,
  type RunbookInput,
  type RunbookOutcome,
  type RunStatus,
  type StepState,
} from '../workflows/protocol';
import { RUNBOOKS, runbookInput, type ArgsOf, type RunbookName } from './runbooks';

/** A check run that nobody follows any more ends on its own instead of lingering. */
const CHECK_RUN_TIMEOUT = '1h';
/** How long a query may wait for a worker before we call it unanswered. */
const QUERY_DEADLINE_MS = 3_000;
/** How long a decision may wait for a worker to take it. */
const DECIDE_DEADLINE_MS = 20_000;

export { DECISIONS };

export type RunbookHandle = WorkflowHandleWithFirstExecutionRunId<(input: RunbookInput) => Promise<RunbookOutcome>>;

export interface StartOptions {
  taskQueue?: string;
}

/** How a run that was not completed ended: the failure's type (e.g. RunbookAborted) and message. */
export interface RunError {
  type: string;
  message: string;
}

/** Where a followed run stopped: it completed, it waits for an operator decision, or it ended otherwise. */
export type RunResult =
  | { status: 'completed'; outcome: RunbookOutcome }
  | { status: 'blocked'; step: StepState; blocked: StepState[]; progress: Progress }
  | { status: 'failed'; error: RunError };

/** A request the cluster's state refuses (a schedule that exists already, an application monitor that does not run): the command says it and exits 2. */
export class RequestRefusedError extends Error {}

/** Another operation holds the cluster: Temporal lets one workflow run per cluster id. */
export class ClusterBusyError extends Error {
  override readonly name = 'ClusterBusyError';

  constructor(
    readonly cluster: string,
    readonly workflowId: string,
    readonly workflowType: string,
    readonly startTime: Date,
  ) {
    super(
      `cluster ${cluster} is busy: ${workflowType} ${workflowId} started at ${startTime.toISOString()} is still running; see \`haflow status ${cluster}\``,
    );
  }
}

/** Temporal knows no operation on the cluster (never run, or older than the namespace's retention). */
export class NoOperationError extends Error {
  override readonly name = 'NoOperationError';

  constructor(readonly cluster: string) {
    super(`no operation found for cluster ${cluster} (workflow id ${clusterWorkflowId(cluster)}); start one with \`haflow install <topology>\``);
  }
}

/** decide() without a step id while several steps are blocked: the operator must name one. */
export class AmbiguousStepError extends Error {
  override readonly name = 'AmbiguousStepError';

  constructor(
    readonly cluster: string,
    readonly blocked: string[],
  ) {
    super(`${blocked.length} steps of cluster ${cluster} are blocked: ${blocked.join(', ')}; name one (--step <id>)`);
  }
}

/**
 * Starts a runbook on the cluster's workflow id, with the steps computed here from the
 * topology (so a run is not affected by a later change to haflow's runbooks). Throws
 * ClusterBusyError while another operation runs on the cluster; a completed, failed or aborted
 * one does not stop a new run.
 */
export async function startRunbook<N extends RunbookName>(client: Client, name: N, topology: Topology, args: ArgsOf<N>, opts: StartOptions = {}): Promise<RunbookHandle> {
  const checked = assertValidTopology(topology);
  const workflowId = clusterWorkflowId(checked.cluster);
  const input = runbookInput(name, checked, args) as unknown as RunbookInput;
  const start = () =>
    client.workflow.start<(input: RunbookInput) => Promise<RunbookOutcome>>(RUNBOOKS[name].workflowType, {
      workflowId,
      taskQueue: opts.taskQueue ?? TASK_QUEUE,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
  // One retry: the operation holding the id may finish between our start and our describe.
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      const running = await client.workflow.getHandle(workflowId).describe();
      if (running.status.name === 'RUNNING' || attempt > 1) {
        throw new ClusterBusyError(checked.cluster, running.workflowId, running.type, running.startTime);
      }
    }
  }
}

export interface FollowOptions {
  /** Told once when no worker has answered for `workerWaitMs`, and once when one answers again. */
  onNotice?: (message: string) => void;
  /** Default 500 ms. */
  pollIntervalMs?: number;
  /** Default 5 s. */
  workerWaitMs?: number;
  /** Stops following (the run itself goes on); followRun then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Follows a run until it completes, blocks on a step, or ends otherwise, calling onProgress
 * with each new state. Survives an absent worker (only a worker answers the progress query):
 * it says so once through onNotice and keeps waiting, since a run survives its worker.
 */
export async function followRun(
  handle: WorkflowHandle,
  onProgress: (progress: Progress) => void,
  opts: FollowOptions = {},
): Promise<RunResult> {
  const interval = opts.pollIntervalMs ?? 500;
  const workerWaitMs = opts.workerWaitMs ?? 5_000;
  const notice = opts.onNotice ?? (() => undefined);
  let last: Progress | undefined;
  let lastSeen = '';
  let answeredAt = Date.now();
  let waitingForWorker = false;

  for (;;) {
    opts.signal?.throwIfAborted();
    const description = await handle.describe();
    const taskQueue = description.taskQueue;
    if (description.status.name !== 'RUNNING') {
      const result = await closedRunResult(handle);
      if (result.status === 'completed' && last) {
        // The last query may already have seen the completed run; report it once.
        const final: Progress = { ...last, status: 'completed', steps: result.outcome.steps };
        if (JSON.stringify(final) !== lastSeen) onProgress(final);
      }
      return result;
    }
    const progress = await queryProgress(handle);
    if (progress) {
      if (waitingForWorker) notice(`a worker on task queue ${taskQueue} answers again`);
      waitingForWorker = false;
      answeredAt = Date.now();
      const seen = JSON.stringify(progress);
      if (seen !== lastSeen) {
        lastSeen = seen;
        last = progress;
        onProgress(progress);
      }
      const blocked = progress.steps.filter((s) => s.status === 'blocked');
      if (progress.status === 'blocked' && blocked.length > 0) {
        return { status: 'blocked', step: blocked[0], blocked, progress };
      }
    } else if (!waitingForWorker && Date.now() - answeredAt >= workerWaitMs) {
      waitingForWorker = true;
      notice(
        `waiting for a worker on task queue ${taskQueue} … (none has answered for ${Math.round(workerWaitMs / 1000)} s; ` +
          'start one with `haflow worker`; the run carries on where it is as soon as one polls)',
      );
    }
    await sleep(interval, opts.signal);
  }
}

export type OperationStatus = RunStatus | 'failed' | 'terminated' | 'cancelled' | 'timed out';

/** The latest operation on a cluster, as Temporal and the runner report it. */
export interface ClusterOperation {
  cluster: string;
  workflowId: string;
  runId: string;
  /** The workflow type, e.g. installWorkflow. */
  type: string;
  /** The runbook it runs, e.g. install. */
  runbook: string;
  status: OperationStatus;
  startTime: Date;
  closeTime?: Date;
  /** The runner's step states; undefined when no worker answered (only a worker can). */
  progress?: Progress;
  /** Why a run that did not complete ended. */
  error?: RunError;
}

/** The progress of the cluster's latest operation, running or finished. Throws NoOperationError when there is none. */
export async function getProgress(client: Client, cluster: string): Promise<ClusterOperation> {
  const handle = client.workflow.getHandle(clusterWorkflowId(cluster));
  const description = await describeOrNone(handle, cluster);
  const operation: ClusterOperation = {
    cluster,
    workflowId: description.workflowId,
    runId: description.runId,
    type: description.type,
    runbook: runbookName(description.type),
    status: 'running',
    startTime: description.startTime,
    closeTime: description.closeTime,
  };
  if (description.status.name === 'RUNNING') {
    operation.progress = await queryProgress(handle);
    operation.status = operation.progress?.status ?? 'running';
    return operation;
  }
  const result = await closedRunResult(handle);
  if (result.status === 'completed') {
    // A completed run's outcome holds every step's state: no worker needed to show it.
    operation.status = 'completed';
    operation.progress = { runbook: operation.runbook, cluster, check: false, status: 'completed', steps: result.outcome.steps };
  } else if (result.status === 'failed') {
    // Where an aborted or terminated run stood: a worker replays its history to answer.
    operation.progress = await queryProgress(handle);
    operation.error = result.error;
    operation.status = statusOfEndedRun(description, result.error);
  }
  return operation;
}

/**
 * Sends an operator decision for a blocked step of the cluster's running operation and
 * returns the step as it was when the decision was taken. Without stepId, the one blocked
 * step; AmbiguousStepError when several are. The runner's validator rejects a decision for
 * a step that is not blocked; that message comes back as the error.
 */
export async function decide(
  client: Client,
  cluster: string,
  stepId: string | undefined,
  decision: Decision,
  reason?: string,
): Promise<StepState> {
  if (!DECISIONS.includes(decision)) throw new Error(`decision must be one of ${DECISIONS.join(', ')}, got ${String(decision)}`);
  const handle = client.workflow.getHandle(clusterWorkflowId(cluster));
  const description = await describeOrNone(handle, cluster);
  if (description.status.name !== 'RUNNING') {
    throw new Error(
      `no operation is running on cluster ${cluster}: the latest, ${description.type} ${description.workflowId}, is ${description.status.name.toLowerCase()}; nothing to decide`,
    );
  }
  const request: DecisionRequest = { stepId: stepId ?? (await theBlockedStep(handle, cluster)), decision, ...(reason ? { reason } : {}) };
  try {
    return await client.withDeadline(Date.now() + DECIDE_DEADLINE_MS, () => handle.executeUpdate(decideUpdate, { args: [request] }));
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new Error(`cluster ${cluster}: ${decision} ${request.stepId} rejected: ${err.cause?.message ?? err.message}`);
    }
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isGrpcDeadlineError(err)) {
      throw new Error(
        `no worker took the decision for ${request.stepId} within ${DECIDE_DEADLINE_MS / 1000} s (is \`haflow worker\` running?); ` +
          `it may still be applied when a worker polls: check with \`haflow status ${cluster}\``,
      );
    }
    throw err;
  }
}

export interface CheckRunOptions extends FollowOptions, StartOptions {
  onProgress?: (progress: Progress) => void;
}

/**
 * Runs a runbook in check mode under its own workflow id (it does not hold the cluster):
 * every step reports what it would change (summary, details) and changes nothing. A step that
 * fails blocks a check run like any other; the check run is then ended, since it changes
 * nothing and a decision would not make its answers any truer.
 */
export async function checkRunbook<N extends RunbookName>(
  client: Client,
  name: N,
  topology: Topology,
  args: ArgsOf<N>,
  opts: CheckRunOptions = {},
): Promise<RunResult & { workflowId: string }> {
  const checked = assertValidTopology(topology);
  const workflowId = `${clusterWorkflowId(checked.cluster)}-check-${randomUUID().slice(0, 8)}`;
  const input = runbookInput(name, checked, args, true) as unknown as RunbookInput;
  const handle = await client.workflow.start<(input: RunbookInput) => Promise<RunbookOutcome>>(RUNBOOKS[name].workflowType, {
    workflowId,
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    args: [input],
    workflowExecutionTimeout: CHECK_RUN_TIMEOUT,
  });
  let result: RunResult | undefined;
  try {
    result = await followRun(handle, opts.onProgress ?? (() => undefined), opts);
    return { ...result, workflowId };
  } finally {
    if (result?.status !== 'completed' && result?.status !== 'failed') {
      const why = result ? `step ${result.step.id} failed in check mode` : 'the operator stopped following it';
      await handle.terminate(`check run: ${why}; a check run changes nothing, so it ends here`).catch(() => undefined);
    }
  }
}


export async function describeOrNone(handle: WorkflowHandle, cluster: string): Promise<WorkflowExecutionDescription> {
  try {
    return await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new NoOperationError(cluster);
    throw err;
  }
}

/** The progress query, or undefined when no worker answers in time. */
async function queryProgress(handle: WorkflowHandle): Promise<Progress | undefined> {
  try {
    return await handle.client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(progressQuery));
  } catch (err) {
    // An answer this client cannot decrypt will not get better by waiting: say so.
    if (err instanceof EncryptedPayloadError) throw err;
    // No worker, a worker restarting, or a run that ended before it set its handler: all transient for a follower.
    return undefined;
  }
}

async function theBlockedStep(handle: WorkflowHandle, cluster: string): Promise<string> {
  const progress = await queryProgress(handle);
  if (!progress) {
    throw new Error(`no worker answered to say which step of cluster ${cluster} is blocked; start \`haflow worker\`, or name the step (--step <id>)`);
  }
  const blocked = progress.steps.filter((s) => s.status === 'blocked').map((s) => s.id);
  if (blocked.length === 0) throw new Error(`no step of cluster ${cluster} is blocked (the ${progress.runbook} is ${progress.status}); nothing to decide`);
  if (blocked.length > 1) throw new AmbiguousStepError(cluster, blocked);
  return blocked[0];
}

async function closedRunResult(handle: WorkflowHandle): Promise<RunResult> {
  try {
    return { status: 'completed', outcome: (await handle.result()) as RunbookOutcome };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    return { status: 'failed', error: runError(err) };
  }
}

function runError(err: WorkflowFailedError): RunError {
  const cause = err.cause;
  if (cause instanceof ApplicationFailure) return { type: cause.type ?? 'Error', message: cause.message };
  if (cause instanceof TemporalFailure) return { type: cause.name, message: cause.message || err.message };
  return { type: 'WorkflowFailed', message: cause?.message ?? err.message };
}

function statusOfEndedRun(description: WorkflowExecutionDescription, error: RunError): OperationStatus {
  switch (description.status.name) {
    case 'TERMINATED':
      return 'terminated';
    case 'CANCELLED':
      return 'cancelled';
    case 'TIMED_OUT':
      return 'timed out';
    default:
      return error.type === RunbookFailureTypes.aborted ? 'aborted' : 'failed';
  }
}

/** installWorkflow → install: the runbook a workflow type runs. */
function runbookName(workflowType: string): string {
  return Object.entries(RUNBOOKS).find(([, kind]) => kind.workflowType === workflowType)?.[0] ?? workflowType.replace(/Workflow$/, '');
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

// ---------------------------------------------------------------- the install

/** `haflow install`: the install runbook on the cluster; with `move`, the install that moves a running cluster to TLS. */
export function startInstall(client: Client, topology: Topology, opts: StartOptions = {}, move?: TlsMoveArgs): Promise<RunbookHandle> {
  return startRunbook(client, 'install', topology, move, opts);
}

/** `haflow plan --check`: what the install would change on the machines, changing nothing. */
export function planCheck(client: Client, topology: Topology, opts: CheckRunOptions = {}, move?: TlsMoveArgs): Promise<RunResult & { workflowId: string }> {
  return checkRunbook(client, 'install', topology, move, opts);
}
