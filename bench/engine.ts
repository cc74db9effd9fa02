// haflow's orchestration cost, with no machine in the way: the real install and drill workflows,
// their real step lists built from a lab topology, started through the product's client API, many
// at once, against a worker whose activities are no-op stand-ins (bench/engine-activities.ts) and
// which runs in a process of its own (bench/engine-worker.ts), so its CPU time and peak memory
// are its own. Per number of workflows at once: steps and workflows per second, time per workflow
// (median, p95), the worker's CPU time and peak RSS; with haflow's worker defaults and with a
// tuned set side by side, alternating; and the history length and size of one install and one
// drill beside Temporal's limits. Needs the Temporal CLI (for the embedded dev server) unless
// it runs against an existing cluster. Leaves nothing running.
// Run: npm run bench -- engine [concurrency,...] [--configs default,tuned] [--tuned name=value,...]
//        [--min-workflows N] [--rounds N] [--topology file.yaml] [--address host:port] [--namespace ns]
//   e.g. npm run bench -- engine 1,10,50,200
//        npm run bench -- engine 10,50 --address temporal.example.net:7233 --namespace haflow
//   (or TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE set, with Temporal's other environment settings for TLS or an API key)
// On a cluster, its workflows run on task queues of their own (haflow-engine-bench-*), never on a real
// worker's, and stay in the namespace (clusters named engine-<run>-<n>) until its retention ends.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { startInstall, startRunbook, type RunbookHandle } from '../client/api';
import { findTemporalCli, portOr, startEmbeddedServer } from '../client/dev-server';
import { connectClient } from '../client/temporal';
import { temporalSettings } from '../connection/temporal';
import { dbHosts, loadTopology, type Topology } from '../topology';
import type { RunbookOutcome } from '../workflows/protocol';
import type { EngineTuning, EngineWorkerConfig, EngineWorkerReady } from './engine-worker';
import { cpuSeconds, memoryBytes } from './proc';
import { median, table, type Bench } from './record';

const ROOT = join(__dirname, '..');

/** Temporal's default history limits (dynamic config limit.historyCount.* and limit.historySize.*). */
const HISTORY_LIMITS = { eventsError: 50 * 1024, eventsWarn: 10 * 1024, bytesError: 50 * 1024 * 1024, bytesWarn: 10 * 1024 * 1024 };

/** The tuned set compared with haflow's defaults unless --tuned gives another. */
const DEFAULT_TUNED: EngineTuning = { maxConcurrentWorkflowTaskExecutions: 100, maxConcurrentActivityTaskExecutions: 200, maxCachedWorkflows: 400 };
const TUNING_NAMES = ['maxCachedWorkflows', 'maxConcurrentActivityTaskExecutions', 'maxConcurrentWorkflowTaskExecutions'] as const;

/** The drill run beside the install: the headline fault of the lab. */
const DRILL_FAULT = 'crash-leader';

/** A level that has not finished after this long is reported as stuck rather than waited for. */
const LEVEL_DEADLINE_MS = 10 * 60_000;

type ConfigName = 'default' | 'tuned';
type Kind = 'install' | 'drill';

interface EngineArgs {
  concurrencies: number[];
  configs: ConfigName[];
  tuned: EngineTuning;
  /** Each level runs at least this many workflows (more than one at a time for low concurrencies). */
  minWorkflows: number;
  rounds: number;
  topologyFile: string;
  address?: string;
  namespace?: string;
}

function parseArgs(args: string[]): EngineArgs {
  const parsed: EngineArgs = {
    concurrencies: [1, 10, 50, 200],
    configs: ['default', 'tuned'],
    tuned: DEFAULT_TUNED,
    minWorkflows: 6,
    rounds: 1,
    topologyFile: join(ROOT, 'lab/topologies/standalone.yaml'),
  };
  const positive = (flag: string, value: string | undefined) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} takes a whole number of at least 1, got ${value}`);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = () => {
      const next = args[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--configs') {
      const names = value().split(',');
      for (const name of names) if (name !== 'default' && name !== 'tuned') throw new Error(`--configs takes default and/or tuned, got ${name}`);
      parsed.configs = names as ConfigName[];
    } else if (arg === '--tuned') {
      const tuned: EngineTuning = {};
      for (const pair of value().split(',')) {
        const [name, n] = pair.split('=');
        if (!(TUNING_NAMES as readonly string[]).includes(name)) throw new Error(`--tuned takes ${TUNING_NAMES.join(', ')}; got ${name}`);
        tuned[name as (typeof TUNING_NAMES)[number]] = positive(name, n);
      }
      parsed.tuned = tuned;
    } else if (arg === '--min-workflows') parsed.minWorkflows = positive(arg, value());
    else if (arg === '--rounds') parsed.rounds = positive(arg, value());
    else if (arg === '--topology') parsed.topologyFile = value();
    else if (arg === '--address') parsed.address = value();
    else if (arg === '--namespace') parsed.namespace = value();
    else if (/^\d+(,\d+)*$/.test(arg)) parsed.concurrencies = arg.split(',').map((n) => positive('a concurrency', n));
    else throw new Error(`unknown argument ${arg}; usage: engine [concurrency,...] [--configs default,tuned] [--tuned name=value,...] [--min-workflows N] [--rounds N] [--topology file] [--address host:port] [--namespace ns]`);
  }
  return parsed;
}

// ---------------------------------------------------------------- /proc

// ---------------------------------------------------------------- the target and the worker

interface Target {
  /** How rows are labelled: the embedded server, or the cluster's address and namespace. */
  label: string;
  client: Client;
  /** Where the worker process connects. */
  worker: Pick<EngineWorkerConfig, 'address' | 'namespace'>;
  workerEnv: NodeJS.ProcessEnv;
  /** The embedded server's process, whose CPU time is read too. */
  serverPid?: number;
  close(): Promise<void>;
}

async function openTarget(args: EngineArgs, dir: string): Promise<Target> {
  const clusterEnv = { ...process.env, ...(args.address ? { TEMPORAL_ADDRESS: args.address } : {}), ...(args.namespace ? { TEMPORAL_NAMESPACE: args.namespace } : {}) };
  if (clusterEnv.TEMPORAL_ADDRESS) {
    const settings = temporalSettings(clusterEnv);
    const client = await connectClient(settings);
    return {
      label: `${settings.address} (namespace ${settings.namespace})`,
      client,
      worker: {},
      workerEnv: clusterEnv,
      close: () => client.connection.close(),
    };
  }
  const version = /Server ([\d.]+)/.exec(execFileSync(findTemporalCli(), ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  // As `haflow server` runs it: state in a SQLite file. No web UI: nothing here looks at it.
  const server = await startEmbeddedServer({ dbFile: join(dir, 'temporal.sqlite'), port: await portOr(7299), uiPort: false });
  try {
    const client = await connectClient({ address: server.address, namespace: 'default', connectionOptions: { address: server.address } });
    // The worker connects to this server only, whatever Temporal settings the environment holds.
    const workerEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TEMPORAL_')));
    return {
      label: `embedded dev server ${version}`,
      client,
      worker: { address: server.address, namespace: 'default' },
      workerEnv,
      serverPid: server.pid,
      close: async () => {
        await client.connection.close();
        await server.stop();
      },
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

interface EngineWorker {
  ready: EngineWorkerReady;
  /** Resident set right after it started polling, before any workflow. */
  idleRssMiB: number;
  cpuAtReady: number;
  stop(): Promise<void>;
}

async function startEngineWorker(config: EngineWorkerConfig, env: NodeJS.ProcessEnv): Promise<EngineWorker> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'engine-worker.ts'), JSON.stringify(config)], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const errors: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    errors.push(line);
    process.stderr.write(`  worker: ${line}\n`);
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(killer);
  };
  try {
    const ready = await new Promise<EngineWorkerReady>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the engine worker did not start polling within 60 s')), 60_000);
      createInterface({ input: child.stdout! }).once('line', (line) => {
        clearTimeout(timer);
        resolve(JSON.parse(line) as EngineWorkerReady);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the engine worker exited with ${code} before polling:\n${errors.slice(-15).join('\n')}`));
      });
    });
    return { ready, idleRssMiB: memoryBytes(ready.pid).rss / 2 ** 20, cpuAtReady: cpuSeconds(ready.pid), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---------------------------------------------------------------- one level

interface LevelFigures {
  config: ConfigName;
  concurrency: number;
  workflows: Record<Kind, number>;
  failed: number;
  steps: number;
  wallMs: number;
  durationsMs: Record<Kind, number[]>;
  workerCpuSeconds: number;
  workerPeakMiB: number;
  workerIdleMiB: number;
  serverCpuSeconds?: number;
  /** This process: starting the workflows and waiting for their results. */
  clientCpuSeconds: number;
  ready: EngineWorkerReady;
}

interface Runner {
  target: Target;
  topology: Topology;
  leader: string;
  /** Unique per benchmark run: cluster names (and so workflow ids) and task queues never collide with anything else. */
  tag: string;
  bundlePath: string;
  next: number;
  /** The first install and drill run, for their histories. */
  firstHandles: Partial<Record<Kind, RunbookHandle>>;
}

function startOne(runner: Runner, kind: Kind, taskQueue: string): Promise<RunbookHandle> {
  // Every operation runs under its cluster's workflow id: each gets a cluster of its own.
  const topology: Topology = { ...runner.topology, cluster: `engine-${runner.tag}-${runner.next++}` };
  return kind === 'install'
    ? startInstall(runner.target.client, topology, { taskQueue })
    : startRunbook(runner.target.client, 'drill', topology, { fault: DRILL_FAULT, leader: runner.leader }, { taskQueue });
}

async function runLevel(runner: Runner, config: ConfigName, tuning: EngineTuning, concurrency: number, total: number): Promise<LevelFigures> {
  const taskQueue = `haflow-engine-bench-${runner.tag}-${config}-${concurrency}-${runner.next}`;
  const worker = await startEngineWorker(
    { taskQueue, bundlePath: runner.bundlePath, ...runner.target.worker, tuning: config === 'tuned' ? tuning : {} },
    runner.target.workerEnv,
  );
  const figures: LevelFigures = {
    config,
    concurrency,
    workflows: { install: 0, drill: 0 },
    failed: 0,
    steps: 0,
    wallMs: 0,
    durationsMs: { install: [], drill: [] },
    workerCpuSeconds: 0,
    workerPeakMiB: 0,
    workerIdleMiB: worker.idleRssMiB,
    clientCpuSeconds: 0,
    ready: worker.ready,
  };
  const label = `${config} × ${concurrency} at once`;
  let done = 0;
  try {
    const serverCpuBefore = runner.target.serverPid ? cpuSeconds(runner.target.serverPid) : undefined;
    const clientCpuBefore = process.cpuUsage();
    const started = performance.now();
    const progress = setInterval(
      () => process.stdout.write(`  ${label}: ${done}/${total} workflows done, ${figures.steps} steps, ${((performance.now() - started) / 1000).toFixed(0)} s\n`),
      5_000,
    );
    let issued = 0;
    // A closed loop: `concurrency` lanes, each starting its next workflow when the last one ends; install and drill alternate.
    const lane = async () => {
      while (issued < total) {
        const kind: Kind = issued++ % 2 === 0 ? 'install' : 'drill';
        const t0 = performance.now();
        const handle = await startOne(runner, kind, taskQueue);
        runner.firstHandles[kind] ??= handle;
        try {
          const outcome = (await handle.result()) as RunbookOutcome;
          figures.durationsMs[kind].push(performance.now() - t0);
          figures.workflows[kind]++;
          // The drill's observer is an activity of its own beside the steps.
          figures.steps += outcome.steps.filter((s) => s.status === 'done').length + (kind === 'drill' ? 1 : 0);
        } catch {
          figures.failed++;
        }
        done++;
      }
    };
    let deadline: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.all(Array.from({ length: Math.min(concurrency, total) }, lane)),
        new Promise((_, reject) => {
          deadline = setTimeout(() => reject(new Error(`${label}: not done after ${LEVEL_DEADLINE_MS / 60_000} min (${done}/${total} workflows)`)), LEVEL_DEADLINE_MS);
        }),
      ]);
    } finally {
      clearTimeout(deadline);
      clearInterval(progress);
    }
    figures.wallMs = performance.now() - started;
    figures.workerCpuSeconds = cpuSeconds(worker.ready.pid) - worker.cpuAtReady;
    figures.workerPeakMiB = memoryBytes(worker.ready.pid).hwm / 2 ** 20;
    const clientCpu = process.cpuUsage(clientCpuBefore);
    figures.clientCpuSeconds = (clientCpu.user + clientCpu.system) / 1e6;
    if (serverCpuBefore !== undefined) figures.serverCpuSeconds = cpuSeconds(runner.target.serverPid!) - serverCpuBefore;
  } finally {
    await worker.stop();
  }
  process.stdout.write(
    `${label}: ${total} workflows, ${figures.steps} steps in ${(figures.wallMs / 1000).toFixed(1)} s = ${((figures.steps * 1000) / figures.wallMs).toFixed(0)} steps/s; ` +
      `worker CPU ${figures.workerCpuSeconds.toFixed(1)} s, peak RSS ${figures.workerPeakMiB.toFixed(0)} MiB${figures.failed ? `; ${figures.failed} FAILED` : ''}\n`,
  );
  return figures;
}

// ---------------------------------------------------------------- history

interface HistoryFigures {
  kind: Kind;
  steps: number;
  events: number;
  encodedBytes: number;
  serverBytes?: number;
}

async function historyOf(kind: Kind, handle: RunbookHandle): Promise<HistoryFigures> {
  const description = await handle.describe();
  const history = await handle.fetchHistory();
  const outcome = (await handle.result()) as RunbookOutcome;
  return {
    kind,
    steps: outcome.steps.length,
    events: history.events?.length ?? description.historyLength,
    encodedBytes: temporal.api.history.v1.History.encode(history).finish().length,
    serverBytes: description.historySize,
  };
}

// ---------------------------------------------------------------- figures

/** Nearest-rank percentile. */
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const stepsPerSecond = (f: LevelFigures) => (f.steps * 1000) / f.wallMs;
const cpuMsPerStep = (f: LevelFigures) => (f.workerCpuSeconds * 1000) / f.steps;
const times = (limit: number, figure: number) => `${Math.floor(limit / figure).toLocaleString('en-US')}×`;

function describeTuning(tuning: EngineTuning): string {
  const set = TUNING_NAMES.filter((name) => tuning[name] !== undefined).map((name) => `${name} ${tuning[name]}`);
  return set.length ? set.join(', ') : "haflow's defaults (createWorker)";
}

export const run: Bench = async (argv) => {
  const args = parseArgs(argv);
  const { topology } = loadTopology(args.topologyFile);
  const leader = dbHosts(topology)[0]?.name;
  if (!leader) throw new Error(`${args.topologyFile} has no DB host to lead the drill`);
  const dir = mkdtempSync(join(tmpdir(), 'haflow-engine-'));
  let target: Target | undefined;
  const levels: LevelFigures[] = [];
  const histories: HistoryFigures[] = [];
  try {
    process.stdout.write('bundling the workflows once for every worker …\n');
    const bundleStarted = performance.now();
    const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: new DefaultLogger('WARN') });
    const bundlePath = join(dir, 'workflow-bundle.js');
    writeFileSync(bundlePath, code);
    process.stdout.write(`bundled in ${((performance.now() - bundleStarted) / 1000).toFixed(1)} s\n`);
    target = await openTarget(args, dir);
    process.stdout.write(`server: ${target.label}\n`);
    const runner: Runner = { target, topology, leader, tag: randomBytes(3).toString('hex'), bundlePath, next: 0, firstHandles: {} };

    for (let round = 0; round < args.rounds; round++) {
      for (const [index, concurrency] of args.concurrencies.entries()) {
        // Alternating which configuration goes first, so drift in the machine's load falls on both.
        const order = (index + round) % 2 === 0 ? args.configs : [...args.configs].reverse();
        for (const config of order) {
          const total = Math.max(concurrency, args.minWorkflows);
          process.stdout.write(`round ${round + 1}: ${config} (${describeTuning(config === 'tuned' ? args.tuned : {})}), ${total} workflows, ${concurrency} at once …\n`);
          levels.push(await runLevel(runner, config, args.tuned, concurrency, total));
        }
      }
    }
    for (const kind of ['install', 'drill'] as const) {
      const handle = runner.firstHandles[kind];
      if (handle) histories.push(await historyOf(kind, handle));
    }
  } finally {
    await target?.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const server = target!.label;
  const configLabel = (config: ConfigName) => (config === 'default' ? 'defaults' : 'tuned');
  // With several rounds: the median of the rounds' figures, the durations of every round together.
  const cells = args.concurrencies.flatMap((concurrency) =>
    args.configs.map((config) => ({ config, concurrency, runs: levels.filter((l) => l.config === config && l.concurrency === concurrency) })),
  );
  const m = (runs: LevelFigures[], figure: (f: LevelFigures) => number) => median(runs.map(figure));
  const durations = (runs: LevelFigures[], kind: Kind) => runs.flatMap((r) => r.durationsMs[kind]);
  const latency = (xs: number[]) => (xs.length ? `${seconds(median(xs))} / ${seconds(percentile(xs, 95))}` : '—');

  const throughputRows = cells.map(({ config, concurrency, runs }) => [
    server,
    configLabel(config),
    concurrency,
    `${m(runs, (r) => r.workflows.install)} + ${m(runs, (r) => r.workflows.drill)}${runs.some((r) => r.failed) ? ` (${runs.reduce((n, r) => n + r.failed, 0)} failed)` : ''}`,
    m(runs, (r) => r.steps),
    seconds(m(runs, (r) => r.wallMs)),
    m(runs, stepsPerSecond).toFixed(0),
    m(runs, (r) => ((r.workflows.install + r.workflows.drill) * 1000) / r.wallMs).toFixed(2),
    latency(durations(runs, 'install')),
    latency(durations(runs, 'drill')),
  ]);
  const resourceRows = cells.map(({ config, concurrency, runs }) => [
    server,
    configLabel(config),
    concurrency,
    `${m(runs, (r) => r.workerCpuSeconds).toFixed(1)} s`,
    m(runs, cpuMsPerStep).toFixed(2),
    `${m(runs, (r) => r.workerPeakMiB).toFixed(0)} MiB`,
    `${m(runs, (r) => r.workerIdleMiB).toFixed(0)} MiB`,
    runs.every((r) => r.serverCpuSeconds !== undefined) ? `${m(runs, (r) => r.serverCpuSeconds!).toFixed(1)} s` : '—',
    `${m(runs, (r) => r.clientCpuSeconds).toFixed(1)} s`,
  ]);
  const sizeRows = args.configs.map((config) => {
    const ready = levels.find((l) => l.config === config)!.ready;
    return [configLabel(config), ready.maxCachedWorkflows, ready.workflowTaskSlots, ready.activityTaskSlots];
  });

  const parts = [
    `Server: ${server}. Topology: ${args.topologyFile.replace(`${ROOT}/`, '')} (cluster names made unique per run). ` +
      `Per level: max(at once, ${args.minWorkflows}) workflows, install and ${DRILL_FAULT} drill alternating, ${args.rounds} round(s).`,
    '',
    table(['server', 'worker options', 'at once', 'workflows (install + drill)', 'steps', 'wall', 'steps/s', 'workflows/s', 'install median / p95', 'drill median / p95'], throughputRows),
    '',
    `An install is ${histories.find((h) => h.kind === 'install')?.steps ?? '?'} step activities in sequence and parallel groups; a drill is its ${histories.find((h) => h.kind === 'drill')?.steps ?? '?'} steps and the observer, ` +
      "and waits 4 s by design before its fault (the write probe's baseline, a durable timer), so no drill takes less. With fewer than 20 workflows of a kind, p95 is the slowest.",
    '',
    "CPU time over each level (worker: from its start of polling; server: the embedded server's process; client: this process, starting the workflows and awaiting their results) " +
      "and the worker's memory (peak RSS = VmHWM over the worker's life, which began with the level):",
    '',
    table(['server', 'worker options', 'at once', 'worker CPU', 'worker CPU ms per step', 'worker peak RSS', 'worker RSS after start', 'server CPU', 'client CPU'], resourceRows),
    '',
    'The worker sizes in effect (as the SDK compiled them):',
    '',
    table(['worker options', 'maxCachedWorkflows', 'workflow task slots', 'activity task slots'], sizeRows),
  ];

  if (args.configs.length === 2) {
    const ratioRows: (string | number)[][] = [];
    const ratios: { concurrency: number; speed: number; cpu: number }[] = [];
    for (const concurrency of args.concurrencies) {
      const of = (config: ConfigName) => levels.filter((l) => l.config === config && l.concurrency === concurrency);
      const [before, after] = [of('default'), of('tuned')];
      const speed = m(after, stepsPerSecond) / m(before, stepsPerSecond);
      const cpu = m(after, cpuMsPerStep) / m(before, cpuMsPerStep);
      ratios.push({ concurrency, speed, cpu });
      ratioRows.push([
        concurrency,
        m(before, stepsPerSecond).toFixed(0),
        m(after, stepsPerSecond).toFixed(0),
        `${((speed - 1) * 100).toFixed(0)} %`,
        `${m(before, cpuMsPerStep).toFixed(2)} → ${m(after, cpuMsPerStep).toFixed(2)}`,
        `${m(before, (r) => r.workerPeakMiB).toFixed(0)} → ${m(after, (r) => r.workerPeakMiB).toFixed(0)} MiB`,
      ]);
    }
    // "Clearly" = at least 15 % more steps per second at every level of 10 or more at once, and not worse at the others.
    const loaded = ratios.filter((r) => r.concurrency >= 10);
    const clearlyBetter = loaded.length > 0 && loaded.every((r) => r.speed >= 1.15) && ratios.every((r) => r.speed >= 0.95);
    const clearlyWorse = loaded.length > 0 && loaded.every((r) => r.speed <= 0.87);
    parts.push(
      '',
      `Before/after: haflow's defaults against ${describeTuning(args.tuned)}:`,
      '',
      table(['at once', 'steps/s, defaults', 'steps/s, tuned', 'change', 'worker CPU ms per step', 'worker peak RSS'], ratioRows),
      '',
      clearlyBetter
        ? 'Verdict: the tuned set is clearly better here (at least 15 % more steps per second at every level of 10 or more workflows at once).'
        : clearlyWorse
          ? 'Verdict: the tuned set is clearly worse here.'
          : `Verdict: no clear difference (changes within noise or mixed${args.rounds === 1 ? ', one round' : ''}); the defaults stand.`,
    );
  }

  if (histories.length) {
    parts.push(
      '',
      `History of one run each (the first of the first level), beside Temporal's default limits: ${HISTORY_LIMITS.eventsError.toLocaleString('en-US')} events and 50 MiB ` +
        `(warnings at ${HISTORY_LIMITS.eventsWarn.toLocaleString('en-US')} events and 10 MiB): dynamic config limit.historyCount.error/.warn and limit.historySize.error/.warn, ` +
        'temporalio/temporal common/dynamicconfig/constants.go; https://docs.temporal.io/workflow-execution/limits.',
      '',
      table(
        ['workflow', 'steps', 'events', 'below the event limit (warning)', 'size, encoded', 'size, server', 'below the size limit (warning)'],
        histories.map((h) => [
          h.kind,
          h.steps,
          h.events,
          `${times(HISTORY_LIMITS.eventsError, h.events)} (${times(HISTORY_LIMITS.eventsWarn, h.events)})`,
          `${(h.encodedBytes / 1024).toFixed(1)} KiB`,
          h.serverBytes !== undefined ? `${(h.serverBytes / 1024).toFixed(1)} KiB` : '—',
          `${times(HISTORY_LIMITS.bytesError, h.encodedBytes)} (${times(HISTORY_LIMITS.bytesWarn, h.encodedBytes)})`,
        ]),
      ),
      '',
      "The stand-ins' results are one-line summaries: a real install's change steps also carry their diffs (details) and a real drill's observation can hold up to 400 watcher events, so real histories are larger in bytes, with about as many events when no step is retried (completions that arrive together share a workflow task, so the count varies by a few).",
    );
  }

  return {
    title: `Engine: haflow's orchestration with no-op activities (${server})`,
    method:
      'Real install and drill workflows started through client/api.ts, a fixed number at once (a new one starts as one ends), on a worker in its own process whose activities return at once; ' +
      'steps/s = step activities completed (the drill’s observer counted) over the level’s wall time, time per workflow from the start request to the result as the client sees it, ' +
      'worker CPU = utime+stime from /proc/<pid>/stat and peak RSS = VmHWM from /proc/<pid>/status of a fresh worker per level; history length and size from describe() and the fetched history encoded as protobuf.',
    markdown: parts.join('\n'),
  };
};
