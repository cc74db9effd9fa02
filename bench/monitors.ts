// What many application monitors cost a worker, and how fast their histories grow: N real
// monitor workflows (started as `haflow monitor start` starts them), one per made-up cluster
// derived from the standalone lab topology, each watching its own master application on its own
// loopback address (127.0.1.x onwards), where a stand-in answers the health URL with 200 the whole
// time, so every monitor stays healthy and nothing fails over. The worker is haflow's worker in a
// process of its own (bench/monitors-worker.ts), the stand-ins in another
// (bench/monitors-standins.ts), the Temporal dev server in a temporary directory.
// Measured over the window after a warm-up: the worker process's CPU (utime+stime from
// /proc/<pid>/stat) and memory (VmRSS, VmHWM from /proc/<pid>/status) every few seconds; each
// monitor's history length and size (describe) at the window's start and end, following its
// continue-as-new chain; the health checks the stand-ins answered. Then every monitor is stopped
// (`haflow monitor stop`), and the worker, the stand-ins and the server with it.
// The monitors run with a shorter watch period than the product's default (one hour), so that
// the window holds watch periods and continue-as-new; the growth per period and per run measured
// here is projected onto the defaults. Needs the Temporal CLI; no root, no lab; leaves nothing running.
// Run: npm run bench -- monitors [count] [minutes] [watchSeconds] [periodsPerRun] [activity slots]
//   defaults: 100 monitors, a 10-minute window, watch periods of 60 s, continue-as-new after 5 periods
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { portOr, startEmbeddedServer, type EmbeddedServer } from '../client/dev-server';
import { monitorStatus, startMonitor, stopMonitor } from '../client/monitor';
import { connectClient } from '../client/temporal';
import { appHosts, appMaster, parseTopology, type Topology } from '../topology';
import { monitorWorkflowId } from '../connection/workflow-ids';
import { DEFAULT_ACTIVITY_SLOTS } from '../worker/worker';
import { cpuSeconds, memoryBytes } from './proc';
import { median, table, type Bench } from './record';
import type { StandinCounts } from './monitors-standins';

const LAB_TOPOLOGY = join(__dirname, '../lab/topologies/standalone.yaml');
/** The stand-ins' port: any free one works, since each topology names it (app.http_port). */
const STANDIN_PORT = 18080;
/** After every monitor has checked once: the JIT and the worker's caches settle before measuring. */
const WARMUP_SECONDS = 30;
const SAMPLE_SECONDS = 5;
/** The worker measured with no monitor yet, for comparison. */
const IDLE_SECONDS = 20;
/** The product's own defaults (workflows/app-monitor.ts), for the projection. */
const DEFAULT_WATCH_SECONDS = 3600;
const DEFAULT_PERIODS_PER_RUN = 24;
/** haflow server's retention of finished runs (client/dev-server.ts FINISHED_RUN_RETENTION_DAYS). */
const MONTH_DAYS = 30;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (line: string) => process.stdout.write(`${line}\n`);
const round = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const kib = (bytes: number) => `${round(bytes / 1024)} KiB`;
const mib = (bytes: number) => `${round(bytes / 2 ** 20)} MiB`;

/** Loopback addresses away from the lab's 127.0.0.x: 127.0.1.1, …, 127.0.1.250, 127.0.2.1, … */
function loopbackAddress(index: number): string {
  return `127.0.${1 + Math.floor(index / 250)}.${1 + (index % 250)}`;
}

/** The lab topology, renamed and readdressed: the application's health URL on the stand-ins, no file sync (no SSH while healthy). */
function madeUpTopology(base: Topology, monitor: number): Topology {
  const cluster = `bench-monitors-${String(monitor + 1).padStart(4, '0')}`;
  return {
    ...base,
    cluster,
    hosts: base.hosts.map((host, i) => ({ ...host, address: loopbackAddress(monitor * base.hosts.length + i) })),
    app: { ...base.app!, http_port: STANDIN_PORT, sync_dirs: [] },
  };
}

// --- child processes ---

/** A bench helper process (TypeScript through tsx) that says { ready: true } when it serves. */
async function forkReady(file: string, args: string[], what: string): Promise<ChildProcess> {
  const child = fork(join(__dirname, file), args, { execArgv: ['--import', 'tsx'], cwd: join(__dirname, '..'), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within 120 s`)), 120_000);
    child.on('message', (message: { ready?: boolean; error?: string }) => {
      if (message.ready) {
        clearTimeout(timer);
        resolve();
      } else if (message.error) {
        clearTimeout(timer);
        reject(new Error(`${what}: ${message.error}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with code ${code} before it was ready`));
    });
  });
  return child;
}

/** SIGTERM, SIGKILL after `graceMs`; resolves once the process is gone. */
async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(killer);
}

function standinCounts(standins: ChildProcess): Promise<StandinCounts> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the stand-ins did not report their counts within 10 s')), 10_000);
    const listener = (message: { counts?: StandinCounts }) => {
      if (!message.counts) return;
      clearTimeout(timer);
      standins.off('message', listener);
      resolve(message.counts);
    };
    standins.on('message', listener);
    standins.send({ counts: true });
  });
}

// --- /proc ---

// --- histories ---

interface HistoryMark {
  runId: string;
  events: number;
  bytes: number;
}

/** The growth of one monitor's history since `start`, across the runs continue-as-new chained to it. */
interface HistoryGrowth {
  events: number;
  bytes: number;
  continuedAsNew: number;
  /** Events added in the window, by type. */
  eventTypes: Map<string, number>;
  /** Runs that ended in continue-as-new by the window's end (whole histories: their start may precede it). */
  closedRuns: { events: number; bytes: number; encodedEvents: { type: string; bytes: number }[] }[];
}

const eventTypeName = (event: temporal.api.history.v1.IHistoryEvent) =>
  temporal.api.enums.v1.EventType[event.eventType ?? 0]?.replace(/^EVENT_TYPE_/, '') ?? String(event.eventType);

async function mark(client: Client, workflowId: string): Promise<HistoryMark> {
  const d = await client.workflow.getHandle(workflowId).describe();
  return { runId: d.runId, events: d.historyLength, bytes: d.historySize ?? NaN };
}

async function growthSince(client: Client, workflowId: string, start: HistoryMark): Promise<HistoryGrowth> {
  const growth: HistoryGrowth = { events: -start.events, bytes: -start.bytes, continuedAsNew: 0, eventTypes: new Map(), closedRuns: [] };
  let runId = start.runId;
  let skip = start.events;
  for (;;) {
    const handle = client.workflow.getHandle(workflowId, runId);
    const d = await handle.describe();
    const events = (await handle.fetchHistory()).events ?? [];
    growth.events += d.historyLength;
    growth.bytes += d.historySize ?? NaN;
    for (const event of events.slice(skip)) growth.eventTypes.set(eventTypeName(event), (growth.eventTypes.get(eventTypeName(event)) ?? 0) + 1);
    const next = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
    if (d.status.name !== 'CONTINUED_AS_NEW' || !next) break;
    growth.closedRuns.push({
      events: d.historyLength,
      bytes: d.historySize ?? NaN,
      encodedEvents: events.map((e) => ({ type: eventTypeName(e), bytes: temporal.api.history.v1.HistoryEvent.encode(e).finish().length })),
    });
    growth.continuedAsNew += 1;
    runId = next;
    skip = 0;
  }
  return growth;
}

/** At most `width` at a time, in order. */
async function inBatches<T, R>(items: T[], width: number, body: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += width) results.push(...(await Promise.all(items.slice(i, i + width).map(body))));
  return results;
}

/**
 * One watch period's events and bytes, from a closed run: from one watchAppHealth scheduled event
 * to the next (the completed watch, the workflow task it wakes, the next watch scheduled).
 */
function periodCost(run: HistoryGrowth['closedRuns'][number]): { events: number; bytes: number } | undefined {
  const scheduled = run.encodedEvents.flatMap((e, i) => (e.type === 'ACTIVITY_TASK_SCHEDULED' ? [i] : []));
  if (scheduled.length < 2) return undefined;
  const spans = scheduled.slice(1).map((end, k) => run.encodedEvents.slice(scheduled[k] + 1, end + 1));
  return { events: median(spans.map((s) => s.length)), bytes: median(spans.map((s) => s.reduce((sum, e) => sum + e.bytes, 0))) };
}

// --- the bench ---

interface Sample {
  at: number;
  workerCpu: number;
  serverCpu: number;
  standinCpu: number;
  rss: number;
  hwm: number;
}

export const run: Bench = async (args) => {
  const count = Number(args[0] ?? 100);
  const minutes = Number(args[1] ?? 10);
  const watchSeconds = Number(args[2] ?? 60);
  const periodsPerRun = Number(args[3] ?? 5);
  // The worker's activity slots: each monitor holds one while it watches.
  const activitySlots = args[4] === undefined ? DEFAULT_ACTIVITY_SLOTS : Number(args[4]);
  if (!(count >= 1 && count <= 2000 && minutes > 0 && watchSeconds >= 10 && periodsPerRun >= 1 && Number.isInteger(activitySlots) && activitySlots >= 1)) {
    throw new Error('usage: monitors [count 1-2000] [minutes] [watchSeconds >= 10] [periodsPerRun >= 1] [activity slots >= 1]');
  }

  const base = parseTopology(readFileSync(LAB_TOPOLOGY, 'utf8'), LAB_TOPOLOGY).topology;
  const topologies = Array.from({ length: count }, (_, i) => madeUpTopology(base, i));
  const masterAddress = (t: Topology) => t.hosts.find((h) => h.name === appMaster(t)!.name)!.address;
  const standinAddresses = topologies.flatMap((t) => appHosts(t).map((h) => h.address));
  const settings = base.app!.monitor;
  const codec = process.env.HAFLOW_CODEC_KEY ? 'encrypting (HAFLOW_CODEC_KEY is set)' : 'none (plain JSON payloads)';

  const dir = mkdtempSync(join(tmpdir(), 'haflow-bench-monitors-'));
  let server: EmbeddedServer | undefined;
  let standins: ChildProcess | undefined;
  let worker: ChildProcess | undefined;
  let client: Client | undefined;
  const started: string[] = [];
  try {
    server = await startEmbeddedServer({ dbFile: join(dir, 'temporal.sqlite'), port: await portOr(7299), uiPort: false });
    say(`dev server on ${server.address} (pid ${server.pid}, state in ${dir})`);
    standins = await forkReady('monitors-standins.ts', [String(STANDIN_PORT), base.app!.health_path, ...standinAddresses], 'the stand-ins');
    say(`stand-ins: ${standinAddresses.length} health endpoints on ${standinAddresses[0]}–${standinAddresses.at(-1)} port ${STANDIN_PORT} (pid ${standins.pid})`);
    worker = await forkReady('monitors-worker.ts', [server.address, String(activitySlots)], 'the worker');
    say(`worker: pid ${worker.pid}`);
    client = await connectClient({ address: server.address, namespace: 'default', connectionOptions: { address: server.address } });

    // The worker with nothing to do (polling only), once its start has settled: what the monitors' figures are compared with.
    await sleep(10_000);
    const idleFrom = { at: Date.now(), cpu: cpuSeconds(worker.pid!) };
    await sleep(IDLE_SECONDS * 1000);
    const idle = { cpu: ((cpuSeconds(worker.pid!) - idleFrom.cpu) / ((Date.now() - idleFrom.at) / 1000)) * 100, rss: memoryBytes(worker.pid!).rss };
    say(`worker idle: CPU ${round(idle.cpu, 2)} % of one core over ${IDLE_SECONDS} s, RSS ${mib(idle.rss)}`);

    const startedAt = Date.now();
    await inBatches(topologies, 20, async (topology) => {
      await startMonitor(client!, topology, { watchSeconds, periodsPerRun });
      started.push(topology.cluster);
    });
    say(`started ${count} monitors in ${round((Date.now() - startedAt) / 1000)} s (watch periods of ${watchSeconds} s, continue-as-new after ${periodsPerRun})`);

    // Watching: every master's stand-in has been asked at least once.
    const masters = topologies.map(masterAddress);
    let watching = 0;
    const watchDeadline = Date.now() + 120_000;
    for (;;) {
      const counts = await standinCounts(standins);
      watching = masters.filter((a) => counts.health[a] > 0).length;
      if (watching === count || Date.now() > watchDeadline) break;
      await sleep(2000);
    }
    const watchingAfter = (Date.now() - startedAt) / 1000;
    say(`${watching} of ${count} monitors checked their master within ${round(watchingAfter)} s of the first start; warming up ${WARMUP_SECONDS} s`);
    await sleep(WARMUP_SECONDS * 1000);

    // The window.
    const workerPid = worker.pid!;
    const cpuNow = () => ({ at: Date.now(), worker: cpuSeconds(workerPid), server: cpuSeconds(server!.pid), standins: cpuSeconds(standins!.pid!) });
    const startMarks = await inBatches(started, 25, (cluster) => mark(client!, monitorWorkflowId(cluster)));
    const countsAtStart = await standinCounts(standins);
    const cpuAtStart = cpuNow();
    const rssAtStart = memoryBytes(workerPid).rss;
    say(`window start: measuring ${minutes} min, a sample every ${SAMPLE_SECONDS} s`);
    const samples: Sample[] = [];
    let previous = cpuAtStart;
    const windowEnd = cpuAtStart.at + minutes * 60_000;
    let nextReport = cpuAtStart.at + 60_000;
    while (Date.now() < windowEnd) {
      await sleep(Math.min(SAMPLE_SECONDS * 1000, Math.max(0, windowEnd - Date.now())));
      const now = cpuNow();
      const seconds = (now.at - previous.at) / 1000;
      const memory = memoryBytes(workerPid);
      samples.push({
        at: now.at,
        workerCpu: ((now.worker - previous.worker) / seconds) * 100,
        serverCpu: ((now.server - previous.server) / seconds) * 100,
        standinCpu: ((now.standins - previous.standins) / seconds) * 100,
        rss: memory.rss,
        hwm: memory.hwm,
      });
      previous = now;
      if (now.at >= nextReport || now.at >= windowEnd) {
        const minute = Math.round((now.at - cpuAtStart.at) / 60_000);
        const sinceStart = ((now.worker - cpuAtStart.worker) / ((now.at - cpuAtStart.at) / 1000)) * 100;
        say(`  ${minute}/${minutes} min: worker CPU ${round(sinceStart, 2)} % of one core since the window's start, RSS ${mib(memory.rss)}, server CPU ${round(samples.at(-1)!.serverCpu)} %`);
        nextReport += 60_000;
      }
    }
    const cpuAtEnd = cpuNow();
    const countsAtEnd = await standinCounts(standins);
    const memoryAtEnd = memoryBytes(workerPid);
    const windowSeconds = (cpuAtEnd.at - cpuAtStart.at) / 1000;
    say('window end: reading the histories');
    const growths = await inBatches(started.map((cluster, i) => ({ cluster, start: startMarks[i] })), 10, ({ cluster, start }) => growthSince(client!, monitorWorkflowId(cluster), start));
    const views = await inBatches(started, 25, (cluster) => monitorStatus(client!, cluster).catch(() => undefined));

    // Stop every monitor as `haflow monitor stop` does.
    const stopStarted = Date.now();
    await inBatches([...started], 25, async (cluster) => {
      await stopMonitor(client!, cluster);
      started.splice(started.indexOf(cluster), 1);
    });
    const stopSeconds = (Date.now() - stopStarted) / 1000;
    say(`stopped ${count} monitors in ${round(stopSeconds)} s`);

    // --- figures ---
    const hours = windowSeconds / 3600;
    const workerAverage = ((cpuAtEnd.worker - cpuAtStart.worker) / windowSeconds) * 100;
    const serverAverage = ((cpuAtEnd.server - cpuAtStart.server) / windowSeconds) * 100;
    const standinAverage = ((cpuAtEnd.standins - cpuAtStart.standins) / windowSeconds) * 100;
    const cpus = samples.map((s) => s.workerCpu);
    const rsses = samples.map((s) => s.rss);
    const resources = table(
      ['worker process', 'median', 'peak', `window average`],
      [
        [`CPU, % of one core (per ${SAMPLE_SECONDS} s sample)`, round(median(cpus), 2), round(Math.max(...cpus), 2), round(workerAverage, 2)],
        ['CPU per monitor, % of one core', round(median(cpus) / count, 3), round(Math.max(...cpus) / count, 3), round(workerAverage / count, 3)],
        ['RSS (VmRSS)', mib(median(rsses)), mib(Math.max(...rsses)), `${mib(rssAtStart)} at the start, ${mib(memoryAtEnd.rss)} at the end`],
        ['peak RSS since the process started (VmHWM)', '', mib(memoryAtEnd.hwm), 'includes bundling the workflows at start'],
        [`the worker idle before the first monitor: CPU over ${IDLE_SECONDS} s, % of one core; RSS`, '', '', `${round(idle.cpu, 2)}; ${mib(idle.rss)}`],
      ],
    );
    const others = table(
      ['beside it (not the worker)', 'CPU, % of one core, window average', 'median sample', 'peak sample'],
      [
        ['Temporal dev server', round(serverAverage, 2), round(median(samples.map((s) => s.serverCpu)), 2), round(Math.max(...samples.map((s) => s.serverCpu)), 2)],
        ['stand-ins', round(standinAverage, 2), round(median(samples.map((s) => s.standinCpu)), 2), round(Math.max(...samples.map((s) => s.standinCpu)), 2)],
      ],
    );

    // Health checks: requests the stand-ins answered in the window.
    const perMaster = masters.map((a) => countsAtEnd.health[a] - countsAtStart.health[a]);
    const slaves = standinAddresses.filter((a) => !masters.includes(a));
    const toSlaves = slaves.reduce((sum, a) => sum + countsAtEnd.health[a] - countsAtStart.health[a], 0);
    const checks = perMaster.reduce((sum, n) => sum + n, 0);
    const healthyAtEnd = views.filter((v) => v && v.phase === 'watching' && v.failovers === 0 && v.lastCheck?.consecutiveFailures === 0).length;
    const typeTotals = new Map<string, number>();
    for (const g of growths) for (const [type, n] of g.eventTypes) typeTotals.set(type, (typeTotals.get(type) ?? 0) + n);
    const childStarts = typeTotals.get('START_CHILD_WORKFLOW_EXECUTION_INITIATED') ?? 0;
    const healthTable = table(
      ['health checks', 'figure'],
      [
        ['checks per second, all monitors (stand-ins\' count over the window)', round(checks / windowSeconds, 2)],
        [`checks per second per monitor (one every ${settings.interval_seconds} s is ${round(1 / settings.interval_seconds, 3)}; a new watch period begins with a check right after the last one of the period before)`, round(checks / windowSeconds / count, 3)],
        ['checks per master in the window: min / median / max', `${Math.min(...perMaster)} / ${median(perMaster)} / ${Math.max(...perMaster)}`],
        ['requests to slaves / to other paths', `${toSlaves} / ${countsAtEnd.other}`],
        [`monitors watching at the end with no failover and no failed check in a row (monitor status)`, `${healthyAtEnd} of ${count}`],
        ['failover runbooks started in the window (child workflows)', childStarts],
      ],
    );

    // History growth.
    const events = growths.map((g) => g.events);
    const bytes = growths.map((g) => g.bytes);
    const cans = growths.reduce((sum, g) => sum + g.continuedAsNew, 0);
    const workflowTasks = typeTotals.get('WORKFLOW_TASK_COMPLETED') ?? 0;
    const periodsInWindow = typeTotals.get('ACTIVITY_TASK_COMPLETED') ?? 0;
    const stat = (xs: number[]) => `${round(median(xs), 0)} (${Math.min(...xs)}–${Math.max(...xs)})`;
    const historyTable = table(
      ['history, per monitor', 'events', 'bytes'],
      [
        ['at the window\'s start (current run), median', round(median(startMarks.map((m) => m.events)), 0), round(median(startMarks.map((m) => m.bytes)), 0)],
        ['added in the window, median (min–max), all runs of the chain', stat(events), stat(bytes)],
        ['per hour at these settings, median', round(median(events) / hours), round(median(bytes) / hours, 0)],
      ],
    );
    const windowNotes = [
      `In the window: ${periodsInWindow} watch periods completed (activities), ${cans} continue-as-new, ${workflowTasks} workflow tasks (${round(workflowTasks / windowSeconds, 2)} per second for all monitors; at the default watch period of ${DEFAULT_WATCH_SECONDS} s it would be ${round(workflowTasks / windowSeconds / (DEFAULT_WATCH_SECONDS / watchSeconds), 3)}).`,
      `Events added, by type: ${[...typeTotals].sort((a, b) => b[1] - a[1]).map(([t, n]) => `${t} ${n}`).join(', ') || 'none'}.`,
    ];

    // Projection: a run is fixed events (its start, its continue-as-new) plus one period's events per watch period.
    const closed = growths.flatMap((g) => g.closedRuns);
    const periods = closed.map(periodCost).filter((p): p is { events: number; bytes: number } => p !== undefined);
    let projection: string;
    if (closed.length > 0 && periods.length > 0) {
      const period = { events: median(periods.map((p) => p.events)), bytes: median(periods.map((p) => p.bytes)) };
      const runEvents = median(closed.map((r) => r.events));
      const runBytes = median(closed.map((r) => r.bytes));
      const runEncoded = median(closed.map((r) => r.encodedEvents.reduce((sum, e) => sum + e.bytes, 0)));
      const fixed = { events: runEvents - periodsPerRun * period.events, bytes: runBytes - periodsPerRun * period.bytes };
      const defaultRun = { events: fixed.events + DEFAULT_PERIODS_PER_RUN * period.events, bytes: fixed.bytes + DEFAULT_PERIODS_PER_RUN * period.bytes };
      const runsPerDay = 86400 / (DEFAULT_WATCH_SECONDS * DEFAULT_PERIODS_PER_RUN);
      const monthRuns = MONTH_DAYS * runsPerDay;
      projection = [
        table(
          ['', 'events', 'bytes'],
          [
            [`one watch period (measured: from one watch scheduled to the next, median over ${periods.length} closed runs)`, round(period.events, 0), round(period.bytes, 0)],
            [`one run closed by continue-as-new after ${periodsPerRun} periods (measured, median of ${closed.length})`, round(runEvents, 0), `${round(runBytes, 0)} (its events' encoding: ${round(runEncoded, 0)})`],
            ['a run\'s fixed part (its start and its continue-as-new)', round(fixed.events, 0), round(fixed.bytes, 0)],
            [`a run at the defaults (${DEFAULT_PERIODS_PER_RUN} periods of ${DEFAULT_WATCH_SECONDS} s): the most one run's history holds`, defaultRun.events, kib(defaultRun.bytes)],
            ['per hour at the defaults', round(defaultRun.events / (DEFAULT_PERIODS_PER_RUN * DEFAULT_WATCH_SECONDS / 3600)), kib(defaultRun.bytes / (DEFAULT_PERIODS_PER_RUN * DEFAULT_WATCH_SECONDS / 3600))],
            [`a month (${MONTH_DAYS} days, ${monthRuns} runs) at the defaults, per monitor`, round(monthRuns * defaultRun.events, 0), mib(monthRuns * defaultRun.bytes)],
            [`the same for ${count} monitors`, round(count * monthRuns * defaultRun.events, 0), mib(count * monthRuns * defaultRun.bytes)],
          ],
        ),
        '',
        `Period bytes are the events' protobuf encoding (the server's history size counts the same encoding); run bytes are the server's history size (describe). A run's history never grows past the figure for one run at the defaults: it continues as new after ${DEFAULT_PERIODS_PER_RUN} periods; finished runs stay stored for the namespace's retention (haflow server: ${MONTH_DAYS} days), hence the month's total. Healthy checks add nothing: only a watch period's end does (a failover, a switchback or a fence would add its events and a child workflow's history).`,
      ].join('\n');
    } else {
      projection = `No run ended in continue-as-new by the window's end (watch periods of ${watchSeconds} s × ${periodsPerRun} per run is longer than the monitors ran), so there is no measured run to project from.`;
    }

    return {
      title: `Application monitors: ${count} healthy monitors on one worker with ${activitySlots} activity slots`,
      method: [
        `${count} monitors started with startMonitor (what \`haflow monitor start\` calls), each on a made-up cluster derived from lab/topologies/standalone.yaml: its own name, hosts on 127.0.1.1 onwards, app.http_port ${STANDIN_PORT}, no sync_dirs (so no SSH; while the master answers, an monitor reaches nothing else: no HAProxy, no etcd), check every ${settings.interval_seconds} s, limit ${settings.timeout_seconds} s, failover after ${settings.failures} failures.`,
        `Stand-ins (Node HTTP servers in their own process) answered GET ${base.app!.health_path} with 200 on every application host's address throughout, counting requests.`,
        `Monitors ran with watchSeconds ${watchSeconds} and periodsPerRun ${periodsPerRun} (the defaults are ${DEFAULT_WATCH_SECONDS} and ${DEFAULT_PERIODS_PER_RUN}), so the window holds watch periods and continue-as-new; the growth per period and per run is projected onto the defaults.`,
        `haflow's worker (createWorker, haflow's activities, ${activitySlots} activity slots${activitySlots === DEFAULT_ACTIVITY_SLOTS ? ', the default' : ''}) in its own Node process, measured idle for ${IDLE_SECONDS} s before the first monitor, against the Temporal dev server (temporal CLI, SQLite in a temp dir); payload codec: ${codec}.`,
        `After every monitor had checked once and ${WARMUP_SECONDS} s of warm-up, a ${round(windowSeconds / 60, 1)}-minute window: the worker's utime+stime from /proc/<pid>/stat every ${SAMPLE_SECONDS} s as % of one core (each sample over its ${SAMPLE_SECONDS} s, and the window's average), VmRSS and VmHWM from /proc/<pid>/status;`,
        `each monitor's history length and size from describe at the window's start and end, the runs chained by continue-as-new in between followed and added up; checks counted at the stand-ins. Then every monitor was stopped with stopMonitor (\`haflow monitor stop\`).`,
      ].join(' '),
      markdown: [
        resources,
        '',
        others,
        '',
        healthTable,
        '',
        historyTable,
        '',
        ...windowNotes,
        '',
        projection,
        '',
        `Start: ${count} monitors started in ${round(watchingAfter)} s until all had checked (${watching} of ${count} did); stopping them all took ${round(stopSeconds)} s.`,
      ].join('\n'),
    };
  } finally {
    // Whatever happened: no monitor, worker, stand-in or server left behind. Observers still
    // running here are the leftovers of a failure (the worker may be gone): terminated, which needs no worker.
    if (client && started.length > 0) await inBatches(started, 25, (cluster) => client!.workflow.getHandle(monitorWorkflowId(cluster)).terminate('the monitors bench failed').catch(() => undefined));
    if (worker) await stopChild(worker, 30_000);
    if (standins) await stopChild(standins, 5_000);
    if (client) await client.connection.close();
    if (server) await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
};
