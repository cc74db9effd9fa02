// The commands of an operation's life on a cluster: `install` starts one and follows it,
// `status` shows the latest, `resume` decides for a blocked step, `cancel` ends a running one,
// `list` shows the cluster's health. Each connects, calls the client library, shows what happens
// (./progress.ts) and returns the exit code: 0 done, 1 failed or blocked, 130 interrupted while
// following (the run goes on).
import type { Command } from 'commander';
import { AmbiguousStepError, decide, DECISIONS, getProgress, startInstall } from '../client/api';
import type { Client } from '@temporalio/client';
import { installedWithoutTls, readHealth } from '../client/cluster';
import type { TlsMoveArgs } from '../runbooks/tls-move';
import { plainTextOf } from '../topology/tls';
import { runbookFor } from '../client/runbooks';
import { TASK_QUEUE } from '../connection/temporal';
import type { Topology } from '../topology';
import type { Decision } from '../workflows/protocol';
import { formatHealth } from './health';
import { formatStatus } from './progress';
import { connect, exits, follow, handSchedulesTheTopology, onCluster, printJson, say, withTopology } from './support';

type ResumeOptions = Partial<Record<Decision, boolean>> & { step?: string; reason?: string };

export function registerOperationCommands(program: Command): void {
  program
    .command('install')
    .description('install the cluster of a topology and show its progress; exit 0 when complete, 1 when a step blocks (with the commands to continue)')
    .argument('<topology>', 'topology YAML file')
    .option('--detach', 'start the install and return at once')
    .option('--to-tls', "move the running cluster, installed without TLS, to the topology's TLS while it takes writes (chosen by itself when the cluster's latest operation ran without TLS)")
    .action(exits((file: string, opts: { detach?: boolean; toTls?: boolean }) => withTopology(file, (topology) => installCommand(topology, opts))));

  program
    .command('status')
    .description("the progress of a cluster's latest operation (running, blocked, completed, aborted); exit 1 when there is none")
    .argument('<cluster>', 'cluster name, as in the topology')
    .option('--follow', 'follow a running operation until it completes or blocks (exit codes as for install)')
    .action(exits(statusCommand));

  program
    .command('list')
    .description("a cluster's health in the words of `patronictl list`, and where HAProxy sends writes; exit 1 when not healthy, naming what is wrong")
    .argument('<cluster>', 'cluster name (its topology is the one of its latest operation), or a topology YAML file')
    .option('--json', 'the health as JSON')
    .action(onCluster(listCommand));

  program
    .command('resume')
    .description('decide for the blocked step of a cluster: --retry, --skip or --abort; then follow the run (exit codes as for install)')
    .argument('<cluster>', 'cluster name, as in the topology')
    .option('--retry', 'run the blocked step again (after fixing its cause)')
    .option('--skip', 'leave the blocked step as it is and go on with the next')
    .option('--abort', 'stop the operation at the blocked step')
    .option('--step <id>', 'the blocked step to decide for (needed when several are blocked)')
    .option('--reason <text>', 'why; recorded in the workflow history')
    .action(
      exits(async (cluster: string, opts: ResumeOptions, command: Command) => {
        const decisions = DECISIONS.filter((d) => opts[d]);
        if (decisions.length !== 1) {
          command.error(`error: resume needs exactly one of --retry, --skip, --abort${decisions.length > 1 ? ` (got --${decisions.join(', --')})` : ''}`, { exitCode: 2 });
        }
        try {
          return await resumeCommand(cluster, decisions[0], opts);
        } catch (err) {
          if (err instanceof AmbiguousStepError) command.error(`error: ${err.message}`, { exitCode: 2 });
          throw err;
        }
      }),
    );

  program
    .command('cancel')
    .description("end the cluster's running operation: a drill heals its fault first, a scheduled switchover is withdrawn from Patroni; exit 0 once it ended cancelled")
    .argument('<cluster>', 'cluster name, as in the topology')
    .action(exits(cancelCommand));
}

/** `haflow install`: starts the install and follows it, unless detached. */
async function installCommand(topology: Topology, opts: { detach?: boolean; toTls?: boolean }): Promise<number> {
  runbookFor('install', topology, undefined); // a layout it cannot drive is refused before Temporal is asked anything
  const client = await connect();
  const move = await tlsMoveOrSay(client, topology, opts.toTls === true);
  if (move === 'refused') return 2;
  const handle = await startInstall(client, topology, {}, move);
  say(`started install of cluster ${topology.cluster}: workflow ${handle.workflowId} (run ${handle.firstExecutionRunId}) on task queue ${TASK_QUEUE}`);
  if (opts.detach) {
    say(`follow it with:  haflow status ${topology.cluster} --follow`);
    return 0;
  }
  const code = await follow(handle, topology.cluster, 'install');
  if (code === 0) await handSchedulesTheTopology(client, topology);
  return code;
}

/**
 * Whether this install moves a running cluster from plain text to TLS (asked with --to-tls, or
 * found: the cluster's latest operation ran without TLS), and then its leader, read over plain
 * text; 'refused' after saying why the move cannot start.
 */
export async function tlsMoveOrSay(client: Client, topology: Topology, asked: boolean): Promise<TlsMoveArgs | undefined | 'refused'> {
  if (asked && (!topology.tls || topology.layout === 'classic')) {
    say(`--to-tls refused: ${topology.layout === 'classic' ? 'the classic layout has no etcd or Patroni to move; its PostgreSQL gains TLS with an ordinary install' : `the topology of cluster ${topology.cluster} has no TLS (security.insecure): remove security.insecure to ask for it`}`);
    return 'refused';
  }
  if (!asked && !(await installedWithoutTls(client, topology))) return undefined;
  const health = await readHealth(client, plainTextOf(topology));
  if (!health.healthy || !health.leader) {
    say(`the move of cluster ${topology.cluster} to TLS refused: it starts only on a healthy cluster running in plain text.\n\n${formatHealth(health)}`);
    return 'refused';
  }
  say(
    `cluster ${topology.cluster} runs without TLS${asked ? '' : " (its latest operation's topology)"}: this install moves it to TLS while it takes writes: ` +
      `Patroni paused, etcd a member at a time, then Patroni (${health.leader}, the leader, first) restarted on TLS, PostgreSQL reloaded, not restarted; HAProxy holds the leader meanwhile`,
  );
  return { leader: health.leader };
}

/** `haflow status`: the latest operation on a cluster; with follow, waits like install does. */
async function statusCommand(cluster: string, opts: { follow?: boolean }): Promise<number> {
  const client = await connect();
  const operation = await getProgress(client, cluster);
  if (!opts.follow || operation.closeTime) {
    say(formatStatus(operation));
    return 0;
  }
  return follow(client.workflow.getHandle(operation.workflowId), cluster, operation.runbook);
}

/** `haflow resume`: sends the decision for a blocked step, then follows the run. */
async function resumeCommand(cluster: string, decision: Decision, opts: { step?: string; reason?: string }): Promise<number> {
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
async function cancelCommand(cluster: string): Promise<number> {
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

/** `haflow list`: the cluster's health; exit 0 when healthy, 1 when not (naming what is wrong). */
async function listCommand(topology: Topology, opts: { json?: boolean }): Promise<number> {
  const health = await readHealth(await connect(), topology);
  if (opts.json) printJson(health);
  else say(formatHealth(health));
  return health.healthy ? 0 : 1;
}
