// What every command shares: the exit code its action sets, printing fitted to the terminal
// (or to standard error when the command prints JSON, so that standard output holds the JSON
// alone), topology files read with every problem shown, the connection to Temporal, and
// following a run on the progress display until it completes, blocks or the operator presses
// Ctrl-C (the run goes on without them).
import { readFileSync, existsSync } from 'node:fs';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { InvalidArgumentError } from 'commander';
import { checkRunbook, followRun, RequestRefusedError, type RunResult } from '../client/api';
import { topologyOfCluster } from '../client/cluster';
import { formatMaintenanceSummary, formatReportSummary } from '../client/report';
import { saveReport } from '../client/report-store';
import { UnsupportedLayoutError, type ArgsOf, type RunbookName } from '../client/runbooks';
import { refreshSchedules } from '../client/schedules';
import { connectClient } from '../client/temporal';
import type { MaintenanceReport } from '../runbooks/maintenance-report';
import type { DrillReport } from '../runbooks/report';
import { formatIssue, loadTopology, TopologyError, type Topology } from '../topology';
import { FAULT_NAMES, isFaultName, type FaultName } from '../topology/faults';
import type { MaintenanceOutcome } from '../workflows/maintenance';
import type { MeasuredOutcome } from '../workflows/measured';
import { fitterFor } from './fit';
import { createProgressDisplay, formatCheckReport, formatRunResult, type DisplayOptions } from './progress';

// ---------------------------------------------------------------- exit codes

/** Exit codes: 0 ok, 1 the operation failed or found problems, 2 bad usage or refused, 130 interrupted while following. */
let exitCode = 0;

/** The exit code the command's action set (main returns it), and back to 0 for the next command. */
export function takeExitCode(): number {
  const code = exitCode;
  exitCode = 0;
  return code;
}

/** A commander action from a function that returns the exit code. */
export function exits<A extends unknown[]>(body: (...args: A) => number | Promise<number>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    exitCode = await body(...args);
  };
}

/** Exit code of a run that stopped being followed because the operator pressed Ctrl-C. */
export const INTERRUPTED = 130;

// ---------------------------------------------------------------- output

/** Prints a message, fitted to the terminal's width when there is one. */
let fit: (text: string, hang?: (line: string) => number) => string = (text) => text;
/** With --json, standard output carries the JSON alone: every message goes to standard error. */
let messages: NodeJS.WriteStream = process.stdout;

export const say = (text: string, hang?: (line: string) => number) => messages.write(`${fit(text, hang)}\n`);

/** Set before every command's action (main's hook): on for a command given --json. */
export function setJsonOutput(on: boolean): void {
  messages = on ? process.stderr : process.stdout;
  fit = (text) => text;
}

/** Called once by each command: after it, `say` wraps long lines between words on a terminal. */
export async function fitOutput(): Promise<void> {
  fit = await fitterFor(messages);
}

/** The one thing a command with --json prints on standard output. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export async function connect(): Promise<Client> {
  await fitOutput();
  return connectClient();
}

/** Runs a command's request, printing a refused one (the API's RequestRefusedError) as such: exit 2. */
export async function refusable(body: () => Promise<number>, prefix = ''): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof RequestRefusedError) {
      say(`${prefix}${err.message}`);
      return 2;
    }
    throw err;
  }
}

// ---------------------------------------------------------------- topology files

const MAX_ISSUES_SHOWN = 25;

/** Loads and validates a topology file; prints every problem (file:line:column) and returns undefined when invalid. */
export function loadOrReport(file: string): ReturnType<typeof loadTopology> | undefined {
  try {
    const loaded = loadTopology(file);
    for (const warning of loaded.warnings) process.stderr.write(`${formatIssue(warning)}\n`);
    return loaded;
  } catch (err) {
    if (err instanceof TopologyError) {
      // A generated file can be wrong thousands of times over: the first screenful says what to fix.
      for (const issue of err.issues.slice(0, MAX_ISSUES_SHOWN)) process.stderr.write(`${formatIssue(issue)}\n`);
      const more = err.issues.length - MAX_ISSUES_SHOWN;
      if (more > 0) process.stderr.write(`${file}: … and ${more} more issue(s) of the same file\n`);
      process.stderr.write(`${file}: ${err.issues.filter((i) => i.severity === 'error').length} error(s)\n`);
    } else {
      process.stderr.write(`${file}: ${(err as Error).message}\n`);
    }
    return undefined;
  }
}

/** Loads a topology file (printing every issue), then runs `command` on it; exit 1 when invalid. */
export async function withTopology(file: string, command: (topology: Topology) => number | Promise<number>): Promise<number> {
  const loaded = loadOrReport(file);
  if (!loaded) return 1;
  try {
    return await command(loaded.topology);
  } catch (err) {
    if (!(err instanceof UnsupportedLayoutError)) throw err;
    // Pointed at the layout line, like every other problem of the file.
    const line = readFileSync(file, 'utf8').split('\n').findIndex((l) => /^layout\s*:/.test(l)) + 1;
    process.stderr.write(`${file}:${Math.max(line, 1)}:1: ${err.message}\n`);
    return 1;
  }
}

/**
 * A topology named on the command line: a topology file, or a cluster's name, whose topology is
 * the one haflow last ran an operation with (connects to Temporal to find it).
 */
export async function topologyNamed(target: string): Promise<Topology | undefined> {
  if (/\.ya?ml$/.test(target) || existsSync(target)) return loadOrReport(target)?.topology;
  return topologyOfCluster(await connect(), target);
}

/** The action of a command on one cluster, named or given as a topology file. */
export const onCluster =
  <O>(command: (topology: Topology, opts: O) => Promise<number>) =>
  exits(async (target: string, opts: O): Promise<number> => {
    const topology = await topologyNamed(target);
    return topology ? command(topology, opts) : 1;
  });

// ---------------------------------------------------------------- option values

export function oneOf<T extends string>(values: readonly T[]) {
  return (value: string): T => {
    if (!(values as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${values.join(', ')}`);
    return value as T;
  };
}

export function faultName(value: string): FaultName {
  if (!isFaultName(value)) throw new InvalidArgumentError(`must be one of ${FAULT_NAMES.join(', ')}`);
  return value;
}

export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number, 1 or more');
  return n;
}

export function tcpPort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('must be a TCP port (1-65535)');
  return n;
}

// ---------------------------------------------------------------- following a run

const isMaintenanceReport = (report: DrillReport | MaintenanceReport): report is MaintenanceReport => report.kind === 'restart' || report.kind === 'upgrade' || report.kind === 'migrate' || report.kind === 'rotate';

/** Follows a run on the display and prints how it ended: 0 completed, 1 blocked or failed. */
export async function follow(handle: WorkflowHandle, cluster: string, runbook: string, displayOptions: DisplayOptions = {}, opts: { json?: boolean } = {}): Promise<number> {
  // With --json, stdout carries the report alone: the progress goes to stderr.
  const display = await createProgressDisplay(displayOptions, opts.json ? process.stderr : process.stdout);
  const result = await whileFollowing(display, (signal) => followRun(handle, (p) => display.update(p), { onNotice: display.notice, signal }));
  if (result === 'interrupted') {
    say(`stopped following; the ${runbook} of cluster ${cluster} goes on without you: \`haflow status ${cluster}\``);
    return INTERRUPTED;
  }
  const finished = result.status === 'completed' ? (result.outcome as MeasuredOutcome | MaintenanceOutcome).report : undefined;
  if (finished && isMaintenanceReport(finished)) {
    // A rolling operation's report: what it cost the writers.
    if (opts.json) printJson(finished);
    else say(`${formatRunResult(cluster, runbook, result)}\n\n${formatMaintenanceSummary(finished)}`);
    return finished.verdict.pass ? 0 : 1;
  }
  const report = finished;
  if (opts.json) {
    process.stderr.write(`${formatRunResult(cluster, runbook, result)}\n`);
    if (report) saveReport(report, { workflowId: handle.workflowId, runId: (await handle.describe()).runId });
    printJson(report ?? result);
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

/** `--check` of a runbook: run in check mode on a worker, print what each step would change; 0 when the check completed, 1 when it stopped. */
export async function checkAndReport<N extends RunbookName>(client: Client, name: N, topology: Topology, args: ArgsOf<N>, command: string): Promise<number> {
  const display = await createProgressDisplay({ stepLines: false });
  const result = await checkRunbook(client, name, topology, args, { onProgress: (p) => display.update(p), onNotice: display.notice }).finally(() => display.close());
  if (result.status === 'completed') {
    say(formatCheckReport(topology.cluster, result.outcome).replace('`haflow install`', `\`haflow ${command}\``));
    return 0;
  }
  say(`the check stopped: ${result.status === 'blocked' ? `${result.step.id}: ${result.step.error?.message}` : result.error.message}`);
  return 1;
}
