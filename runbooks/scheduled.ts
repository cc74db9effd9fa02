// A scheduled failover test, as data: what one run of a schedule is given, what it found (a
// drill that passed, missed the objectives or failed, or a skip because the cluster was busy or
// unhealthy), whether that is worth telling someone, and the notification's JSON body. Pure:
// the scheduled workflow decides with these, and a unit test checks every case.
import type { Topology } from '../topology/schema';
import type { FaultName } from '../topology/faults';
import type { Notification, ScheduledFigures, ScheduledOutcome } from '../activities/notify/notification';
import type { DrillReport } from './report';

export type { Notification, ScheduledFigures, ScheduledOutcome };

/** What a schedule's action starts its workflow with. */
export interface ScheduledDrillInput {
  /** The schedule's id (`haflow schedule list` shows it). */
  scheduleId: string;
  fault: FaultName;
  switchBack?: boolean;
  /** The cluster's topology when the schedule was created or last updated: references only. */
  topology: Topology;
  /** How the schedule runs, in words ("every 7d", "cron '0 3 * * 1' (UTC)"), for lists. */
  when?: string;
  /** The operator's note on the schedule, for lists. */
  note?: string;
  /** Minutes a blocked step of the drill waits for an operator before the drill is aborted (its fault healed). */
  blockedMinutes?: number;
}

export interface ScheduledRunResult {
  scheduleId: string;
  cluster: string;
  fault: FaultName;
  outcome: ScheduledOutcome;
  /** Why it missed, failed or was skipped; empty when it passed. */
  reasons: string[];
  startedAt: string;
  finishedAt: string;
  /** The drill's run, when one started (its workflow id is the cluster's). */
  drill?: { workflowId: string; runId: string; reportId?: string };
  figures?: ScheduledFigures;
  /** Skipped because the cluster was not healthy: someone should hear of that, though it pauses nothing. */
  unhealthyBefore?: boolean;
  /** The cluster's health after the drill, read again by the scheduled run. */
  healthyAfter?: boolean;
  /** Problems found after the drill (empty when healthy). */
  problemsAfter?: string[];
  /** What became of each notification channel: sent, failed (with why), or not needed. */
  notifications: string[];
}

/** `20261128T171349Z-drill-crash-leader`: a report's id, sorts by time and says what it was. */
export function reportId(report: Pick<DrillReport, 'injectedAt' | 'kind' | 'fault'>): string {
  return `${report.injectedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${report.kind}-${report.fault}`;
}

/** The figures a schedule keeps of a drill's report. */
export function scheduledFigures(report: DrillReport): ScheduledFigures {
  const f = report.figures;
  return {
    writeDowntimeSeconds: f.writeDowntimeSeconds,
    lostWrites: f.lostWrites,
    failedWrites: f.failedWrites,
    newLeader: f.newLeader,
    predictedSeconds: report.predicted.expectedSeconds,
    objectiveSeconds: report.objectives?.rto_seconds,
  };
}

/** Passed, missed or failed, from a completed drill's report (undefined: the drill completed but measured nothing). */
export function outcomeOfReport(report: DrillReport | undefined): { outcome: ScheduledOutcome; reasons: string[] } {
  if (!report) return { outcome: 'failed', reasons: ['the drill completed without a measurement (no report)'] };
  return report.verdict.pass ? { outcome: 'passed', reasons: [] } : { outcome: 'missed', reasons: report.verdict.reasons };
}

type Judged = Pick<ScheduledRunResult, 'outcome' | 'healthyAfter' | 'unhealthyBefore'>;

/** A problem of the drill: it failed or missed, or it left the cluster unhealthy. */
export function isProblem(result: Judged): boolean {
  return result.outcome === 'missed' || result.outcome === 'failed' || result.healthyAfter === false;
}

/** Someone hears of a problem of the drill, and of a cluster found unhealthy (the drill could not run); with on: every, of every run. */
export function shouldNotify(topology: Topology, result: Judged): boolean {
  const notify = topology.notify;
  if (!notify) return false;
  return notify.on === 'every' || isProblem(result) || result.unhealthyBefore === true;
}

/** Whether this result pauses the schedule: a problem of the drill, and the topology's objectives say so (a skip never does). */
export function pausesSchedule(topology: Topology, result: Judged): boolean {
  return topology.objectives?.pause_schedules_on_miss === true && isProblem(result);
}

/** One line for a list, the Temporal UI's details and a notification's title. */
export function describeResult(result: ScheduledRunResult): string {
  const f = result.figures;
  const figures = f
    ? `write downtime ${f.writeDowntimeSeconds === undefined ? 'n/a' : `${f.writeDowntimeSeconds} s`}${f.objectiveSeconds !== undefined ? ` (objective ${f.objectiveSeconds} s)` : ''}, lost writes ${f.lostWrites ?? 'n/a'}`
    : '';
  const head = `${result.outcome.toUpperCase()} ${result.fault} on ${result.cluster}`;
  const why = result.reasons.length > 0 ? `: ${result.reasons.join('; ')}` : '';
  const health = result.healthyAfter === false ? `; unhealthy after the drill: ${(result.problemsAfter ?? []).join('; ')}` : '';
  return `${head}${figures ? ` — ${figures}` : ''}${why}${health}`;
}

export interface RunAddress {
  namespace: string;
  workflowId: string;
  runId: string;
}

/** The Temporal web UI's page of a run. */
export function runLink(uiUrl: string, run: RunAddress): string {
  const base = uiUrl.replace(/\/+$/, '');
  return `${base}/namespaces/${encodeURIComponent(run.namespace)}/workflows/${encodeURIComponent(run.workflowId)}/${encodeURIComponent(run.runId)}/history`;
}

export function notificationOf(topology: Topology, result: ScheduledRunResult, scheduledRun: RunAddress): Notification {
  const uiUrl = topology.notify?.ui_url ?? 'http://localhost:8233';
  const why =
    result.outcome === 'failed'
      ? 'the drill failed'
      : result.outcome === 'missed'
        ? 'the drill missed the objectives'
        : result.healthyAfter === false
          ? 'the drill left the cluster unhealthy'
          : result.unhealthyBefore
            ? 'the cluster was not healthy, so the drill did not run'
            : 'every scheduled run is reported';
  return {
    id: `${scheduledRun.workflowId}/${scheduledRun.runId}`,
    cluster: result.cluster,
    schedule: result.scheduleId,
    drill: result.fault,
    outcome: result.outcome,
    verdict: result.outcome === 'passed' ? 'PASS' : result.outcome === 'skipped' ? 'SKIPPED' : 'FAIL',
    why,
    summary: describeResult(result),
    reasons: result.reasons,
    ...(result.figures ? { figures: result.figures } : {}),
    ...(result.healthyAfter !== undefined ? { healthyAfter: result.healthyAfter, problemsAfter: result.problemsAfter ?? [] } : {}),
    startedAt: result.startedAt,
    finishedAt: result.finishedAt,
    links: {
      scheduledRun: runLink(uiUrl, scheduledRun),
      ...(result.drill ? { drillRun: runLink(uiUrl, { namespace: scheduledRun.namespace, ...result.drill }) } : {}),
      ...(result.drill?.reportId ? { report: `haflow reports ${result.cluster} ${result.drill.reportId}` } : {}),
    },
  };
}
