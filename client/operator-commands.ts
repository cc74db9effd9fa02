// The operator's commands behind `haflow plan|install|status|resume|server`: each connects,
// calls the API (./api.ts), shows what happens (./progress.ts) and returns the exit code:
// 0 done, 1 failed or blocked, 130 interrupted while following (the run goes on).
import type { Client, WorkflowHandle } from '@temporalio/client';
import { EMBEDDED_ADDRESS, TASK_QUEUE } from '../connection/temporal';
import type { Topology } from '../topology';
import type { Decision } from '../workflows/protocol';
import { decide, followRun, getProgress, planCheck, startInstall, type RunResult } from './api';
import { runbookFor } from './runbooks';
import { defaultServerDbFile, FINISHED_RUN_RETENTION_DAYS, startEmbeddedServer } from './dev-server';
import { createProgressDisplay, type DisplayOptions, formatStepFailure, formatCheckReport, formatPlan, formatRunResult, formatStatus } from './progress';
import { fitterFor } from './fit';
import { connectClient } from './temporal';

/** Prints a message, fitted to the terminal's width when there is one. */
let fit: (text: string, hang?: (line: string) => number) => string = (text) => text;
const say = (text: string, hang?: (line: string) => number) => process.stdout.write(`${fit(text, hang)}\n`);

/** Called once by each command: after it, `say` wraps long lines between words on a terminal. */
async function fitOutput(): Promise<void> {
  fit = await fitterFor(process.stdout);
}

/** Exit code of a run that stopped being followed because the operator pressed Ctrl-C. */
const INTERRUPTED = 130;

/** `haflow plan`: the install runbook's steps, in order. Connects nowhere. */
export async function planCommand(topology: Topology): Promise<number> {
  await fitOutput();
  const plan = formatPlan(runbookFor('install', topology), `${topology.layout} layout, ${topology.hosts.length} hosts`);
  // A long title goes on under the plan's "what" column, a long guard under its own text.
  const whatColumn = plan.split('\n')[2].indexOf('what');
  say(plan, (line) => (/^\s+guard: /.test(line) ? line.indexOf('guard: ') + 7 : whatColumn));
  say('\nNothing was contacted. `haflow plan --check <topology>` asks the machines what each step would change.');
  return 0;
}

/** `haflow plan --check`: a check run on the workers; prints what each step would change. */
export async function planCheckCommand(topology: Topology): Promise<number> {
  const client = await connect();
  say(`asking the machines of cluster ${topology.cluster} what an install would change (check mode: nothing is changed)…`);
  // The report at the end says it all; while it runs, only the live area (on a terminal) and notices.
  const display = await createProgressDisplay({ stepLines: false });
  const result = await whileFollowing(display, (signal) =>
    planCheck(client, topology, { onProgress: (p) => display.update(p), onNotice: display.notice, signal }),
  );
  if (result === 'interrupted') {
    say('stopped: the check run was ended');
    return INTERRUPTED;
  }
  if (result.status === 'completed') {
    say(`\n${formatCheckReport(topology.cluster, result.outcome)}`);
    return 0;
  }
  if (result.status === 'blocked') {
    for (const step of result.blocked) say(`the check stopped at step ${step.id} (${step.title})\n${formatStepFailure(step)}`);
    say(`the check run ${result.workflowId} was ended (it changes nothing); fix the cause and run \`haflow plan --check\` again`);
  } else {
    say(formatRunResult(topology.cluster, 'check', result));
  }
  return 1;
}

/** `haflow install`: starts the install and follows it, unless detached. */
export async function installCommand(topology: Topology, opts: { detach?: boolean }): Promise<number> {
  const client = await connect();
  const handle = await startInstall(client, topology);
  say(`started install of cluster ${topology.cluster}: workflow ${handle.workflowId} (run ${handle.firstExecutionRunId}) on task queue ${TASK_QUEUE}`);
  if (opts.detach) {
    say(`follow it with:  haflow status ${topology.cluster} --follow`);
    return 0;
  }
  return follow(handle, topology.cluster, 'install');
}

/** `haflow status`: the latest operation on a cluster; with follow, waits like install does. */
export async function statusCommand(cluster: string, opts: { follow?: boolean }): Promise<number> {
  const client = await connect();
  const operation = await getProgress(client, cluster);
  if (!opts.follow || operation.closeTime) {
    say(formatStatus(operation));
    return 0;
  }
  return follow(client.workflow.getHandle(operation.workflowId), cluster, operation.runbook);
}

/** `haflow resume`: sends the decision for a blocked step, then follows the run. */
export async function resumeCommand(cluster: string, decision: Decision, opts: { step?: string; reason?: string }): Promise<number> {
  const client = await connect();
  // What the operator has seen already (install or status showed it): after the decision, only what changes.
  const before = await getProgress(client, cluster);
  const step = await decide(client, cluster, opts.step, decision, opts.reason);
  say(`${decision} ${step.id}${opts.reason ? ` (${opts.reason})` : ''}: sent`);
  return follow(client.workflow.getHandle(before.workflowId), cluster, before.runbook, { seen: before.progress });
}

export interface ServerCommandOptions {
  dbFile?: string;
  port: number;
  uiPort: number;
}

/** `haflow server`: the embedded Temporal dev server until SIGINT/SIGTERM. */
export async function serverCommand(opts: ServerCommandOptions): Promise<number> {
  const server = await startEmbeddedServer({
    dbFile: opts.dbFile ?? defaultServerDbFile(),
    port: opts.port,
    uiPort: opts.uiPort,
    onLog: (line) => process.stderr.write(`temporal: ${line}\n`),
  });
  say(`Temporal dev server for haflow on ${server.address} (pid ${server.pid})`);
  say(`  web UI:  ${server.uiUrl}`);
  say(`  state:   ${server.dbFile} (finished runs are kept ${FINISHED_RUN_RETENTION_DAYS} days)`);
  if (server.address !== EMBEDDED_ADDRESS) say(`  clients and workers find it with:  export TEMPORAL_ADDRESS=${server.address}`);
  say('Ctrl-C or SIGTERM stops it.');
  const stopped = await Promise.race([nextSignal().then((signal) => ({ signal })), server.exited.then((code) => ({ code }))]);
  if ('code' in stopped) {
    process.stderr.write(`haflow: the Temporal dev server exited on its own (code ${stopped.code})\n`);
    return 1;
  }
  await server.stop();
  say(`${stopped.signal}: Temporal dev server stopped; its state stays in ${server.dbFile}`);
  return 0;
}

async function connect(): Promise<Client> {
  await fitOutput();
  return connectClient();
}

/** Follows a run on the display and prints how it ended: 0 completed, 1 blocked or failed. */
async function follow(handle: WorkflowHandle, cluster: string, runbook: string, displayOptions: DisplayOptions = {}): Promise<number> {
  const display = await createProgressDisplay(displayOptions);
  const result = await whileFollowing(display, (signal) => followRun(handle, (p) => display.update(p), { onNotice: display.notice, signal }));
  if (result === 'interrupted') {
    say(`stopped following; the ${runbook} of cluster ${cluster} goes on without you: \`haflow status ${cluster}\``);
    return INTERRUPTED;
  }
  say(formatRunResult(cluster, runbook, result));
  return result.status === 'completed' ? 0 : 1;
}

/** Runs `body` until it ends or the operator presses Ctrl-C (or sends SIGTERM); closes the display either way. */
async function whileFollowing<T extends RunResult>(
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

function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
  });
}
