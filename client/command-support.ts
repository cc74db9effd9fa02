// What every operator command shares: printing fitted to the terminal, the connection to
// Temporal, and following a run on the progress display until it completes, blocks or the
// operator presses Ctrl-C (the run goes on without them).
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { RunResult } from './api';
import { followRun } from './api';
import { fitterFor } from './fit';
import { createProgressDisplay, formatRunResult, type DisplayOptions } from './progress';
import type { ObservedOutcome } from '../workflows/observed';
import type { MaintenanceOutcome } from '../workflows/maintenance';
import type { MaintenanceReport } from '../runbooks/maintenance-report';
import type { DrillReport } from '../runbooks/report';
import { formatMaintenanceSummary, formatReportSummary } from './report';
import { saveReport } from './report-store';
import { connectClient } from './temporal';
import { refreshSchedules } from './schedules';
import type { Topology } from '../topology';

/** Prints a message, fitted to the terminal's width when there is one. */
let fit: (text: string, hang?: (line: string) => number) => string = (text) => text;
export const say = (text: string, hang?: (line: string) => number) => process.stdout.write(`${fit(text, hang)}\n`);

/** Called once by each command: after it, `say` wraps long lines between words on a terminal. */
export async function fitOutput(): Promise<void> {
  fit = await fitterFor(process.stdout);
}

/** Exit code of a run that stopped being followed because the operator pressed Ctrl-C. */
export const INTERRUPTED = 130;

export async function connect(): Promise<Client> {
  await fitOutput();
  return connectClient();
}

const isMaintenanceReport = (report: DrillReport | MaintenanceReport): report is MaintenanceReport => report.kind === 'restart' || report.kind === 'upgrade' || report.kind === 'migrate';

/** Follows a run on the display and prints how it ended: 0 completed, 1 blocked or failed. */
export async function follow(handle: WorkflowHandle, cluster: string, runbook: string, displayOptions: DisplayOptions = {}, opts: { json?: boolean } = {}): Promise<number> {
  // With --json, stdout carries the report alone: the progress goes to stderr.
  const display = await createProgressDisplay(displayOptions, opts.json ? process.stderr : process.stdout);
  const result = await whileFollowing(display, (signal) => followRun(handle, (p) => display.update(p), { onNotice: display.notice, signal }));
  if (result === 'interrupted') {
    say(`stopped following; the ${runbook} of cluster ${cluster} goes on without you: \`haflow status ${cluster}\``);
    return INTERRUPTED;
  }
  const finished = result.status === 'completed' ? (result.outcome as ObservedOutcome | MaintenanceOutcome).report : undefined;
  if (finished && isMaintenanceReport(finished)) {
    // A rolling operation's report: what it cost the writers.
    if (opts.json) process.stdout.write(`${JSON.stringify(finished, null, 2)}\n`);
    else say(`${formatRunResult(cluster, runbook, result)}\n\n${formatMaintenanceSummary(finished)}`);
    return finished.verdict.pass ? 0 : 1;
  }
  const report = finished;
  if (opts.json) {
    process.stderr.write(`${formatRunResult(cluster, runbook, result)}\n`);
    if (report) saveReport(report, { workflowId: handle.workflowId, runId: (await handle.describe()).runId });
    process.stdout.write(`${JSON.stringify(report ?? result, null, 2)}\n`);
    return report ? (report.verdict.pass ? 0 : 1) : result.status === 'completed' ? 0 : 1;
  }
  say(formatRunResult(cluster, runbook, result));
  if (report) {
    // A drill's or a switchover's report: the summary here, the whole of it in files.
    const stored = saveReport(report, { workflowId: handle.workflowId, runId: (await handle.describe()).runId });
    say(`\n${formatReportSummary(report)}\nreport: ${stored.files.markdown}\ntimeline: ${stored.files.svg} (open it in a browser)`);
    return report.verdict.pass ? 0 : 1;
  }
  return result.status === 'completed' ? 0 : 1;
}

/** Runs `body` until it ends or the operator presses Ctrl-C (or sends SIGTERM); closes the display either way. */
export async function whileFollowing<T extends RunResult>(
  display: { close(): void },
  body: (signal: AbortSignal) => Promise<T>,
): Promise<T | 'interrupted'> {
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await body(interrupt.signal);
  } catch (err) {
    if (interrupt.signal.aborted) return 'interrupted';
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    display.close();
  }
}

/** After an install or a tune completed: the cluster's schedules get its topology as it is now. */
export async function handSchedulesTheTopology(client: Client, topology: Topology): Promise<void> {
  try {
    const updated = await refreshSchedules(client, topology);
    if (updated.length > 0) say(`the scheduled drills ${updated.join(', ')} now use this topology`);
  } catch (err) {
    say(`(the scheduled drills of ${topology.cluster} still use their earlier topology: ${(err as Error).message}; \`haflow schedule update <id> --topology <file>\`)`);
  }
}
