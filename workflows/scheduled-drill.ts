// One run of a schedule (`haflow schedule create`): the drill's gates, the drill itself as a
// child on the cluster's workflow id (so it never runs beside another operation), the cluster's
// health afterwards, the result kept in the run's memo and details for `haflow schedule list`
// and the Temporal UI, the notifications, and a failure of this run when the topology wants a
// problem to pause the schedule (the schedule pauses on a failed run).
//
// A gate that refuses (another operation holds the cluster, the cluster is not healthy) is a
// skip: recorded with its reason, never a failure, so it does not pause the schedule.
import {
  ApplicationFailure,
  ChildWorkflowFailure,
  ParentClosePolicy,
  proxyActivities,
  setCurrentDetails,
  startChild,
  TemporalFailure,
  upsertMemo,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type * as activities from '../activities';
import { drillRun, drillSteps, type DrillArgs } from '../runbooks/drill';
import {
  describeResult,
  notificationOf,
  outcomeOfReport,
  pausesSchedule,
  reportId,
  scheduledFigures,
  shouldNotify,
  type ScheduledDrillInput,
  type ScheduledRunResult,
} from '../runbooks/scheduled';
import { faultProblems } from '../topology/faults';
import type { drillWorkflow, DrillInput } from './drill';
import { clusterWorkflowId } from '../connection/workflow-ids';

/** Minutes a blocked step of a scheduled drill waits for an operator before the drill aborts. */
const DEFAULT_BLOCKED_MINUTES = 30;

export const ScheduledFailureTypes = {
  /** The run failed on purpose: the drill failed or missed the objectives, and the topology pauses schedules then. */
  pauseSchedule: 'ScheduledDrillProblem',
} as const;

const { readClusterHealth, runningClusterOperation } = proxyActivities<typeof activities>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 3, initialInterval: '2s' },
});

/** A failing receiver is retried for a few minutes, then reported; it never fails the run. */
const { sendWebhook, runNotifyCommand } = proxyActivities<typeof activities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '30s',
  retry: { maximumAttempts: 5, initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '1m' },
});

export async function scheduledDrillWorkflow(input: ScheduledDrillInput): Promise<ScheduledRunResult> {
  const { topology, fault, scheduleId } = input;
  const cluster = topology.cluster;
  const result: ScheduledRunResult = { scheduleId, cluster, fault, outcome: 'skipped', reasons: [], startedAt: new Date().toISOString(), finishedAt: '', notifications: [] };
  const say = (line: string) => setCurrentDetails(`${scheduleId}: ${line}`);

  say(`gates of the ${fault} drill on ${cluster}`);
  const refusal = await gateRefusal(input);
  if (refusal.skip) {
    result.reasons = [refusal.skip];
    if (refusal.unhealthy) result.unhealthyBefore = true;
  } else if (refusal.failure) {
    result.outcome = 'failed';
    result.reasons = [refusal.failure];
  } else {
    const args = refusal.args!;
    say(`running the ${fault} drill on ${cluster} (workflow ${clusterWorkflowId(cluster)})`);
    await runDrill(input, args, result);
    // What the drill left behind: read again, whatever its own last step said.
    const after = await readClusterHealth({ topology }).catch((err: Error) => ({ healthy: false, problems: [`the health could not be read: ${err.message}`] }));
    result.healthyAfter = after.healthy;
    result.problemsAfter = after.problems;
  }
  result.finishedAt = new Date().toISOString();

  if (shouldNotify(topology, result)) await notifyAll(input, result);
  const line = describeResult(result);
  upsertMemo({ haflowResult: result });
  setCurrentDetails(line);
  if (pausesSchedule(topology, result)) {
    // The schedule pauses on a failed run (pauseOnFailure): this failure is that signal.
    throw ApplicationFailure.create({ type: ScheduledFailureTypes.pauseSchedule, nonRetryable: true, message: `${line} (the topology's objectives pause the schedule on a problem)`, details: [result] });
  }
  return result;
}

interface GateAnswer {
  skip?: string;
  /** The skip is for an unhealthy cluster. */
  unhealthy?: boolean;
  failure?: string;
  args?: DrillArgs;
}

/** The refusals `haflow drill` would give, as a skip (try again next time) or a failure (the schedule itself is wrong). */
async function gateRefusal(input: ScheduledDrillInput): Promise<GateAnswer> {
  const { topology, fault } = input;
  const drivers = faultProblems(topology, fault);
  if (drivers.length > 0) return { failure: `the ${fault} drill cannot run on this topology: ${drivers.join('; ')}` };
  const busy = await runningClusterOperation({ cluster: topology.cluster });
  if (busy) return { skip: `another operation holds the cluster: ${busy.type} ${busy.workflowId}, started at ${busy.startTime}` };
  const health = await readClusterHealth({ topology });
  if (!health.healthy || !health.leader) return { unhealthy: true, skip: `the cluster is not healthy, and a drill starts only on a healthy cluster: ${health.problems.join('; ')}` };
  // A switchover goes to the best replica now: planned here, so that a retried fault step switches over once.
  return { args: { fault, leader: health.leader, switchBack: input.switchBack, ...(fault === 'switchover' && health.candidate ? { candidate: health.candidate } : {}) } };
}

/** The drill as a child on the cluster's id; its outcome and figures go into `result`. */
async function runDrill(input: ScheduledDrillInput, args: DrillArgs, result: ScheduledRunResult): Promise<void> {
  const { topology } = input;
  const drillInput: DrillInput = {
    runbook: drillSteps(topology, args),
    topology,
    drill: drillRun(topology, args),
    abortBlockedAfterMinutes: input.blockedMinutes ?? DEFAULT_BLOCKED_MINUTES,
  };
  let child: ChildWorkflowHandle<typeof drillWorkflow>;
  try {
    child = await startChild<typeof drillWorkflow>('drillWorkflow', {
      workflowId: clusterWorkflowId(topology.cluster),
      args: [drillInput],
      // Cancelling this run cancels the drill, which heals its fault; terminating it would leave the fault.
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      staticSummary: `${args.fault} drill of ${topology.cluster}, from schedule ${input.scheduleId}`,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    result.reasons = [`another operation started on the cluster meanwhile (${clusterWorkflowId(topology.cluster)})`];
    return;
  }
  result.drill = { workflowId: child.workflowId, runId: child.firstExecutionRunId };
  try {
    const outcome = await child.result();
    const verdict = outcomeOfReport(outcome.report);
    result.outcome = verdict.outcome;
    result.reasons = verdict.reasons;
    if (outcome.report) {
      result.figures = scheduledFigures(outcome.report);
      result.drill.reportId = reportId(outcome.report);
    }
  } catch (err) {
    result.outcome = 'failed';
    result.reasons = [`the drill did not complete: ${failureMessage(err)}`];
  }
}

async function notifyAll(input: ScheduledDrillInput, result: ScheduledRunResult): Promise<void> {
  const { topology } = input;
  const info = workflowInfo();
  const notification = notificationOf(topology, result, { namespace: info.namespace, workflowId: info.workflowId, runId: info.runId });
  const channels: [string, () => Promise<{ summary: string }>][] = [];
  if (topology.notify?.webhook) channels.push(['webhook', () => sendWebhook({ topology, notification })]);
  if (topology.notify?.command) channels.push(['command', () => runNotifyCommand({ topology, notification })]);
  for (const [name, send] of channels) {
    try {
      result.notifications.push(`${name}: ${(await send()).summary}`);
    } catch (err) {
      result.notifications.push(`${name}: FAILED after retries: ${failureMessage(err)}`);
    }
  }
}

/** The innermost message of a failure (a child's or an activity's). */
function failureMessage(err: unknown): string {
  let cause: unknown = err;
  while ((cause instanceof ChildWorkflowFailure || (cause instanceof TemporalFailure && !(cause instanceof ApplicationFailure))) && cause.cause) cause = cause.cause;
  return cause instanceof Error ? cause.message : String(cause);
}
