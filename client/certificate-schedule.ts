// The certificate check of a cluster on a Temporal Schedule (`haflow certs schedule`): each run is
// certificateStatusWorkflow with failWhenDue, so a run whose certificates need renewing fails with
// CertificatesDue and shows as a failed run in `haflow certs status` and the Temporal UI. One
// schedule per cluster, `<cluster>-certificates`; creating it again updates it (timetable and
// topology). Its memo says `certificate-check`, so the scheduled drills' list (./schedules.ts) leaves it out.
import {
  ApplicationFailure,
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  WorkflowFailedError,
  type Client,
  type ScheduleDescription,
  type ScheduleExecutionResult,
  type ScheduleOptions,
  type ScheduleOptionsAction,
  type ScheduleSpec,
} from '@temporalio/client';
import { TASK_QUEUE } from '../connection/temporal';
import { assertValidTopology, type Topology } from '../topology';
import type { certificateStatusWorkflow } from '../workflows';
import { RunbookFailureTypes } from '../workflows/protocol';
import { CATCHUP_WINDOW, intervalSeconds, scheduleSpec, ScheduleRequestError, type When } from './schedules';

/** What the schedule's memo says it is (a scheduled drill's says `scheduled-drill`). */
const CERTIFICATE_CHECK = 'certificate-check';
/** Certificates are counted in days: a check more often than hourly only logs in to every host for nothing. */
const MIN_INTERVAL_SECONDS = 3600;
/** A run no worker finishes (none running) ends by then, so the next one is not skipped behind it. */
const RUN_TIMEOUT = '10m';
/** How many recent runs a view carries (Temporal keeps the last ten). */
const RUNS_SHOWN = 5;

export interface CertificateScheduleRequest {
  topology: Topology;
  when: When;
  /** Defaults to the worker's queue, or the schedule's own when it exists. */
  taskQueue?: string;
}

/** The schedule's memo: which cluster, for lists and the Temporal UI. */
interface CertificateScheduleMemo {
  haflow: typeof CERTIFICATE_CHECK;
  cluster: string;
}

/** One run of the check, newest first in a view. */
export interface CertificateCheckRun {
  workflowId: string;
  runId: string;
  startedAt: Date;
  /** ok: every certificate good; due: one needs renewing; failed: the check itself failed; unknown: its record is gone. */
  result: 'running' | 'ok' | 'due' | 'failed' | 'unknown';
  /** For due, which certificates and why; for failed or unknown, what happened. */
  message?: string;
}

export interface CertificateScheduleView {
  id: string;
  cluster: string;
  /** The timetable in words: `every 1d`, `cron '0 6 * * *' (UTC)`. */
  when: string;
  paused: boolean;
  /** Why it is paused (whoever paused it in Temporal said so). */
  pausedBecause?: string;
  /** None while paused. */
  nextRun?: Date;
  runs: CertificateCheckRun[];
  createdAt: Date;
}

export function certificateScheduleId(cluster: string): string {
  return `${cluster}-certificates`;
}

function whenInWords(when: When): string {
  return 'every' in when ? `every ${when.every}` : `cron '${when.cron}' (UTC)`;
}

/** The spec, with the check's own floor on intervals (scheduleSpec's is a drill's). */
function checkSpec(when: When): ScheduleSpec {
  if ('every' in when) {
    const seconds = intervalSeconds(when.every);
    if (seconds !== undefined && seconds < MIN_INTERVAL_SECONDS) {
      throw new ScheduleRequestError(`--every ${when.every}: at least 1h between certificate checks (certificates are counted in days)`);
    }
  }
  return scheduleSpec(when);
}

function checkAction(id: string, topology: Topology, when: string, taskQueue: string): ScheduleOptionsAction {
  return {
    type: 'startWorkflow',
    workflowType: 'certificateStatusWorkflow',
    // The drills' prefix; Temporal appends the run's time.
    workflowId: `haflow-scheduled-${id}`,
    taskQueue,
    args: [{ topology, failWhenDue: true }] as Parameters<typeof certificateStatusWorkflow>,
    workflowExecutionTimeout: RUN_TIMEOUT,
    // The action's memo, unlike the schedule's, changes with an update: the timetable in words is kept here.
    memo: { schedule: id, when },
    staticSummary: `certificate check of cluster ${topology.cluster}`,
    staticDetails: `schedule ${id}: ${when}; a run fails (CertificatesDue) when a certificate needs renewing: haflow certs rotate ${topology.cluster}`,
  };
}

const POLICIES: ScheduleOptions['policies'] = {
  overlap: ScheduleOverlapPolicy.SKIP,
  catchupWindow: CATCHUP_WINDOW,
  // A failed run means "certificates due": the next run must still happen, to see them renewed.
  pauseOnFailure: false,
};

const noteFor = (cluster: string, when: string) => `certificate check of cluster ${cluster}, ${when}`;

/**
 * Creates the cluster's certificate schedule, or updates it (timetable, topology) when it exists;
 * refused (ScheduleRequestError) for a cluster without TLS or a bad timetable. A schedule paused in
 * Temporal stays paused.
 */
export async function scheduleCertificateCheck(client: Client, request: CertificateScheduleRequest): Promise<{ view: CertificateScheduleView; created: boolean }> {
  const topology = assertValidTopology(request.topology);
  if (!topology.tls) throw new ScheduleRequestError(`cluster ${topology.cluster} has no TLS (security.insecure): there are no certificates to check`);
  const id = certificateScheduleId(topology.cluster);
  const spec = checkSpec(request.when);
  const when = whenInWords(request.when);
  let existing = await describeOrNone(client, id);
  if (!existing) {
    const memo: CertificateScheduleMemo = { haflow: CERTIFICATE_CHECK, cluster: topology.cluster };
    try {
      await client.schedule.create({
        scheduleId: id,
        spec,
        action: checkAction(id, topology, when, request.taskQueue ?? TASK_QUEUE),
        policies: POLICIES,
        state: { note: noteFor(topology.cluster, when) },
        memo: memo as unknown as Record<string, unknown>,
      });
      return { view: (await readCertificateSchedule(client, topology.cluster))!, created: true };
    } catch (err) {
      // Created meanwhile by another haflow: update it below.
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      existing = await describeRaw(client, id);
    }
  }
  checked(existing, topology.cluster);
  await client.schedule.getHandle(id).update((previous) => ({
    ...previous,
    spec,
    action: checkAction(id, topology, when, request.taskQueue ?? previous.action.taskQueue),
    policies: POLICIES,
    state: previous.state.paused ? previous.state : { ...previous.state, note: noteFor(topology.cluster, when) },
  }));
  return { view: (await readCertificateSchedule(client, topology.cluster))!, created: false };
}

/** Deletes the cluster's certificate schedule; false when there was none. Its past runs stay in Temporal. */
export async function unscheduleCertificateCheck(client: Client, cluster: string): Promise<boolean> {
  const id = certificateScheduleId(cluster);
  const description = await describeOrNone(client, id);
  if (!description) return false;
  checked(description, cluster);
  try {
    await client.schedule.getHandle(id).delete();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
  return true;
}

/** The cluster's certificate schedule with its recent runs' results, or undefined when it has none. */
export async function readCertificateSchedule(client: Client, cluster: string): Promise<CertificateScheduleView | undefined> {
  const id = certificateScheduleId(cluster);
  const description = await describeOrNone(client, id);
  if (!description) return undefined;
  checked(description, cluster);
  const when = description.action.memo?.when;
  const recent = [...description.info.recentActions].reverse().slice(0, RUNS_SHOWN);
  return {
    id,
    cluster,
    when: typeof when === 'string' ? when : '(unknown timetable)',
    paused: description.state.paused,
    ...(description.state.paused ? { pausedBecause: description.state.note ?? 'no reason given' } : {}),
    ...(!description.state.paused && description.info.nextActionTimes[0] ? { nextRun: description.info.nextActionTimes[0] } : {}),
    runs: await Promise.all(recent.map((action) => checkRun(client, action))),
    createdAt: description.info.createdAt,
  };
}

/** What one run found: its status, and for a failed run whether it failed because certificates are due. */
async function checkRun(client: Client, action: ScheduleExecutionResult): Promise<CertificateCheckRun> {
  const { workflowId, firstExecutionRunId: runId } = action.action.workflow;
  const run = { workflowId, runId, startedAt: action.takenAt };
  const handle = client.workflow.getHandle(workflowId, runId);
  let status: string;
  try {
    status = (await handle.describe()).status.name;
  } catch (err) {
    // Past the namespace's retention, say.
    return { ...run, result: 'unknown', message: (err as Error).message };
  }
  if (status === 'RUNNING') return { ...run, result: 'running' };
  if (status === 'COMPLETED') return { ...run, result: 'ok' };
  if (status === 'TIMED_OUT') return { ...run, result: 'failed', message: `no worker finished it within ${RUN_TIMEOUT} (is \`haflow worker\` running?)` };
  if (status !== 'FAILED') return { ...run, result: 'failed', message: status.toLowerCase() };
  try {
    await handle.result();
    return { ...run, result: 'ok' };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) return { ...run, result: 'failed', message: (err as Error).message };
    if (err.cause instanceof ApplicationFailure && err.cause.type === RunbookFailureTypes.certificatesDue) return { ...run, result: 'due', message: err.cause.message };
    return { ...run, result: 'failed', message: innermostMessage(err) };
  }
}

/** The message of the deepest cause: an activity's own failure rather than "activity task failed". */
function innermostMessage(err: Error): string {
  let deepest: Error = err;
  while (deepest.cause instanceof Error) deepest = deepest.cause;
  return deepest.message;
}

/** Refuses a schedule of that id that is not this cluster's certificate check (a drill given the id, say). */
function checked(description: ScheduleDescription, cluster: string): void {
  const memo = description.memo as Partial<CertificateScheduleMemo> | undefined;
  if (memo?.haflow !== CERTIFICATE_CHECK || memo.cluster !== cluster) {
    throw new ScheduleRequestError(`schedule ${description.scheduleId} is not the certificate check of cluster ${cluster}; remove or rename it first (\`haflow schedule delete ${description.scheduleId}\`)`);
  }
}

async function describeOrNone(client: Client, id: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(id).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

async function describeRaw(client: Client, id: string): Promise<ScheduleDescription> {
  const description = await describeOrNone(client, id);
  if (!description) throw new ScheduleRequestError(`no schedule ${id}`);
  return description;
}
