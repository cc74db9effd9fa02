// The operator's command line. A thin shell: each command parses its arguments and calls
// the typed API (topology loader, client functions), so scripts can do the same.
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { hostFiles, secretPlaceholder } from '../activities/components';
import { formatIssue, loadTopology, TopologyError, type Topology } from '../topology';
import type { Decision } from '../workflows/protocol';
import { AmbiguousStepError, DECISIONS } from './api';
import { demo } from './demo';
import { defaultServerDbFile } from './dev-server';
import { defineLabCommands } from './lab-command';
import { installCommand, planCheckCommand, planCommand, resumeCommand, serverCommand, statusCommand } from './operator-commands';

/** Exit codes: 0 ok, 1 the operation failed or found problems, 2 bad usage. */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command()
    .name('haflow')
    .description('Install and operate a highly available PostgreSQL stack (Patroni + etcd + HAProxy) as durable Temporal workflows')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('validate')
    .description('check topology files: every error with its file, line, column and field; exit 0 when all are valid')
    .argument('<topology...>', 'topology YAML files')
    .action((files: string[]) => {
      exitCode = validate(files);
    });

  program
    .command('render')
    .description('print every configuration file haflow would write, host by host (passwords shown as <env NAME>); connects nowhere')
    .argument('<topology>', 'topology YAML file')
    .option('--host <name>', 'only this host')
    .action((file: string, opts: { host?: string }) => {
      exitCode = render(file, opts.host);
    });

  program
    .command('demo')
    .description('the whole thing on this machine: embedded Temporal server, a worker, a lab of 3 real machines, the standalone install with live progress (needs root; installs what is missing)')
    .option('--keep', 'leave the lab, the server and the worker running (until Ctrl-C for the last two)')
    .action(async (opts: { keep?: boolean }) => {
      exitCode = await demo(opts);
    });

  defineLabCommands(program.command('lab'), (code) => (exitCode = code));

  program
    .command('plan')
    .description('print the install runbook for a topology, step by step in order (connects nowhere); --check asks the machines what each step would change')
    .argument('<topology>', 'topology YAML file')
    .option('--check', 'run the install in check mode on a worker: every step reports what it would change, nothing is changed')
    .action(async (file: string, opts: { check?: boolean }) => {
      exitCode = await withTopology(file, (topology) => (opts.check ? planCheckCommand(topology) : planCommand(topology)));
    });

  program
    .command('install')
    .description('install the cluster of a topology and show its progress; exit 0 when complete, 1 when a step blocks (with the commands to continue)')
    .argument('<topology>', 'topology YAML file')
    .option('--detach', 'start the install and return at once')
    .action(async (file: string, opts: { detach?: boolean }) => {
      exitCode = await withTopology(file, (topology) => installCommand(topology, opts));
    });

  program
    .command('status')
    .description("the progress of a cluster's latest operation (running, blocked, completed, aborted); exit 1 when there is none")
    .argument('<cluster>', 'cluster name, as in the topology')
    .option('--follow', 'follow a running operation until it completes or blocks (exit codes as for install)')
    .action(async (cluster: string, opts: { follow?: boolean }) => {
      exitCode = await statusCommand(cluster, opts);
    });

  program
    .command('resume')
    .description('decide for the blocked step of a cluster: --retry, --skip or --abort; then follow the run (exit codes as for install)')
    .argument('<cluster>', 'cluster name, as in the topology')
    .option('--retry', 'run the blocked step again (after fixing its cause)')
    .option('--skip', 'leave the blocked step as it is and go on with the next')
    .option('--abort', 'stop the operation at the blocked step')
    .option('--step <id>', 'the blocked step to decide for (needed when several are blocked)')
    .option('--reason <text>', 'why; recorded in the workflow history')
    .action(async (cluster: string, opts: ResumeOptions, command: Command) => {
      const decisions = DECISIONS.filter((d) => opts[d]);
      if (decisions.length !== 1) {
        command.error(`error: resume needs exactly one of --retry, --skip, --abort${decisions.length > 1 ? ` (got --${decisions.join(', --')})` : ''}`, { exitCode: 2 });
      }
      try {
        exitCode = await resumeCommand(cluster, decisions[0], opts);
      } catch (err) {
        if (err instanceof AmbiguousStepError) command.error(`error: ${err.message}`, { exitCode: 2 });
        throw err;
      }
    });

  program
    .command('server')
    .description('run the embedded Temporal dev server (the `temporal` CLI) with its state in a SQLite file; SIGINT/SIGTERM stop it')
    .option('--db-file <path>', 'SQLite file holding every workflow', defaultServerDbFile())
    .option('--port <n>', 'gRPC port clients and workers connect to', tcpPort, 7233)
    .option('--ui-port <n>', 'web UI port', tcpPort, 8233)
    .action(async (opts: { dbFile: string; port: number; uiPort: number }) => {
      exitCode = await serverCommand(opts);
    });

  program
    .command('worker')
    .description('run a worker: executes haflow workflows and activities (Temporal connection from TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE, default the embedded dev server)')
    .option('--grace <seconds>', 'seconds running activities get to finish on SIGINT/SIGTERM', '30')
    .action(async (opts: { grace: string }) => {
      // Loaded on demand: the worker pulls in the SDK's native runtime, which other commands do not need.
      const { runWorker } = require('../worker/main') as typeof import('../worker/main');
      await runWorker({ graceSeconds: Number(opts.grace) });
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    process.stderr.write(`haflow: ${(err as Error).message}\n`);
    return 1;
  }
  return exitCode;
}

type ResumeOptions = Partial<Record<Decision, boolean>> & { step?: string; reason?: string };

function tcpPort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('must be a TCP port (1-65535)');
  return n;
}

/** Loads and validates a topology file (printing every issue), then runs `command` on it; exit 1 when invalid. */
async function withTopology(file: string, command: (topology: Topology) => number | Promise<number>): Promise<number> {
  const loaded = loadOrReport(file);
  return loaded ? command(loaded.topology) : 1;
}

function render(file: string, hostName?: string): number {
  const { topology } = loadOrReport(file) ?? {};
  if (!topology) return 1;
  const hosts = topology.hosts.filter((h) => !hostName || h.name === hostName);
  if (hosts.length === 0) {
    process.stderr.write(`${file}: no host named ${hostName}; hosts are ${topology.hosts.map((h) => h.name).join(', ')}\n`);
    return 1;
  }
  for (const host of hosts) {
    for (const f of hostFiles(topology, host, secretPlaceholder)) {
      process.stdout.write(`==> ${host.name} (${host.address}): ${f.path}  ${f.owner}:${f.group} ${f.mode.toString(8)}\n${f.content}\n`);
    }
  }
  return 0;
}

function loadOrReport(file: string): ReturnType<typeof loadTopology> | undefined {
  try {
    const loaded = loadTopology(file);
    for (const warning of loaded.warnings) process.stderr.write(`${formatIssue(warning)}\n`);
    return loaded;
  } catch (err) {
    if (err instanceof TopologyError) {
      for (const issue of err.issues) process.stderr.write(`${formatIssue(issue)}\n`);
      process.stderr.write(`${file}: ${err.issues.filter((i) => i.severity === 'error').length} error(s)\n`);
    } else {
      process.stderr.write(`${file}: ${(err as Error).message}\n`);
    }
    return undefined;
  }
}

function validate(files: string[]): number {
  let failed = 0;
  for (const file of files) {
    const loaded = loadOrReport(file);
    if (!loaded) {
      failed += 1;
      continue;
    }
    const { topology } = loaded;
    process.stdout.write(`${file}: valid (${topology.layout} layout, cluster ${topology.cluster}, ${topology.hosts.length} hosts)\n`);
  }
  return failed > 0 ? 1 : 0;
}
