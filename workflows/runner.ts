// The step runner: the one interpreter every runbook runs on.
// It records each step's state, answers the `progress` query, blocks a step that retries
// could not fix and waits for an operator's `decide` update (retry, skip, abort).
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  TemporalFailure,
  type ActivityOptions,
} from '@temporalio/workflow';
import type * as activities from '../activities';
import type { StepResult } from '../activities/contract';
import { isGroup, isLane, runbookProblems, type Runbook, type RunbookItem, type Step, type StepGroup, type StepLane } from '../runbooks/runbook';
import {
  decideUpdate,
  DECISIONS,
  progressQuery,
  RunbookFailureTypes,
  type DecisionRequest,
  type RunbookOutcome,
  type RunStatus,
  type StepError,
  type StepState,
} from './protocol';

/** Every step activity as the runner calls it: the step's input in, a StepResult out. */
type StepActivity = (input: Record<string, unknown>) => Promise<StepResult>;

export interface RunnerOptions {
  check?: boolean;
  /** Default per-attempt time limit of a step's activity. */
  defaultTimeoutSeconds?: number;
  /** Attempts Temporal makes before the step blocks (retryable failures only). */
  maximumAttempts?: number;
  /** Activity names the runbook may use; a step naming another is rejected up front. */
  knownActivities?: readonly string[];
  /** Fields every step's activity receives besides its own input (e.g. the topology). */
  context?: Record<string, unknown>;
  /** Workflow code run around a top-level step (a drill starts its write probe before the fault). */
  hooks?: RunnerHooks;
  /**
   * Unattended runs (a scheduled drill): a blocked step waits this long for an operator's decision,
   * then the run aborts, so that a drill heals its fault and reports instead of holding the cluster.
   */
  abortBlockedAfterSeconds?: number;
}

export interface RunnerHooks {
  beforeStep?(step: Step<string>): Promise<void>;
  afterStep?(step: Step<string>, state: StepState): Promise<void>;
}

const DEFAULTS = { defaultTimeoutSeconds: 600, maximumAttempts: 3 };

/**
 * Runs a runbook to completion. Throws an ApplicationFailure (never a plain Error, which
 * would make Temporal retry the workflow task forever) when the runbook is invalid or the
 * operator aborts.
 */
export async function runRunbook(runbook: Runbook<string>, options: RunnerOptions = {}): Promise<RunbookOutcome> {
  validateRunbook(runbook, options.knownActivities);
  const check = options.check ?? false;
  const states = new Map<string, StepState>();
  /** Each step's state, in execution order, with the nearest group and lane it runs in. */
  const addStates = (items: RunbookItem<string>[], group?: string, lane?: string): void => {
    for (const item of items) {
      if (isGroup(item)) {
        for (const member of item.parallel) {
          if (isLane(member)) addStates(member.lane, item.id, member.id);
          else addState(member, item.id, lane);
        }
      } else {
        addState(item, group, lane);
      }
    }
  };
  const addState = (step: Step<string>, group: string | undefined, lane: string | undefined): void => {
    states.set(step.id, {
      id: step.id,
      title: step.title,
      kind: step.kind,
      host: step.host,
      group,
      ...(lane ? { lane } : {}),
      ...(step.mark ? { mark: step.mark } : {}),
      status: 'pending',
      runs: 0,
    });
  };
  addStates(runbook.items);
  const decisions = new Map<string, DecisionRequest>();
  let runStatus: RunStatus = 'running';
  /** Set when the operator aborts: members of a parallel group (and steps of its lanes) still blocked give up too. */
  let abortedAt: string | undefined;
  const blocked = (): StepState[] => [...states.values()].filter((s) => s.status === 'blocked');

  setHandler(progressQuery, () => ({
    runbook: runbook.name,
    cluster: runbook.cluster,
    check,
    status: runStatus,
    steps: [...states.values()].map((s) => ({ ...s })),
  }));

  setHandler(
    decideUpdate,
    (request) => {
      decisions.set(request.stepId, request);
      return { ...states.get(request.stepId)! };
    },
    {
      validator: (request) => {
        const state = states.get(request?.stepId);
        if (!state) throw new Error(`no step ${request?.stepId} in runbook ${runbook.name}`);
        if (!DECISIONS.includes(request.decision)) {
          throw new Error(`decision must be ${DECISIONS.slice(0, -1).join(', ')} or ${DECISIONS.at(-1)}, got ${String(request.decision)}`);
        }
        if (state.status !== 'blocked') {
          throw new Error(`step ${state.id} is ${state.status}, not blocked: only a blocked step takes a decision`);
        }
        if (decisions.has(state.id)) throw new Error(`step ${state.id} already has a decision`);
      },
    },
  );

  const describe = () => {
    const running = [...states.values()].filter((s) => s.status === 'running');
    const stuck = blocked();
    const done = [...states.values()].filter((s) => s.status === 'done' || s.status === 'skipped').length;
    const head = `${runbook.name} ${runbook.cluster}: ${done}/${states.size} steps done`;
    const lines = [
      ...stuck.map((s) => `BLOCKED ${s.id}: ${s.error?.message ?? ''}${s.error?.remedy ? `\nremedy: ${s.error.remedy}` : ''}`),
      ...running.map((s) => `running ${s.id}: ${s.title}`),
    ];
    setCurrentDetails([head, ...lines].join('\n'));
  };

  const runStep = async (step: Step<string>): Promise<void> => {
    const state = states.get(step.id)!;
    for (;;) {
      state.status = 'running';
      state.runs += 1;
      state.startedAt = new Date().toISOString();
      describe();
      try {
        const result = await activityFor(step, options)({ ...options.context, ...step.input, check });
        state.status = 'done';
        state.changed = result.changed;
        state.summary = result.summary;
        state.details = result.details;
        if (result.facts) state.facts = result.facts;
        state.finishedAt = new Date().toISOString();
        describe();
        return;
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err; // cancellation and the like: not a step failure
        state.error = stepError(err);
        state.status = 'blocked';
        state.finishedAt = new Date().toISOString();
        runStatus = 'blocked';
        describe();
        const decided = () => decisions.has(step.id) || abortedAt !== undefined;
        let gaveUp = false;
        if (options.abortBlockedAfterSeconds === undefined) await condition(decided);
        else if (!(await condition(decided, `${options.abortBlockedAfterSeconds}s`))) {
          gaveUp = true;
          decisions.set(step.id, {
            stepId: step.id,
            decision: 'abort',
            reason: `unattended run: no operator decided within ${options.abortBlockedAfterSeconds < 120 ? `${options.abortBlockedAfterSeconds} s` : `${Math.round(options.abortBlockedAfterSeconds / 60)} min`}`,
          });
        }
        const decision = decisions.get(step.id) ?? { stepId: step.id, decision: 'abort', reason: `aborted at ${abortedAt}` };
        decisions.delete(step.id);
        if (blocked().length === 1) runStatus = 'running';
        if (decision.decision === 'skip') {
          state.status = 'skipped';
          state.summary = `skipped by operator${decision.reason ? `: ${decision.reason}` : ''}`;
          describe();
          return;
        }
        if (decision.decision === 'abort') {
          const by = gaveUp ? '' : ' by the operator';
          state.summary = `aborted${gaveUp ? '' : ' by operator'}${decision.reason ? `: ${decision.reason}` : ''}`;
          runStatus = 'aborted';
          abortedAt ??= step.id;
          describe();
          throw ApplicationFailure.create({
            type: RunbookFailureTypes.aborted,
            nonRetryable: true,
            message: `${runbook.name} of ${runbook.cluster} aborted${by} at step ${step.id}${
              decision.reason ? ` (${decision.reason})` : ''
            }; last error: ${state.error.message}`,
          });
        }
        // retry: loop and run the activity again
      }
    }
  };

  // Only a top-level step runs with the hooks, as before there were lanes. A group's members all
  // start at once, in their listed order, and a step member schedules its activity as it starts:
  // a runbook without lanes asks Temporal for exactly what it always has, so the histories of
  // runs in flight replay.
  const runMembers = (group: StepGroup<string>): Promise<void> => runGroup(group.parallel.map((member) => () => runMember(member)));
  const runMember = (member: Step<string> | StepLane<string>): Promise<void> => (isLane(member) ? runLane(member) : runStep(member));
  /** A lane's items one after another; a step that aborts ends the lane there (its error goes to the group). */
  const runLane = async (lane: StepLane<string>): Promise<void> => {
    for (const item of lane.lane) {
      if (isGroup(item)) await runMembers(item);
      else await runStep(item);
    }
  };

  for (const item of runbook.items) {
    if (isGroup(item)) {
      await runMembers(item);
    } else {
      await options.hooks?.beforeStep?.(item);
      await runStep(item);
      await options.hooks?.afterStep?.(item, { ...states.get(item.id)! });
    }
  }
  runStatus = 'completed';
  describe();
  const all = [...states.values()];
  const doneUnchanged = all.filter((s) => s.status === 'done' && !s.changed);
  return {
    status: 'completed',
    changed: all.filter((s) => s.status === 'done' && s.changed).length,
    unchanged: doneUnchanged.filter((s) => s.kind === 'change').length,
    passed: doneUnchanged.filter((s) => s.kind !== 'change').length,
    skipped: all.filter((s) => s.status === 'skipped').map((s) => s.id),
    steps: all,
  };
}

/**
 * Runs a parallel group; when one member aborts, the others are allowed to finish first (a lane
 * runs on to its end, and a step of it that blocks afterwards aborts at once), then the group
 * throws the failure of the first member, in listed order, that failed.
 */
async function runGroup(members: (() => Promise<void>)[]): Promise<void> {
  const results = await Promise.allSettled(members.map((run) => run()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

function activityFor(step: Step<string>, options: RunnerOptions): StepActivity {
  const activityOptions: ActivityOptions = {
    startToCloseTimeout: `${step.timeoutSeconds ?? options.defaultTimeoutSeconds ?? DEFAULTS.defaultTimeoutSeconds}s`,
    heartbeatTimeout: step.heartbeatSeconds ? `${step.heartbeatSeconds}s` : undefined,
    retry: {
      maximumAttempts: step.attempts ?? options.maximumAttempts ?? DEFAULTS.maximumAttempts,
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '30s',
    },
    summary: step.title,
  };
  // Typed by haflow's activities; a runbook given as data (runbookWorkflow) may name others.
  const proxies = proxyActivities<typeof activities>(activityOptions) as unknown as Record<string, StepActivity>;
  return proxies[step.activity];
}

/** The operator-facing error of a failed step: the innermost application failure's message, type and remedy. */
function stepError(failure: ActivityFailure): StepError {
  let cause: unknown = failure.cause;
  while (cause instanceof TemporalFailure && !(cause instanceof ApplicationFailure) && cause.cause) cause = cause.cause;
  if (cause instanceof ApplicationFailure) {
    const detail = cause.details?.[0] as { remedy?: string } | undefined;
    return { message: cause.message, type: cause.type ?? 'Error', remedy: detail?.remedy };
  }
  if (cause instanceof TemporalFailure) return { message: cause.message, type: cause.name };
  return { message: failure.message, type: 'ActivityFailure' };
}

function validateRunbook(runbook: Runbook<string>, knownActivities?: readonly string[]): void {
  const problems = runbookProblems(runbook, knownActivities);
  if (problems.length > 0) {
    throw ApplicationFailure.create({
      type: RunbookFailureTypes.invalidRunbook,
      nonRetryable: true,
      message: `runbook ${runbook?.name} of ${runbook?.cluster} is invalid:\n${problems.join('\n')}`,
    });
  }
}
