// haflow unchanged on a production-shaped Temporal cluster (lab/temporal-cluster.ts: frontend,
// history, matching and worker services in processes of their own, on PostgreSQL): two real
// `haflow worker` processes share the standalone install on the bare lab, the one running a step's
// activity is killed with SIGKILL mid-step and the other completes the install; then a crash-leader
// drill runs end to end. Everything it starts is stopped afterwards, and its timings are printed.
// It needs root, Go (or the built server), PostgreSQL 15 and the lab, and takes about 5 minutes:
// it runs only with HAFLOW_TEMPORAL_CLUSTER=1. HAFLOW_TEMPORAL_CLUSTER_KILL_STEP=<step id> and
// HAFLOW_TEMPORAL_CLUSTER_KILL_AFTER_MS=<ms into its activity> move the kill (default: 1 s into
// etcd.member@observer, a change step of about 3 s on the lab).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { runbookFor } from '../../client/runbooks';
import { connectClient } from '../../client/temporal';
import { temporalSettings } from '../../connection/temporal';
import { labPaths } from '../../lab/paths';
import { killTemporalClusterNow, startTemporalCluster, stopTemporalCluster, type RunningCluster } from '../../lab/temporal-cluster';
import { flattenSteps } from '../../runbooks/runbook';
import type { DrillReport } from '../../runbooks/report';
import { clusterWorkflowId } from '../../connection/workflow-ids';
import type { Progress, RunbookOutcome } from '../../workflows/protocol';
import { waitHealthy } from '../support/cluster';
import { labSecrets } from '../support/install';
import { labTopology, useLab } from '../support/lab';

const enabled = process.env.HAFLOW_TEMPORAL_CLUSTER === '1';

/** Gated like the long tests (test/support/long.ts), by a flag of its own. */
function temporalClusterTest(): { skip?: string } {
  return enabled ? {} : { skip: 'needs a Temporal cluster built and started on this box (root, Go, PostgreSQL 15, the lab; about 5 minutes): run it with HAFLOW_TEMPORAL_CLUSTER=1' };
}

const root = join(__dirname, '../..');
const since = (start: number) => Math.round((Date.now() - start) / 100) / 10;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

if (!enabled) {
  test('haflow on a Temporal cluster of four services: a worker killed mid-install, the install completes on the other, and a drill passes', temporalClusterTest(), () => undefined);
} else {
  labSecrets();
  // Reports go to a data directory of this test's own.
  const scratch = mkdtempSync(join(tmpdir(), 'haflow-temporal-cluster-test-'));
  // The cluster's PostgreSQL runs as the postgres user, which must pass through to its data directory.
  chmodSync(scratch, 0o711);
  process.env.XDG_DATA_HOME = join(scratch, 'data');
  const stateDir = join(scratch, 'cluster');
  const workerLog = join(scratch, 'workers.log');
  const currentLab = useLab(labTopology('standalone'));

  /** Every figure the run measured, printed at the end whatever happened. */
  const figures: Record<string, unknown> = {};
  let cluster: RunningCluster | undefined;
  let client: Client | undefined;
  let failed = false;
  const workers = new Map<ChildProcess, string>();
  /** Every worker ever started, by the identity Temporal records (`<pid>@<host>`). */
  const workerNames = new Map<string, string>();
  const nameOf = (identity: string) => workerNames.get(identity.split('@')[0]) ?? identity;
  const countBy = (runs: { identity: string }[]) => runs.reduce<Record<string, number>>((count, r) => ({ ...count, [nameOf(r.identity)]: (count[nameOf(r.identity)] ?? 0) + 1 }), {});

  const clusterEnv = () => ({ ...process.env, TEMPORAL_ADDRESS: cluster!.address, TEMPORAL_NAMESPACE: cluster!.namespace });

  /** A real `haflow worker` against the cluster; resolves once it polls. Its log goes to workers.log. */
  async function startWorker(name: string): Promise<ChildProcess> {
    const child = spawn(process.execPath, [join(root, 'bin/haflow.js'), 'worker', '--grace', '1'], { env: clusterEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    workers.set(child, name);
    workerNames.set(String(child.pid), name);
    child.on('exit', () => workers.delete(child));
    await new Promise<void>((resolve, reject) => {
      let output = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        appendFileSync(workerLog, chunk.toString().replace(/^(?=.)/gm, `${new Date().toISOString()} [${name} ${child.pid}] `));
        if (output.includes('haflow worker polling')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`worker ${name} exited with ${code} before polling:\n${output}`)));
    });
    return child;
  }

  async function kill(child: ChildProcess): Promise<void> {
    child.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) await new Promise((resolve) => child.once('exit', resolve));
  }

  /** The `haflow` CLI as an operator runs it, against the cluster. */
  function haflow(...args: string[]): Promise<{ code: number | null; out: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [join(root, 'bin/haflow.js'), ...args], { env: clusterEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.on('exit', (code) => resolve({ code, out }));
    });
  }

  // A run that dies without its after() hooks must not leave the cluster or a worker behind.
  const killEverything = () => {
    for (const child of workers.keys()) child.kill('SIGKILL');
    killTemporalClusterNow(stateDir);
  };

  before(async () => {
    process.once('exit', killEverything);
    try {
      const start = Date.now();
      cluster = await startTemporalCluster({ stateDir, fresh: true, log: (line) => console.log(`# temporal cluster: ${line}`) });
      figures.cluster = { ...cluster.timings, address: cluster.address, namespace: cluster.namespace, pids: cluster.pids };
      // Four services, four processes (and PostgreSQL): not one process hosting them all.
      assert.equal(new Set(Object.values(cluster.pids)).size, 5, JSON.stringify(cluster.pids));
      client = await connectClient(temporalSettings({ TEMPORAL_ADDRESS: cluster.address, TEMPORAL_NAMESPACE: cluster.namespace }));
      const workersStart = Date.now();
      await Promise.all([startWorker('worker-a'), startWorker('worker-b')]);
      figures.workersPollingSeconds = since(workersStart);
      figures.bringUpSeconds = since(start);
    } catch (err) {
      failed = true;
      throw err;
    }
  }, { timeout: 45 * 60_000 });

  after(async () => {
    await Promise.all([...workers.keys()].map(kill));
    await client?.connection.close();
    const stop = Date.now();
    await stopTemporalCluster({ stateDir, wipe: !failed });
    figures.clusterStopSeconds = since(stop);
    process.off('exit', killEverything);
    console.log(`# figures of the Temporal cluster run:\n${JSON.stringify(figures, null, 2).replace(/^/gm, '# ')}`);
    if (failed) console.log(`# kept for a post-mortem: the cluster's logs in ${join(stateDir, 'logs')}, the workers' log ${workerLog}`);
    else rmSync(scratch, { recursive: true, force: true });
  }, { timeout: 5 * 60_000 });

  test('two haflow workers on the cluster share the standalone install; the one running a step is killed with SIGKILL, the other retries that step and completes the install, and the cluster is healthy', { timeout: 30 * 60_000 }, async (t) => {
    try {
      const lab = currentLab();
      const steps = flattenSteps(runbookFor('install', lab.topology, undefined));
      const target = process.env.HAFLOW_TEMPORAL_CLUSTER_KILL_STEP ?? 'etcd.member@observer';
      const killAfterMs = Number(process.env.HAFLOW_TEMPORAL_CLUSTER_KILL_AFTER_MS ?? 1000);
      const targetIndex = steps.findIndex((s) => s.id === target);
      assert.ok(targetIndex >= 0, `${target} is a step of the install`);
      const identities = new Map([...workers].map(([child, name]) => [`${child.pid}@`, { child, name }]));

      const started = Date.now();
      const install = haflow('install', lab.topologyFile);
      const handle = client!.workflow.getHandle(clusterWorkflowId(lab.topology.cluster));
      const killed = await killWorkerMidStep(handle, steps, targetIndex, killAfterMs, identities, install);
      const survivor = [...workers].find(([child]) => child !== killed.worker)!;
      t.diagnostic(`killed ${killed.name} (pid ${killed.pid}) ${killed.msIntoActivity} ms into attempt ${killed.attempt} of ${killed.step} (${killed.activity}), ${since(started)} s into the install; its activity still pending after the kill: ${killed.pendingAfterKill}`);
      // Otherwise the activity completed in the few milliseconds between the look and the kill: the kill hit no activity.
      assert.ok(killed.pendingAfterKill, `the kill landed while ${killed.step}'s activity ran`);

      const cli = await install;
      figures.installSeconds = since(started);
      assert.equal(cli.code, 0, cli.out);
      assert.match(cli.out, /\d+ changed, \d+ unchanged/);
      const outcome = (await handle.result()) as RunbookOutcome;
      assert.equal(outcome.status, 'completed');
      assert.deepEqual(outcome.steps.filter((s) => s.status !== 'done').map((s) => s.id), []);

      // What Temporal recorded: which worker ran each activity, and which were attempted again.
      const { runs, workflowTaskTimeouts } = await activityRuns(client!, handle, steps);
      const retried = runs.filter((r) => r.attempt > 1);
      const killedIdentity = `${killed.pid}@`;
      const survivorIdentity = `${survivor[0].pid}@`;
      t.diagnostic(`activities: ${runs.length}, completed by ${killed.name} ${runs.filter((r) => r.identity.startsWith(killedIdentity)).length}, by ${survivor[1]} ${runs.filter((r) => r.identity.startsWith(survivorIdentity)).length}`);
      t.diagnostic(`retried: ${retried.map((r) => `${r.step} (attempt ${r.attempt} by ${r.identity}, after ${r.lastFailure})`).join('; ') || 'none'}`);
      assert.ok(runs.some((r) => r.identity.startsWith(killedIdentity)), 'the killed worker had completed activities before the kill: the two shared the work');
      assert.ok(runs.some((r) => r.identity.startsWith(survivorIdentity)), 'the other worker ran activities');
      assert.deepEqual(retried.map((r) => r.step), [killed.step], 'the step that was running on the killed worker is the one step attempted again');
      const retry = retried[0];
      assert.ok(retry.identity.startsWith(survivorIdentity), `the other worker ran the retry (${retry.identity})`);
      assert.match(retry.lastFailure, /heartbeat/i, 'Temporal noticed the dead worker by its missing heartbeat');

      const lister = await haflow('list', lab.topologyFile);
      assert.equal(lister.code, 0, lister.out);
      const view = await waitHealthy(lab);
      assert.equal(view.leader, 'node1');
      figures.install = {
        wallSeconds: figures.installSeconds,
        steps: outcome.steps.length,
        changed: outcome.changed,
        activities: runs.length,
        completedBy: countBy(runs),
        killed: { worker: killed.name, step: killed.step, activity: killed.activity, msIntoActivity: killed.msIntoActivity, atSecondsIntoInstall: killed.atSeconds },
        retried: retried.map((r) => ({ step: r.step, attempt: r.attempt, by: r.identity, lastFailure: r.lastFailure })),
        // From the kill to the retry's start on the other worker: the heartbeat timeout at work.
        retryStartedSecondsAfterKill: Math.round((retry.startedAt - killed.at) / 100) / 10,
        retryTookSeconds: Math.round((retry.completedAt - retry.startedAt) / 100) / 10,
        // The killed worker also held the run's workflow (sticky): its next workflow task timed out once.
        workflowTaskTimeouts,
        healthy: { leader: view.leader, streaming: view.streaming, haproxyRoutesTo: view.routesTo },
      };
    } catch (err) {
      failed = true;
      noteLabGone(t);
      throw err;
    }
  });

  test('a crash-leader drill on the cluster-backed workers: PASS, the cluster heals, no acknowledged write lost', { timeout: 20 * 60_000 }, async (t) => {
    try {
      const lab = currentLab();
      const before = await waitHealthy(lab);
      // The operator replaces the killed worker: two share the drill again.
      while (workers.size < 2) await startWorker(`worker-${workers.size === 0 ? 'c' : 'd'}`);
      const started = Date.now();
      const run = await haflow('drill', lab.topologyFile, '--fault', 'crash-leader');
      const drillSeconds = since(started);
      assert.equal(run.code, 0, run.out);
      assert.match(run.out, /drill crash-leader on \S+ on cluster lab-standalone: PASS/);
      const report = latestReport();
      const f = report.figures;
      const drillRuns = (await activityRuns(client!, client!.workflow.getHandle(clusterWorkflowId(lab.topology.cluster)), [])).runs;
      assert.equal(report.verdict.pass, true, report.verdict.reasons.join('; '));
      assert.equal(f.lostWrites, 0);
      assert.equal(f.splitBrain, false);
      assert.ok(f.writeDowntimeSeconds! > 0, `the crash made writes fail for a while: ${f.writeDowntimeSeconds}`);
      const after = await waitHealthy(lab);
      assert.notEqual(after.leader, before.leader, 'leadership moved');
      assert.equal(lab.status().every((m) => m.state === 'running'), true, 'every machine is powered on again');
      t.diagnostic(`write downtime ${f.writeDowntimeSeconds} s, ${f.acknowledgedWrites} acknowledged, ${f.failedWrites} failed, ${f.lostWrites} lost; new leader ${f.newLeader} after ${f.timeToNewLeaderSeconds} s, routed after ${f.timeToRoutingSeconds} s`);
      figures.drill = {
        fault: report.fault,
        wallSeconds: drillSeconds,
        verdict: report.verdict.pass ? 'PASS' : 'FAIL',
        writeDowntimeSeconds: f.writeDowntimeSeconds,
        predicted: report.predicted,
        lostWrites: f.lostWrites,
        acknowledgedWrites: f.acknowledgedWrites,
        failedWrites: f.failedWrites,
        timeToNewLeaderSeconds: f.timeToNewLeaderSeconds,
        timeToRoutingSeconds: f.timeToRoutingSeconds,
        appDowntimeSeconds: f.appDowntimeSeconds,
        phases: f.phases,
        leader: { before: before.leader, after: after.leader },
        activitiesCompletedBy: countBy(drillRuns),
      };
    } catch (err) {
      failed = true;
      noteLabGone(t);
      throw err;
    }
  });

  interface Killed {
    worker: ChildProcess;
    name: string;
    pid: number;
    step: string;
    activity: string;
    attempt: number;
    msIntoActivity: number;
    /** Epoch ms of the kill, and seconds into the install. */
    at: number;
    atSeconds: number;
    /** Temporal still had the activity as running right after the kill (it had not completed first). */
    pendingAfterKill: boolean;
  }

  /**
   * Watches the run's pending activities and kills (SIGKILL) the worker running the first step at
   * or after `targetIndex` in the plan, once its activity has run `afterMs` (or at first sight, for
   * a step further on: the target was missed). Fails when the install ends first.
   */
  async function killWorkerMidStep(
    handle: WorkflowHandle,
    steps: ReturnType<typeof flattenSteps>,
    targetIndex: number,
    afterMs: number,
    identities: Map<string, { child: ChildProcess; name: string }>,
    install: Promise<unknown>,
  ): Promise<Killed> {
    const installStarted = Date.now();
    let ended = false;
    void install.then(() => (ended = true));
    const index = new Map(steps.map((s, i) => [s.id, i]));
    while (!ended) {
      const description = await handle.describe().catch(() => undefined);
      const progress = description ? await handle.query<Progress>('progress').catch(() => undefined) : undefined;
      if (description && progress) {
        const running = progress.steps.filter((s) => s.status === 'running' && (index.get(s.id) ?? -1) >= targetIndex);
        for (const step of running) {
          const activity = steps[index.get(step.id)!].activity;
          const pending = (description.raw.pendingActivities ?? []).filter(
            (p) => p.activityType?.name === activity && p.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED && p.lastWorkerIdentity,
          );
          if (pending.length !== 1) continue;
          const p = pending[0];
          const owner = [...identities].find(([prefix]) => p.lastWorkerIdentity!.startsWith(prefix));
          if (!owner) continue;
          const startedAt = Number(p.lastStartedTime?.seconds ?? 0) * 1000 + Math.round((p.lastStartedTime?.nanos ?? 0) / 1e6);
          const msInto = Date.now() - startedAt;
          if (index.get(step.id) === targetIndex && msInto < afterMs) continue;
          const at = Date.now();
          await kill(owner[1].child);
          const after = await handle.describe();
          const pendingAfterKill = (after.raw.pendingActivities ?? []).some((q) => q.activityId === p.activityId);
          return { worker: owner[1].child, name: owner[1].name, pid: owner[1].child.pid!, step: step.id, activity, attempt: p.attempt ?? 1, msIntoActivity: msInto, at, atSeconds: since(installStarted), pendingAfterKill };
        }
      }
      await sleep(100);
    }
    throw new Error(`the install ended before a step at or after ${steps[targetIndex].id} was seen running on a worker`);
  }

  interface ActivityRun {
    step: string;
    attempt: number;
    /** The worker that ran the attempt that completed (`pid@host`). */
    identity: string;
    lastFailure: string;
    startedAt: number;
    completedAt: number;
  }

  /** Every completed activity of the run, from its history: step (by the title it carries), attempt, worker; and how many workflow tasks timed out. */
  async function activityRuns(temporalClient: Client, handle: WorkflowHandle, steps: ReturnType<typeof flattenSteps>): Promise<{ runs: ActivityRun[]; workflowTaskTimeouts: number }> {
    const events = (await handle.fetchHistory()).events ?? [];
    const ms = (t?: { seconds?: { toString(): string } | null; nanos?: number | null } | null) => Number(t?.seconds?.toString() ?? 0) * 1000 + Math.round((t?.nanos ?? 0) / 1e6);
    const byTitle = new Map(steps.map((s) => [s.title, s.id]));
    const scheduled = new Map<string, { step: string }>();
    const startedEvents = new Map<string, { attempt: number; identity: string; lastFailure: string; at: number }>();
    const runs: ActivityRun[] = [];
    for (const event of events) {
      const id = event.eventId?.toString() ?? '';
      if (event.activityTaskScheduledEventAttributes) {
        const summary = event.userMetadata?.summary;
        const title = summary ? String(await decode(temporalClient, summary as Payload)) : '';
        scheduled.set(id, { step: byTitle.get(title) ?? `${event.activityTaskScheduledEventAttributes.activityType?.name} (${title})` });
      } else if (event.activityTaskStartedEventAttributes) {
        const a = event.activityTaskStartedEventAttributes;
        startedEvents.set(a.scheduledEventId!.toString(), {
          attempt: a.attempt ?? 1,
          identity: a.identity ?? '',
          lastFailure: a.lastFailure ? `${a.lastFailure.message}${a.lastFailure.timeoutFailureInfo ? ` (${temporal.api.enums.v1.TimeoutType[a.lastFailure.timeoutFailureInfo.timeoutType ?? 0]})` : ''}` : '',
          at: ms(event.eventTime),
        });
      } else if (event.activityTaskCompletedEventAttributes) {
        const scheduledId = event.activityTaskCompletedEventAttributes.scheduledEventId!.toString();
        const start = startedEvents.get(scheduledId)!;
        runs.push({ step: scheduled.get(scheduledId)?.step ?? '?', attempt: start.attempt, identity: start.identity, lastFailure: start.lastFailure, startedAt: start.at, completedAt: ms(event.eventTime) });
      }
    }
    return { runs, workflowTaskTimeouts: events.filter((e) => e.workflowTaskTimedOutEventAttributes).length };
  }

  /** A payload as the client's data converter reads it (decrypted when HAFLOW_CODEC_KEY is set). */
  async function decode(temporalClient: Client, payload: Payload): Promise<unknown> {
    const { payloadConverter, payloadCodecs } = temporalClient.options.loadedDataConverter;
    let decoded = [payload];
    for (const codec of [...payloadCodecs].reverse()) decoded = await codec.decode(decoded);
    return payloadConverter.fromPayload(decoded[0]);
  }

  /** A failure's likeliest cause when the lab's state is gone mid-run: another process took the lab down. */
  function noteLabGone(t: { diagnostic(message: string): void }): void {
    if (!existsSync(labPaths.state)) t.diagnostic(`the lab is no longer up (${labPaths.state} is gone): another process took it down during this run; everything that uses the lab must hold /tmp/haflow-bench.lock`);
  }

  function latestReport(): DrillReport {
    const dir = join(process.env.XDG_DATA_HOME!, 'haflow', 'reports', 'lab-standalone');
    const newest = readdirSync(dir).filter((f) => f.endsWith('.json')).sort().at(-1)!;
    return (JSON.parse(readFileSync(join(dir, newest), 'utf8')) as { report: DrillReport }).report;
  }
}
