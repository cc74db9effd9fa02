// The operator's command line. A thin shell: each command parses its arguments and calls
// the typed API (topology loader, client functions), so scripts can do the same.
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { hostFiles, secretPlaceholder } from '../activities/components';
import { formatIssue, loadTopology, SYNCHRONOUS_MODES, TIMING_PROFILES, TopologyError, type Topology } from '../topology';
import { FAULT_NAMES, isFaultName, type FaultName } from '../topology/faults';
import type { Decision } from '../workflows/protocol';
import { AmbiguousStepError, DECISIONS } from './api';
import { readFileSync } from 'node:fs';
import { bundleCommand } from './bundle';
import { codecServerCommand } from './codec-server';
import { demo } from './demo';
import { defaultServerDbFile } from './dev-server';
import { defineLabCommands } from './lab-command';
import { defineObserverCommands } from './observer-commands';
import { defineScheduleCommands } from './schedule-commands';
import { migrateCommand } from './migrate-command';
import { drillCommand, reportsCommand, restartCommand, switchoverCommand, tuneCommand, upgradeCommand } from './failover-commands';
import { UnsupportedLayoutError } from './runbooks';
import { cancelCommand, installCommand, listCommand, planCheckCommand, planCommand, resumeCommand, serverCommand, statusCommand, topologyNamed } from './operator-commands';

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
      // Everything the demo started is stopped by now; a client's channel to the stopped server
      // must not keep the command from ending (it did, once in a few runs).
      const code = exitCode;
      setTimeout(() => process.exit(code), 2000).unref();
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
    .command('bundle')
    .description("download the topology's packages with every dependency into a new directory, for hosts without internet access (run where the package mirror is; install with packages: { bundle: <dir> })")
    .argument('<topology>', 'topology YAML file')
    .argument('<out>', 'a new directory for the bundle')
    .action(async (file: string, out: string) => {
      exitCode = await withTopology(file, (topology) => bundleCommand(topology, out));
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
    .command('migrate')
    .description("move a classic cluster (layout: classic) under Patroni on the same machines: checked, backed up, its observer stopped, PostgreSQL handed to Patroni where it runs, HAProxy's write endpoint, the application pointed at it; the write probe throughout reports every write pause")
    .argument('<classic-topology>', 'the classic cluster\'s topology YAML file')
    .argument('<patroni-topology>', 'the same machines as a Patroni layout (postgresql.data_dir: the classic data directory)')
    .option('--plan', 'print the steps, and start nothing')
    .option('--check', 'run it in check mode on a worker: every step reports what it would change, nothing is changed')
    .option('--detach', 'start it and return at once')
    .option('--json', 'print the report as JSON (the progress goes to stderr)')
    .action(async (classicFile: string, patroniFile: string, opts: { plan?: boolean; check?: boolean; detach?: boolean; json?: boolean }) => {
      const classic = loadOrReport(classicFile);
      const patroni = classic && loadOrReport(patroniFile);
      exitCode = classic && patroni ? await migrateCommand({ file: classicFile, topology: classic.topology }, { file: patroniFile, topology: patroni.topology }, opts) : 1;
    });

  program
    .command('status')
    .description("the progress of a cluster's latest operation (running, blocked, completed, aborted); exit 1 when there is none")
    .argument('<cluster>', 'cluster name, as in the topology')
    .option('--follow', 'follow a running operation until it completes or blocks (exit codes as for install)')
    .action(async (cluster: string, opts: { follow?: boolean }) => {
      exitCode = await statusCommand(cluster, opts);
    });

  /** The action of a command on one cluster, named or given as a topology file. */
  const onCluster =
    <O>(command: (topology: Topology, opts: O) => Promise<number>) =>
    async (target: string, opts: O): Promise<void> => {
      const topology = await topologyNamed(target, (file) => loadOrReport(file)?.topology);
      exitCode = topology ? await command(topology, opts) : 1;
    };

  program
    .command('list')
    .description("a cluster's health in the words of `patronictl list`, and where HAProxy sends writes; exit 1 when not healthy, naming what is wrong")
    .argument('<cluster>', 'cluster name (its topology is the one of its latest operation), or a topology YAML file')
    .option('--json', 'the health as JSON')
    .action(onCluster(listCommand));

  program
    .command('drill')
    .description('a failover drill: inject a real fault into the healthy cluster, measure write downtime and lost writes with a probe through HAProxy, heal, and report; exit 0 when it met the objectives, 1 when not, 2 when refused')
    .argument('<cluster>', 'cluster name (its topology is the one of its latest operation), or a topology YAML file')
    .requiredOption('--fault <fault>', `one of ${FAULT_NAMES.join(', ')}`, faultName)
    .option('--switch-back', 'switch over to the original leader at the end, leaving the cluster as it was')
    .option('--to <host>', 'for --fault switchover: the member to switch over to (default: the best replica)')
    .option('--plan', "print the drill's steps for the cluster as it is now, and start nothing")
    .option('--detach', 'start the drill and return at once')
    .option('--json', 'print the report as JSON (the progress goes to stderr)')
    .action(onCluster(drillCommand));

  program
    .command('restart')
    .description('a rolling restart of PostgreSQL: each replica through Patroni, waiting for it to stream again, then the leader after a coordinated switchover; the write probe runs throughout and the report gives every write pause')
    .argument('<cluster>', 'cluster name, or a topology YAML file')
    .option('--to <host>', 'the replica the leader is switched over to (default: the streaming replica least behind)')
    .option('--plan', 'print the steps for the cluster as it is now, and start nothing')
    .option('--detach', 'start it and return at once')
    .option('--json', 'print the report as JSON (the progress goes to stderr)')
    .action(onCluster(restartCommand));

  program
    .command('upgrade')
    .description("a rolling minor upgrade of PostgreSQL: each replica's packages upgraded, restarted and streaming again, then the leader's after a coordinated switchover; versions checked before and after, the write probe throughout")
    .argument('<cluster>', 'cluster name, or a topology YAML file')
    .option('--minor', 'the newest minor version of the same major version that the hosts\' package sources offer (the only kind there is)')
    .option('--to <host>', 'the replica the leader is switched over to (default: the streaming replica least behind)')
    .option('--plan', 'print the steps for the cluster as it is now, and start nothing')
    .option('--detach', 'start it and return at once')
    .option('--json', 'print the report as JSON (the progress goes to stderr)')
    .action(onCluster(upgradeCommand));

  program
    .command('switchover')
    .description("a planned switchover through Patroni's REST API, with the write probe running throughout; verified, and its write downtime reported")
    .argument('<cluster>', 'cluster name, or a topology YAML file')
    .option('--to <host>', 'the member to switch over to (default: the streaming replica least behind)')
    .option('--at <time>', "when Patroni should switch over (ISO 8601, Patroni's scheduled_at)")
    .option('--coordinated', 'tell HAProxy through its runtime API the moment the new leader is primary, instead of waiting for its checks (the default, except with --at)')
    .option('--plain', "let HAProxy's checks find the new leader, as Patroni alone would")
    .option('--detach', 'start it and return at once')
    .action(onCluster(switchoverCommand));

  program
    .command('tune')
    .description("move a running cluster to a timing profile or a synchronous mode: Patroni's dynamic configuration (PATCH /config), config.yml on each node, HAProxy's checks through a checked reload")
    .argument('<cluster>', 'cluster name, or a topology YAML file')
    .option('--profile <profile>', `timings: ${Object.entries(TIMING_PROFILES).map(([n, t]) => `${n} (ttl ${t.patroni.ttl}, loop_wait ${t.patroni.loop_wait}, retry_timeout ${t.patroni.retry_timeout}, HAProxy inter ${t.check.inter}s fall ${t.check.fall} rise ${t.check.rise})`).join(', ')}`, oneOf(Object.keys(TIMING_PROFILES)))
    .option('--synchronous <mode>', `synchronous replication: ${SYNCHRONOUS_MODES.join(', ')}`, oneOf(SYNCHRONOUS_MODES))
    .option('--plan', 'print the steps, start nothing')
    .option('--check', 'ask the machines what would change, change nothing')
    .option('--detach', 'start it and return at once')
    .action(onCluster(tuneCommand));

  defineScheduleCommands(
    program.command('schedule'),
    (code) => (exitCode = code),
    (target) => topologyNamed(target, (file) => loadOrReport(file)?.topology),
    faultName,
  );

  defineObserverCommands(
    program.command('observer'),
    program.command('app'),
    (code) => (exitCode = code),
    (target) => topologyNamed(target, (file) => loadOrReport(file)?.topology),
  );

  program
    .command('reports')
    .description("the cluster's drills and switchovers, newest first (fault, verdict, write downtime, lost writes, predicted); with an id, that report")
    .argument('<cluster>', 'cluster name')
    .argument('[id]', 'a report id (or its beginning)')
    .option('--since <date>', 'only reports from this date on')
    .option('--json', 'as JSON')
    .option('--html <file>', 'write the trend page: one self-contained HTML file with write downtime per drill against the objective, linking each timeline')
    .action(async (cluster: string, id: string | undefined, opts: { since?: string; json?: boolean; html?: string }) => {
      exitCode = await reportsCommand(cluster, id, opts);
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
    .command('cancel')
    .description("end the cluster's running operation: a drill heals its fault first, a scheduled switchover is withdrawn from Patroni; exit 0 once it ended cancelled")
    .argument('<cluster>', 'cluster name, as in the topology')
    .action(async (cluster: string) => {
      exitCode = await cancelCommand(cluster);
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
    .command('codec-server')
    .description("decrypt haflow's payloads for the Temporal web UI (HAFLOW_CODEC_KEY and HAFLOW_CODEC_KEY_ID as the worker has them); runs until SIGINT/SIGTERM")
    .option('--port <n>', 'HTTP port', tcpPort, 8888)
    .option('--listen <address>', 'address to listen on; whoever reaches it can read the histories', '127.0.0.1')
    .option('--ui-origin <url>', "the web UI's origin, allowed to call it from the browser", 'http://localhost:8233')
    .action(async (opts: { port: number; listen: string; uiOrigin: string }) => {
      exitCode = await codecServerCommand(opts);
    });

  program
    .command('worker')
    .description('run a worker: executes haflow workflows and activities (Temporal connection from TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE, default the embedded dev server)')
    .option('--grace <seconds>', 'seconds running activities get to finish on SIGINT/SIGTERM', '30')
    .option('--activity-slots <n>', 'activities run at once; each application observer holds one while it watches, so keep it above the clusters observed by this worker plus room for runbooks (default 500)', positiveInteger)
    .action(async (opts: { grace: string; activitySlots?: number }) => {
      // Loaded on demand: the worker pulls in the SDK's native runtime, which other commands do not need.
      const { runWorker } = require('../worker/main') as typeof import('../worker/main');
      await runWorker({ graceSeconds: Number(opts.grace), activitySlots: opts.activitySlots });
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

function oneOf<T extends string>(values: readonly T[]) {
  return (value: string): T => {
    if (!(values as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${values.join(', ')}`);
    return value as T;
  };
}

function faultName(value: string): FaultName {
  if (!isFaultName(value)) throw new InvalidArgumentError(`must be one of ${FAULT_NAMES.join(', ')}`);
  return value;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number, 1 or more');
  return n;
}

function tcpPort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('must be a TCP port (1-65535)');
  return n;
}

/** Loads and validates a topology file (printing every issue), then runs `command` on it; exit 1 when invalid. */
async function withTopology(file: string, command: (topology: Topology) => number | Promise<number>): Promise<number> {
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

const MAX_ISSUES_SHOWN = 25;

function loadOrReport(file: string): ReturnType<typeof loadTopology> | undefined {
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
