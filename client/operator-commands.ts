// The operator's commands behind `haflow plan|install|status|resume|server`: each connects,
// calls the API (./api.ts), shows what happens (./progress.ts) and returns the exit code:
// 0 done, 1 failed or blocked, 130 interrupted while following (the run goes on).
import { existsSync } from 'node:fs';
import { EMBEDDED_ADDRESS, TASK_QUEUE } from '../connection/temporal';
import type { Topology } from '../topology';
import type { Decision } from '../workflows/protocol';
import { decide, getProgress, planCheck, startInstall } from './api';
import { connect, fitOutput, follow, handSchedulesTheTopology, INTERRUPTED, say, whileFollowing } from './command-support';
import { readHealth, topologyOfCluster } from './cluster';
import { formatHealth } from './health';
import { runbookFor } from './runbooks';
import { defaultServerDbFile, FINISHED_RUN_RETENTION_DAYS, startEmbeddedServer } from './dev-server';
import { createProgressDisplay, formatStepFailure, formatCheckReport, formatPlan, formatRunResult, formatStatus } from './progress';

/** `haflow plan`: the install runbook's steps, in order. Connects nowhere. */
export async function planCommand(topology: Topology): Promise<number> {
  await fitOutput();
  const plan = formatPlan(runbookFor('install', topology, undefined), `${topology.layout} layout, ${topology.hosts.length} hosts`);
  // A long title goes on under the plan's "what" column, a long guard under its own text.
  const whatColumn = plan.split('\n')[2].indexOf('what');
  say(plan, (line) => (/^\s+guard: /.test(line) ? line.indexOf('guard: ') + 7 : whatColumn));
  say('\nNothing was contacted. `haflow plan --check <topology>` asks the machines what each step would change.');
  return 0;
}

/** `haflow plan --check`: a check run on the workers; prints what each step would change. */
export async function planCheckCommand(topology: Topology): Promise<number> {
  runbookFor('install', topology, undefined);
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
  runbookFor('install', topology, undefined); // a layout it cannot drive is refused before Temporal is asked anything
  const client = await connect();
  const handle = await startInstall(client, topology);
  say(`started install of cluster ${topology.cluster}: workflow ${handle.workflowId} (run ${handle.firstExecutionRunId}) on task queue ${TASK_QUEUE}`);
  if (opts.detach) {
    say(`follow it with:  haflow status ${topology.cluster} --follow`);
    return 0;
  }
  const code = await follow(handle, topology.cluster, 'install');
  if (code === 0) await handSchedulesTheTopology(client, topology);
  return code;
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

/**
 * `haflow cancel`: ends the cluster's running operation. The workflow undoes what it must first
 * (a drill heals its fault, a scheduled switchover is withdrawn from Patroni), then ends cancelled.
 */
export async function cancelCommand(cluster: string): Promise<number> {
  const client = await connect();
  const operation = await getProgress(client, cluster);
  if (operation.status !== 'running' && operation.status !== 'blocked') {
    say(`nothing to cancel: the latest operation on cluster ${cluster} (${operation.runbook}) is ${operation.status}`);
    return 1;
  }
  const handle = client.workflow.getHandle(operation.workflowId);
  await handle.cancel();
  say(`cancel sent to the ${operation.runbook} of cluster ${cluster}; it undoes what it must, then ends`);
  const code = await follow(handle, cluster, operation.runbook, { seen: operation.progress });
  return code === 1 && (await handle.describe()).status.name === 'CANCELLED' ? 0 : code;
}

/**
 * A topology named on the command line: a topology file, or a cluster's name, whose topology is
 * the one haflow last ran an operation with (connects to Temporal to find it).
 */
export async function topologyNamed(target: string, load: (file: string) => Topology | undefined): Promise<Topology | undefined> {
  if (/\.ya?ml$/.test(target) || existsSync(target)) return load(target);
  return topologyOfCluster(await connect(), target);
}

/** `haflow list`: the cluster's health; exit 0 when healthy, 1 when not (naming what is wrong). */
export async function listCommand(topology: Topology, opts: { json?: boolean }): Promise<number> {
  const health = await readHealth(await connect(), topology);
  if (opts.json) process.stdout.write(`${JSON.stringify(health, null, 2)}\n`);
  else say(formatHealth(health));
  return health.healthy ? 0 : 1;
}

export interface ServerCommandOptions {
  dbFile?: string;
  port: number;
  uiPort: number;
}

/** `haflow server`: the embedded Temporal dev server until SIGINT/SIGTERM. */
export async function serverCommand(opts: ServerCommandOptions): Promise<number> {
  const dbFile = opts.dbFile ?? defaultServerDbFile();
  const server = await startEmbeddedServer({
    dbFile,
    port: opts.port,
    uiPort: opts.uiPort,
    onLog: (line) => process.stderr.write(`temporal: ${line}\n`),
  });
  say(`Temporal dev server for haflow on ${server.address} (pid ${server.pid})`);
  say(`  web UI:  ${server.uiUrl}`);
  say(`  state:   ${dbFile} (finished runs are kept ${FINISHED_RUN_RETENTION_DAYS} days)`);
  if (server.address !== EMBEDDED_ADDRESS) say(`  clients and workers find it with:  export TEMPORAL_ADDRESS=${server.address}`);
  say('Ctrl-C or SIGTERM stops it.');
  const stopped = await Promise.race([nextSignal().then((signal) => ({ signal })), server.exited.then((code) => ({ code }))]);
  if ('code' in stopped) {
    process.stderr.write(`haflow: the Temporal dev server exited on its own (code ${stopped.code})\n`);
    return 1;
  }
  await server.stop();
  say(`${stopped.signal}: Temporal dev server stopped; its state stays in ${dbFile}`);
  return 0;
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
