// The crash suite: the worker killed with SIGKILL at every step boundary of the standalone install
// and of a crash-leader drill, and inside the two longest activities of each, one run per point,
// each followed by a new `haflow worker`. A step's boundary is its riskiest moment: the activity has
// done its work on the hosts but its result never reached Temporal, so the next worker runs it
// again. Every run must complete with the same end state (Patroni's API, HAProxy's stats, every
// managed file byte for byte), no file half written or readable by others, and a drill must leave
// no fault in place and never two primaries. Then the Temporal server restarted at three points
// of an install and of a drill, and the worker stopped with SIGTERM during an install step and
// during a drill's probe. About an hour: it runs only with HAFLOW_CRASH_SUITE=1
// (HAFLOW_CRASH_POINTS=install:1-5,drill:all narrows it); each point's outcome is appended to
// HAFLOW_CRASH_RESULTS (a JSON-lines file) when set.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { startRunbook } from '../../client/api';
import { runbookFor } from '../../client/runbooks';
import { flattenSteps } from '../../runbooks/runbook';
import type { MeasuredOutcome } from '../../workflows/measured';
import type { Progress, RunbookOutcome } from '../../workflows/protocol';
import { waitHealthy } from '../support/cluster';
import { completedOrBlocked, labSecrets, startInstall } from '../support/install';
import { labTopology, useLab } from '../support/lab';
import { assertHostsHoldRendered, haflowRender } from '../support/rendered';
import { filesHoldingSecrets, halfWrittenFiles, readableByOthers } from '../support/secret-files';
import { startDevServer, workflowBundle } from '../support/temporal';
import { freePort, useServerWithWorkerProcesses, workerProcesses } from '../support/worker-process';

const enabled = process.env.HAFLOW_CRASH_SUITE === '1';

interface Point {
  runbook: 'install' | 'drill';
  /** HAFLOW_CRASH_AFTER or HAFLOW_CRASH_INSIDE(+_MS) for the crashing worker. */
  env: Record<string, string>;
  label: string;
}

/** "install:1-5,drill:all" → which points of each runbook to try (all when unset). */
function selected(runbook: Point['runbook'], index: number): boolean {
  const spec = process.env.HAFLOW_CRASH_POINTS;
  if (!spec) return true;
  return spec.split(',').some((part) => {
    const [name, range] = part.split(':');
    if (name !== runbook) return false;
    if (!range || range === 'all') return true;
    const [from, to] = range.split('-').map(Number);
    return index >= from && index <= (to ?? from);
  });
}

function record(result: Record<string, unknown>): void {
  if (process.env.HAFLOW_CRASH_RESULTS) appendFileSync(process.env.HAFLOW_CRASH_RESULTS, `${JSON.stringify({ at: new Date().toISOString(), ...result })}\n`);
}

if (!enabled) {
  test('the crash suite (kill -9 at every step boundary of an install and a drill)', { skip: 'about an hour on the lab: run it with HAFLOW_CRASH_SUITE=1' }, () => undefined);
} else {
  labSecrets();
  const currentLab = useLab(labTopology('standalone'));
  const { env: server, workers } = useServerWithWorkerProcesses();
  const dir = mkdtempSync(join(tmpdir(), 'haflow-crash-suite-'));
  const crashLog = join(dir, 'crashes.log');
  const bundlePath = join(dir, 'workflows.js');
  const crashers = new Set<ChildProcess>();

  before(async () => writeFileSync(bundlePath, (await workflowBundle()).code));
  after(() => {
    for (const child of crashers) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  /** A worker that kills itself at the point; resolves once it polls. */
  async function startCrashingWorker(pointEnv: Record<string, string>): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '../support/crash-at-worker.ts'), server().address, bundlePath], {
      env: { ...process.env, ...pointEnv, HAFLOW_CRASH_LOG: crashLog },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    crashers.add(child);
    child.on('exit', () => crashers.delete(child));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('worker ready') && resolve());
      child.on('exit', (code, signal) => reject(new Error(`the crashing worker exited (${code ?? signal}) before it was ready`)));
    });
    return child;
  }

  const crashes = () => (existsSync(crashLog) ? readFileSync(crashLog, 'utf8').trim().split('\n').filter(Boolean) : []);

  /**
   * Runs one point: the crashing worker alone until it dies, then a real `haflow worker` to the
   * end. Returns what the crashing worker said it killed (undefined if the run ended first).
   */
  async function runThroughCrash<T extends RunbookOutcome>(point: Point, start: () => Promise<{ result(): Promise<unknown> }>, wait: (handle: never) => Promise<T>): Promise<{ killed?: string; outcome: T }> {
    const before = crashes().length;
    const crasher = await startCrashingWorker(point.env);
    const handle = await start();
    const died = new Promise<void>((resolve) => crasher.once('exit', () => resolve()));
    // Until the worker dies, or the run ends without the point being reached.
    await Promise.race([died, handle.result().catch(() => undefined)]);
    const killed = crashes().slice(before)[0];
    if (crasher.exitCode === null && crasher.signalCode === null) {
      crasher.kill('SIGKILL');
      await died;
    }
    const replacement = await workers.start();
    try {
      return { killed, outcome: await wait(handle as never) };
    } finally {
      await workers.kill(replacement);
    }
  }

  /** From an uninterrupted run's history: how many activities finished, and the two longest (type, and when to strike inside them). */
  async function activitiesOf(handle: { fetchHistory(): Promise<{ events?: unknown[] | null }> }): Promise<{ count: number; longest: { activity: string; ms: number }[] }> {
    type Event = {
      eventId?: { toString(): string };
      eventTime?: { seconds?: { toString(): string }; nanos?: number };
      activityTaskScheduledEventAttributes?: { activityType?: { name?: string } };
      activityTaskCompletedEventAttributes?: { scheduledEventId?: { toString(): string } };
    };
    const events = ((await handle.fetchHistory()).events ?? []) as Event[];
    const ms = (e: Event) => Number(e.eventTime?.seconds?.toString() ?? 0) * 1000 + Math.round((e.eventTime?.nanos ?? 0) / 1e6);
    const scheduled = new Map(events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [e.eventId!.toString(), e]));
    const finished = events
      .filter((e) => e.activityTaskCompletedEventAttributes)
      .map((e) => {
        const from = scheduled.get(e.activityTaskCompletedEventAttributes!.scheduledEventId!.toString())!;
        return { activity: from.activityTaskScheduledEventAttributes!.activityType!.name!, ms: ms(e) - ms(from) };
      });
    // Half-way, but never later than 8 s in: a run's long activity (the probe) may end sooner than the reference's did.
    const longest = [...finished].sort((a, b) => b.ms - a.ms).slice(0, 2).map((f) => ({ activity: f.activity, ms: Math.min(Math.round(f.ms / 2), 8000) }));
    return { count: finished.length, longest };
  }

  test('kill -9 at every step boundary of the standalone install, and inside its two longest activities: every run completes with the same end state', { timeout: 4 * 3600_000 }, async () => {
    const lab0 = currentLab();
    // A reference run, uninterrupted: how many activities an install runs, and its two longest.
    const referenceHandle = await startInstall(server(), lab0.topology);
    const reference = await runThroughCrash({ runbook: 'install', env: {}, label: 'reference' }, async () => referenceHandle, completedOrBlocked);
    assert.equal(reference.outcome.status, 'completed');
    const { count, longest } = await activitiesOf(referenceHandle);
    assert.equal(count, flattenSteps(runbookFor('install', lab0.topology, undefined)).length, 'one activity per step');
    const points: Point[] = [
      ...Array.from({ length: count }, (_, i) => ({ runbook: 'install' as const, env: { HAFLOW_CRASH_AFTER: String(i + 1) }, label: `after activity ${i + 1}` })),
      ...longest.map((l) => ({ runbook: 'install' as const, env: { HAFLOW_CRASH_INSIDE: l.activity, HAFLOW_CRASH_INSIDE_MS: String(l.ms) }, label: `inside ${l.activity} at ${l.ms} ms` })),
    ];
    const failures: string[] = [];
    let tried = 0;
    for (const [i, point] of points.entries()) {
      if (!selected('install', i + 1)) continue;
      tried += 1;
      const lab = await currentLab.wipe();
      const started = Date.now();
      try {
        const { killed, outcome } = await runThroughCrash(point, () => startInstall(server(), lab.topology), completedOrBlocked);
        assert.ok(killed, `${point.label}: the worker was killed at the point`);
        assert.equal(outcome.status, 'completed', `${point.label}: ${outcome.steps.filter((s) => s.status !== 'done').map((s) => `${s.id} ${s.status} ${s.error?.message ?? ''}`).join('; ')}`);
        await waitHealthy(lab, 60_000);
        await assertHostsHoldRendered(lab, haflowRender(lab.topologyFile));
        assert.deepEqual(await halfWrittenFiles(lab), [], `${point.label}: no file left half written`);
        assert.deepEqual(readableByOthers(await filesHoldingSecrets(lab)), [], `${point.label}: no secret readable by others`);
        record({ runbook: 'install', point: i + 1, label: point.label, killed, survived: true, seconds: Math.round((Date.now() - started) / 1000) });
      } catch (err) {
        failures.push(`${point.label}: ${(err as Error).message.slice(0, 600)}`);
        record({ runbook: 'install', point: i + 1, label: point.label, survived: false, error: (err as Error).message.slice(0, 600) });
      }
    }
    assert.ok(tried > 0, 'HAFLOW_CRASH_POINTS selected no install point');
    assert.deepEqual(failures, []);
  });

  test('kill -9 at every step boundary of a crash-leader drill, and inside its two longest activities: each completes, heals, and never shows two primaries', { timeout: 2 * 3600_000 }, async () => {
    const lab = currentLab();
    // The cluster the drills act on (the install test above leaves one; run alone, this makes it).
    const installed = await runThroughCrash({ runbook: 'install', env: {}, label: 'install' }, () => startInstall(server(), lab.topology), completedOrBlocked);
    assert.equal(installed.outcome.status, 'completed');
    const drill = async () => startRunbook(server().client, 'drill', lab.topology, { fault: 'crash-leader', leader: (await waitHealthy(lab)).leader! });
    // A reference drill, uninterrupted: how many activities it runs (the probe beside the steps too), and its two longest.
    const referenceHandle = await drill();
    const reference = await runThroughCrash({ runbook: 'drill', env: {}, label: 'reference drill' }, async () => referenceHandle, completedOrBlocked as (h: never) => Promise<MeasuredOutcome>);
    assert.equal(reference.outcome.status, 'completed');
    await waitHealthy(lab, 90_000);
    const { count, longest } = await activitiesOf(referenceHandle);
    const points: Point[] = [
      ...Array.from({ length: count }, (_, i) => ({ runbook: 'drill' as const, env: { HAFLOW_CRASH_AFTER: String(i + 1) }, label: `drill: after activity ${i + 1}` })),
      ...longest.map((l) => ({ runbook: 'drill' as const, env: { HAFLOW_CRASH_INSIDE: l.activity, HAFLOW_CRASH_INSIDE_MS: String(l.ms) }, label: `drill: inside ${l.activity} at ${l.ms} ms` })),
    ];
    const failures: string[] = [];
    let tried = 0;
    for (const [i, point] of points.entries()) {
      if (!selected('drill', i + 1)) continue;
      tried += 1;
      const started = Date.now();
      try {
        const { killed, outcome } = await runThroughCrash(point, drill, completedOrBlocked as (h: never) => Promise<MeasuredOutcome>);
        assert.ok(killed, `${point.label}: the worker was killed at the point`);
        assert.equal(outcome.status, 'completed', `${point.label}: ${outcome.steps.filter((s) => s.status !== 'done').map((s) => `${s.id} ${s.status} ${s.error?.message ?? ''}`).join('; ')}`);
        assert.ok(outcome.report, `${point.label}: the drill reported`);
        assert.equal(outcome.report.figures.splitBrain, false, `${point.label}: never two primaries`);
        assert.equal(outcome.report.figures.lostWrites, 0, `${point.label}: no acknowledged write lost`);
        assert.ok(currentLab().status().every((m) => m.state === 'running'), `${point.label}: every machine powered on (the fault healed)`);
        await waitHealthy(currentLab(), 90_000);
        record({ runbook: 'drill', point: i + 1, label: point.label, killed, survived: true, seconds: Math.round((Date.now() - started) / 1000), downtime: outcome.report.figures.writeDowntimeSeconds, atMost: outcome.report.figures.downtimeIsUpperBound ?? false });
      } catch (err) {
        failures.push(`${point.label}: ${(err as Error).message.slice(0, 600)}`);
        record({ runbook: 'drill', point: i + 1, label: point.label, survived: false, error: (err as Error).message.slice(0, 600) });
        // The next point needs a healthy cluster: power everything on and wait.
        for (const m of currentLab().status().filter((m) => m.state !== 'running')) await currentLab().boot(m.name);
      }
    }
    assert.ok(tried > 0, 'HAFLOW_CRASH_POINTS selected no drill point');
    assert.deepEqual(failures, []);
  });

  /**
   * Runs `start()`'s run to its end while `fault` is applied each time one of `at` begins (the
   * step is running or done); returns the outcome and the faults applied.
   */
  async function withFaultsAt<T extends RunbookOutcome>(
    handle: { workflowId: string },
    client: () => Client,
    at: string[],
    fault: (step: string) => Promise<void>,
    timeoutMs: number,
  ): Promise<{ outcome: T; applied: string[] }> {
    const applied: string[] = [];
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const progress = await client()
        .workflow.getHandle(handle.workflowId)
        .query<Progress>('progress')
        .catch(() => undefined);
      if (progress && progress.status !== 'running') break;
      for (const step of at.filter((id) => !applied.includes(id))) {
        const status = progress?.steps.find((s) => s.id === step)?.status;
        if (status === 'running' || status === 'done') {
          applied.push(step);
          await fault(step);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    return { outcome: (await client().workflow.getHandle(handle.workflowId).result()) as T, applied };
  }

  test('the Temporal server restarted at three points of an install and of a drill: both complete', { timeout: 1800_000 }, async () => {
    const lab = await currentLab.wipe();
    const port = await freePort();
    const dbFilename = join(dir, 'restarts.sqlite');
    let own = await startDevServer({ port, dbFilename });
    const restart = async () => {
      await own.teardown();
      own = await startDevServer({ port, dbFilename });
    };
    const ownWorkers = workerProcesses(() => `127.0.0.1:${port}`);
    await ownWorkers.start();
    try {
      const install = await startInstall(own, lab.topology);
      const installed = await withFaultsAt<RunbookOutcome>(install, () => own.client, ['packages.install@node1', 'patroni.start@node1', 'app.config@node2'], restart, 600_000);
      assert.deepEqual(installed.applied, ['packages.install@node1', 'patroni.start@node1', 'app.config@node2']);
      assert.equal(installed.outcome.status, 'completed');
      const before = await waitHealthy(lab);
      const drill = await startRunbook(own.client, 'drill', lab.topology, { fault: 'crash-leader', leader: before.leader! });
      const drilled = await withFaultsAt<MeasuredOutcome>(drill, () => own.client, [`fault.crash-leader@${before.leader}`, 'failover.recovered', `fault.heal@${before.leader}`], restart, 600_000);
      assert.equal(drilled.applied.length, 3, drilled.applied.join(', '));
      assert.equal(drilled.outcome.status, 'completed');
      assert.equal(drilled.outcome.report?.figures.splitBrain, false);
      assert.ok(currentLab().status().every((m) => m.state === 'running'), 'the fault healed');
      await waitHealthy(currentLab(), 90_000);
      record({ runbook: 'server restarts', survived: true, points: [...installed.applied, ...drilled.applied] });
    } finally {
      await ownWorkers.killAll();
      await own.teardown();
    }
  });

  test('SIGTERM to the worker during an install step and during a drill\'s probe: it exits within its grace time, and a new worker completes the run', { timeout: 1800_000 }, async () => {
    const lab = await currentLab.wipe();
    const graceMs = 1000; // `haflow worker --grace 1` (test/support/worker-process.ts)
    const stopGracefully = async (worker: ChildProcess): Promise<number> => {
      const asked = Date.now();
      worker.kill('SIGTERM');
      await new Promise((resolve) => (worker.exitCode !== null || worker.signalCode !== null ? resolve(undefined) : worker.once('exit', resolve)));
      return Date.now() - asked;
    };
    let worker = await workers.start();
    const install = await startInstall(server(), lab.topology);
    let exitMs = 0;
    const installed = await withFaultsAt<RunbookOutcome>(install, () => server().client, ['packages.install@node1'], async () => {
      exitMs = await stopGracefully(worker);
      worker = await workers.start();
    }, 600_000);
    assert.equal(installed.outcome.status, 'completed');
    assert.ok(exitMs < graceMs + 10_000, `the worker exited ${exitMs} ms after SIGTERM (grace ${graceMs} ms)`);
    const before = await waitHealthy(lab);
    const drill = await startRunbook(server().client, 'drill', lab.topology, { fault: 'crash-leader', leader: before.leader! });
    let probeExitMs = 0;
    const drilled = await withFaultsAt<MeasuredOutcome>(drill, () => server().client, ['failover.recovered'], async () => {
      probeExitMs = await stopGracefully(worker);
      worker = await workers.start();
    }, 600_000);
    assert.equal(drilled.outcome.status, 'completed');
    assert.ok(probeExitMs < graceMs + 10_000, `the worker exited ${probeExitMs} ms after SIGTERM during the probe`);
    assert.ok((drilled.outcome.report?.probe.interruptions.length ?? 0) >= 1, 'the probe says it was interrupted and carried on');
    assert.ok(currentLab().status().every((m) => m.state === 'running'), 'the fault healed');
    await waitHealthy(currentLab(), 90_000);
    await workers.kill(worker);
    record({ runbook: 'SIGTERM', survived: true, installExitMs: exitMs, probeExitMs });
  });
}
