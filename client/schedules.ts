// Scheduled failover tests on Temporal Schedules: each schedule starts scheduledDrillWorkflow
// (workflows/scheduled-drill.ts) for one cluster and one fault. Temporal keeps the timetable,
// skips a run while the schedule's previous one still runs, catches up missed runs for a bounded
// window after an outage, and pauses the schedule when a run fails. The API for scripts; the
// commands (cli/schedule-commands.ts) print what it returns.
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  WorkflowFailedError,
  type Client,
  type ScheduleDescription,
  type ScheduleOptionsAction,
  type ScheduleSpec,
  type WorkflowExecutionDescription,
} from '@temporalio/client';
import { TASK_QUEUE } from '../connection/temporal';
import type { ScheduledDrillInput, ScheduledRunResult } from '../runbooks/scheduled';
import { FAULTS, faultProblems, type FaultName } from '../topology/faults';
import { assertValidTopology, type Topology } from '../topology';
import type { scheduledDrillWorkflow } from '../workflows';
import { RequestRefusedError } from './api';

/** Missed runs (the server was down) are made up for this long afterwards, then dropped. */
export const CATCHUP_WINDOW = '1h';
/** The shortest interval between runs: a drill takes a minute or so, with its gates and rejoin. */
const MIN_INTERVAL_SECONDS = 60;

/** When a schedule runs: a cron expression (UTC) or a fixed interval. */
export type When = { cron: string } | { every: string };

export interface ScheduleRequest {
  topology: Topology;
  fault: FaultName;
  when: When;
  /** Defaults to <cluster>-<fault>. */
  id?: string;
  switchBack?: boolean;
  paused?: boolean;
  note?: string;
  taskQueue?: string;
  /** Minutes a blocked step of a scheduled drill waits for an operator before the drill aborts (default 30). */
  blockedMinutes?: number;
}

/** What haflow keeps in a schedule's memo: which cluster and fault, for lists and the Temporal UI. */
export interface ScheduleMemo {
  haflow: 'scheduled-drill';
  cluster: string;
  fault: FaultName;
  switchBack: boolean;
  when: string;
  note?: string;
}

/** The result of one run of a schedule, as `list` and `describe` show it. */
export interface ScheduledRunView {
  workflowId: string;
  runId: string;
  startedAt: Date;
  status: 'running' | 'completed' | 'failed' | 'other';
  /** The run's result (kept in its memo): passed, missed, failed or skipped, with figures. */
  result?: ScheduledRunResult;
  /** Why a run without a result ended. */
  error?: string;
}

export interface ScheduleView {
  id: string;
  cluster: string;
  fault: FaultName;
  switchBack: boolean;
  when: string;
  note?: string;
  paused: boolean;
  /** Why it is paused (the operator's note, or Temporal's after a failed run). */
  pausedBecause?: string;
  nextRuns: Date[];
  runs: ScheduledRunView[];
  skippedOverlap: number;
  missedCatchup: number;
  createdAt: Date;
}

export class ScheduleRequestError extends RequestRefusedError {
  override readonly name = 'ScheduleRequestError';
}

/** `7d`, `12h`, `30m`, `90s` → seconds; undefined when not such a duration. */
export function intervalSeconds(every: string): number | undefined {
  const m = /^(\d+)(s|m|h|d|w)$/.exec(every.trim());
  if (!m) return undefined;
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
}

/** The schedule's spec, or a ScheduleRequestError saying what would be valid. */
export function scheduleSpec(when: When): ScheduleSpec {
  if ('every' in when) {
    const seconds = intervalSeconds(when.every);
    if (seconds === undefined) throw new ScheduleRequestError(`--every ${when.every}: write a duration such as 7d, 12h, 30m or 90s`);
    if (seconds < MIN_INTERVAL_SECONDS) throw new ScheduleRequestError(`--every ${when.every}: at least ${MIN_INTERVAL_SECONDS} s between drills (a drill with its gates and rejoin takes about a minute)`);
    return { intervals: [{ every: `${seconds}s` }] };
  }
  const cron = when.cron.trim();
  if (!/^@(yearly|annually|monthly|weekly|daily|hourly)$/.test(cron) && cron.split(/\s+/).length !== 5) {
    throw new ScheduleRequestError(`--cron '${when.cron}': write five fields (minute hour day-of-month month day-of-week, in UTC) such as '0 3 * * 1', or @daily / @weekly`);
  }
  return { cronExpressions: [cron] };
}

function describeWhen(when: When): string {
  return 'every' in when ? `every ${when.every}` : `cron '${when.cron}' (UTC)`;
}

function scheduledWorkflowId(scheduleId: string): string {
  // Temporal appends the run's time to it.
  return `haflow-scheduled-${scheduleId}`;
}

interface ActionSettings {
  fault: FaultName;
  switchBack?: boolean;
  blockedMinutes?: number;
  taskQueue?: string;
  note?: string;
  /** How the schedule runs, in words (the spec as Temporal returns it no longer says "cron"). */
  when: string;
}

function actionFor(settings: ActionSettings, id: string, topology: Topology): ScheduleOptionsAction {
  const input: ScheduledDrillInput = {
    scheduleId: id,
    fault: settings.fault,
    topology,
    when: settings.when,
    ...(settings.note ? { note: settings.note } : {}),
    ...(settings.switchBack ? { switchBack: true } : {}),
    ...(settings.blockedMinutes !== undefined ? { blockedMinutes: settings.blockedMinutes } : {}),
  };
  return {
    type: 'startWorkflow',
    workflowType: 'scheduledDrillWorkflow',
    workflowId: scheduledWorkflowId(id),
    taskQueue: settings.taskQueue ?? TASK_QUEUE,
    args: [input] as Parameters<typeof scheduledDrillWorkflow>,
    staticSummary: `scheduled ${settings.fault} drill of cluster ${topology.cluster}`,
    staticDetails: `schedule ${id}: ${settings.when}${settings.switchBack ? ', switching back' : ''}${settings.note ? `\n${settings.note}` : ''}`,
  };
}

/**
 * Why a fault cannot be scheduled on this topology: its drivers or machines (faultProblems), or a
 * fault that needs what only a running application monitor knows (the application master after a failover).
 */
function schedulingProblems(topology: Topology, fault: FaultName): string[] {
  const problems = faultProblems(topology, fault);
  if (FAULTS[fault].target === 'app-master') {
    problems.push(`${fault} strikes the application monitor's current master, which a scheduled run does not ask yet; run it with \`haflow drill ${topology.cluster} --fault ${fault}\``);
  }
  return problems;
}

/** Creates a schedule; refused (ScheduleRequestError) when its fault cannot run on the topology or the id is taken. */
export async function createSchedule(client: Client, request: ScheduleRequest): Promise<ScheduleView> {
  const topology = assertValidTopology(request.topology);
  const id = request.id ?? `${topology.cluster}-${request.fault}`;
  if (!/^[a-z0-9][a-z0-9-]{0,99}$/.test(id)) throw new ScheduleRequestError(`--id ${id}: lower-case letters, digits and dashes, such as ${topology.cluster}-weekly`);
  const drivers = schedulingProblems(topology, request.fault);
  if (drivers.length > 0) throw new ScheduleRequestError(`a ${request.fault} drill cannot run on cluster ${topology.cluster}:\n${drivers.map((d) => `  - ${d}`).join('\n')}`);
  const spec = scheduleSpec(request.when);
  const memo: ScheduleMemo = { haflow: 'scheduled-drill', cluster: topology.cluster, fault: request.fault, switchBack: !!request.switchBack, when: describeWhen(request.when), ...(request.note ? { note: request.note } : {}) };
  try {
    await client.schedule.create({
      scheduleId: id,
      spec,
      action: actionFor({ ...request, when: describeWhen(request.when) }, id, topology),
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: CATCHUP_WINDOW, pauseOnFailure: true },
      state: { paused: !!request.paused, note: scheduleNote(memo, request.paused ? 'created paused' : undefined) },
      memo: memo as unknown as Record<string, unknown>,
    });
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) throw new ScheduleRequestError(`a schedule ${id} exists already: \`haflow schedule describe ${id}\`, or give this one another --id`);
    throw err;
  }
  return describeSchedule(client, id);
}

/** The schedule's note: which cluster and fault, and why it was paused. */
function scheduleNote(memo: ScheduleMemo, why?: string): string {
  return `${memo.fault} drill of cluster ${memo.cluster}, ${memo.when}${memo.note ? ` — ${memo.note}` : ''}${why ? ` [${why}]` : ''}`;
}

export interface ScheduleChanges {
  when?: When;
  fault?: FaultName;
  switchBack?: boolean;
  note?: string;
  /** The cluster's topology now (after a tune, say): the next runs use it. */
  topology?: Topology;
}

export async function updateSchedule(client: Client, id: string, changes: ScheduleChanges): Promise<ScheduleView> {
  const current = await describeRaw(client, id);
  const memo = memoOf(current);
  const topology = changes.topology ? assertValidTopology(changes.topology) : (current.action.args?.[0] as ScheduledDrillInput).topology;
  if (changes.topology && changes.topology.cluster !== memo.cluster) {
    throw new ScheduleRequestError(`the topology is of cluster ${changes.topology.cluster}, but schedule ${id} drills cluster ${memo.cluster}`);
  }
  const fault = changes.fault ?? memo.fault;
  const drivers = schedulingProblems(topology, fault);
  if (drivers.length > 0) throw new ScheduleRequestError(`a ${fault} drill cannot run on cluster ${topology.cluster}:\n${drivers.map((d) => `  - ${d}`).join('\n')}`);
  const spec = changes.when ? scheduleSpec(changes.when) : undefined;
  const previousInput = current.action.args?.[0] as ScheduledDrillInput;
  const switchBack = changes.switchBack ?? memo.switchBack;
  const newMemo: ScheduleMemo = {
    ...memo,
    fault,
    switchBack,
    ...(changes.when ? { when: describeWhen(changes.when) } : {}),
    ...(changes.note !== undefined ? { note: changes.note } : {}),
  };
  await client.schedule.getHandle(id).update((previous) => ({
    ...previous,
    ...(spec ? { spec } : {}),
    action: actionFor({ fault, switchBack, note: newMemo.note, when: newMemo.when, blockedMinutes: previousInput.blockedMinutes, taskQueue: previous.action.taskQueue }, id, topology),
    state: { ...previous.state, note: scheduleNote(newMemo, previous.state.paused ? pausedWhy(previous.state.note) : undefined) },
  }));
  // An update cannot change the memo: what changes is read back from the action's input.
  return describeSchedule(client, id);
}

function pausedWhy(note?: string): string | undefined {
  return note?.match(/\[(.*)\]$/)?.[1] ?? note;
}

export async function pauseSchedule(client: Client, id: string, reason?: string): Promise<ScheduleView> {
  const memo = memoOf(await describeRaw(client, id));
  await client.schedule.getHandle(id).pause(scheduleNote(memo, `paused by an operator${reason ? `: ${reason}` : ''}`));
  return describeSchedule(client, id);
}

export async function unpauseSchedule(client: Client, id: string): Promise<ScheduleView> {
  const memo = memoOf(await describeRaw(client, id));
  await client.schedule.getHandle(id).unpause(scheduleNote(memo));
  return describeSchedule(client, id);
}

/** Runs the schedule's drill now (also when paused); resolves with the new run's workflow id and run id. */
export async function triggerSchedule(client: Client, id: string): Promise<{ workflowId: string; runId: string }> {
  const before = await describeRaw(client, id);
  const running = before.info.runningActions[0];
  if (running) throw new ScheduleRequestError(`schedule ${id} has a run in progress (${running.workflow.workflowId}); a schedule runs one at a time: wait for it, or \`haflow cancel ${memoOf(before).cluster}\` to end its drill`);
  const seen = new Set(before.info.recentActions.map((a) => a.action.workflow.workflowId));
  // A run's workflow id ends with its start time in whole seconds: a second run in the same second would collide.
  const last = before.info.recentActions.at(-1)?.takenAt.getTime();
  if (last !== undefined && Math.floor(last / 1000) >= Math.floor(Date.now() / 1000) - 1) await new Promise((resolve) => setTimeout(resolve, 2000 - (Date.now() % 1000)));
  // The schedule's own overlap policy: Temporal then watches the run, and pauses the schedule when it fails.
  await client.schedule.getHandle(id).trigger(ScheduleOverlapPolicy.SKIP);
  for (let i = 0; i < 100; i++) {
    const now = await describeRaw(client, id);
    const fresh = [...now.info.recentActions.map((a) => a.action), ...now.info.runningActions].find((a) => !seen.has(a.workflow.workflowId));
    if (fresh) return { workflowId: fresh.workflow.workflowId, runId: fresh.workflow.firstExecutionRunId };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`schedule ${id} was triggered, but its run did not show within 20 s; see \`haflow schedule describe ${id}\``);
}

/** The result of a run of a schedule once it ended. */
export async function scheduledRunResult(client: Client, run: { workflowId: string; runId: string }): Promise<ScheduledRunView> {
  const handle = client.workflow.getHandle(run.workflowId, run.runId);
  try {
    await handle.result();
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
  }
  return runView(await handle.describe());
}

export async function deleteSchedule(client: Client, id: string): Promise<void> {
  await describeRaw(client, id);
  await client.schedule.getHandle(id).delete();
}

/** haflow's schedules (of one cluster, or all), each with its recent runs' results. */
export async function listSchedules(client: Client, cluster?: string): Promise<ScheduleView[]> {
  const ids: string[] = [];
  for await (const summary of client.schedule.list()) {
    const memo = summary.memo as Partial<ScheduleMemo> | undefined;
    if (memo?.haflow !== 'scheduled-drill' || (cluster && memo.cluster !== cluster)) continue;
    ids.push(summary.scheduleId);
  }
  const views = await Promise.all(ids.map((id) => describeSchedule(client, id).catch(() => undefined)));
  return views.filter((v): v is ScheduleView => !!v).sort((a, b) => a.cluster.localeCompare(b.cluster) || a.id.localeCompare(b.id));
}

export async function describeSchedule(client: Client, id: string): Promise<ScheduleView> {
  const description = await describeRaw(client, id);
  const memo = memoOf(description);
  const runs = await Promise.all(
    [...description.info.recentActions].reverse().map(async (a) => {
      const handle = client.workflow.getHandle(a.action.workflow.workflowId, a.action.workflow.firstExecutionRunId);
      return handle.describe().then(runView, (err: Error) => ({ workflowId: a.action.workflow.workflowId, runId: a.action.workflow.firstExecutionRunId, startedAt: a.takenAt, status: 'other' as const, error: err.message }));
    }),
  );
  return {
    id,
    cluster: memo.cluster,
    fault: memo.fault,
    switchBack: memo.switchBack,
    when: memo.when,
    note: memo.note,
    paused: description.state.paused,
    pausedBecause: description.state.paused ? pausedWhy(description.state.note) : undefined,
    nextRuns: description.info.nextActionTimes,
    runs,
    skippedOverlap: description.info.numActionsSkippedOverlap,
    missedCatchup: description.info.numActionsMissedCatchupWindow,
    createdAt: description.info.createdAt,
  };
}

function runView(d: WorkflowExecutionDescription): ScheduledRunView {
  const memo = d.memo as { haflowResult?: ScheduledRunResult } | undefined;
  const status = d.status.name === 'RUNNING' ? 'running' : d.status.name === 'COMPLETED' ? 'completed' : d.status.name === 'FAILED' ? 'failed' : 'other';
  return {
    workflowId: d.workflowId,
    runId: d.runId,
    startedAt: d.startTime,
    status,
    ...(memo?.haflowResult ? { result: memo.haflowResult } : {}),
    ...(status === 'other' ? { error: d.status.name.toLowerCase() } : {}),
  };
}

async function describeRaw(client: Client, id: string): Promise<ScheduleDescription> {
  try {
    return await client.schedule.getHandle(id).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new ScheduleRequestError(`no schedule ${id}; \`haflow schedule list\` shows them`);
    throw err;
  }
}

/** The schedule's settings now: its memo (as created) overlaid with its action's input, since an update cannot change a memo. */
function memoOf(description: ScheduleDescription): ScheduleMemo {
  const memo = description.memo as Partial<ScheduleMemo> | undefined;
  if (memo?.haflow !== 'scheduled-drill') throw new ScheduleRequestError(`schedule ${description.scheduleId} is not one of haflow's scheduled drills`);
  const created = memo as ScheduleMemo;
  const input = description.action.type === 'startWorkflow' ? (description.action.args?.[0] as ScheduledDrillInput | undefined) : undefined;
  return {
    ...created,
    fault: input?.fault ?? created.fault,
    switchBack: input ? !!input.switchBack : created.switchBack,
    when: input?.when ?? created.when,
    note: input ? input.note : created.note,
  };
}

/**
 * Hands the cluster's schedules the topology an install or a tune just applied, so their next
 * drills use the cluster as it is now. Returns the ids it updated.
 */
export async function refreshSchedules(client: Client, topology: Topology): Promise<string[]> {
  const updated: string[] = [];
  for (const view of await listSchedules(client, topology.cluster)) {
    const current = (await describeRaw(client, view.id)).action.args?.[0] as ScheduledDrillInput | undefined;
    if (current && JSON.stringify(current.topology) === JSON.stringify(topology)) continue;
    await updateSchedule(client, view.id, { topology });
    updated.push(view.id);
  }
  return updated;
}
