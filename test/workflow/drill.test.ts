// The drill workflow on a real server with fake failover activities: the fault is healed
// whatever ends the run after it (completion, a failed step and an abort, a cancellation, a
// fault step that failed), and the report is computed from the observation.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { decide, followRun, startRunbook } from '../../client/api';
import { loadTopology } from '../../topology';
import type { MeasuredOutcome } from '../../workflows/measured';
import { fakeDrill, fakeDrillActivities, type FakeDrill } from '../support/fake-drill';
import { startDevServer, waitUntil, workflowBundle } from '../support/temporal';

let env: TestWorkflowEnvironment;
const { topology: lab } = loadTopology(join(__dirname, '../../lab/topologies/standalone.yaml'));

before(async () => {
  env = await startDevServer();
});

after(async () => {
  await env?.teardown();
});

async function withWorker<T>(drill: FakeDrill, body: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `drill-${randomUUID()}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities: fakeDrillActivities(drill) });
  return worker.runUntil(body(taskQueue));
}

const cluster = () => ({ ...lab, cluster: `drill-${randomUUID().slice(0, 8)}` });
const args = { fault: 'crash-leader' as const, leader: 'node1' };

test('a completed drill heals once, as its step, and reports the measured figures; with backups the archive is checked last', async () => {
  const drill = fakeDrill();
  const outcome = await withWorker(drill, async (taskQueue) => {
    const handle = await startRunbook(env.client, 'drill', cluster(), args, { taskQueue });
    return (await handle.result()) as MeasuredOutcome;
  });
  assert.deepEqual(
    drill.calls.filter((c) => c !== 'measureFailover'),
    ['clusterHealthy', 'ensureProbeDatabase', 'injectFault', 'awaitRecovery', 'healFault', 'replicaRejoined', 'clusterHealthy', 'archiveContinuity'],
  );
  assert.equal(drill.calls.filter((c) => c === 'healFault').length, 1);
  assert.ok(outcome.report, 'the report is in the result');
  assert.equal(outcome.report.figures.writeDowntimeSeconds, 0.6);
  assert.equal(outcome.report.figures.newLeader, 'node2');
  assert.equal(outcome.report.verdict.pass, true, outcome.report.verdict.reasons.join('; '));
});

test("the prediction takes the timings the leader's Patroni runs with, as the gate read them: Patroni 4 raises the written ttl 10 to 20", async () => {
  const predicted = async (patroniVersion?: string) => {
    const drill = { ...fakeDrill(), patroniVersion };
    const outcome = await withWorker(drill, async (taskQueue) => (await (await startRunbook(env.client, 'drill', cluster(), args, { taskQueue })).result()) as MeasuredOutcome);
    return outcome.report!.predicted;
  };
  const [asWritten, raised] = [await predicted('3.0.2'), await predicted('4.0.7')];
  assert.equal(raised.expectedSeconds - asWritten.expectedSeconds, 10);
  assert.match(raised.formula, /ttl 20: Patroni 4\.0\.7 raises the written 10/);
  assert.doesNotMatch(asWritten.formula, /raises/);
});

test('a step after the fault that blocks, then an abort: the heal runs before the run ends', async () => {
  const drill = fakeDrill();
  drill.broken.add('awaitRecovery');
  await withWorker(drill, async (taskQueue) => {
    const topology = cluster();
    const handle = await startRunbook(env.client, 'drill', topology, args, { taskQueue });
    const blocked = await followRun(handle, () => undefined);
    assert.equal(blocked.status, 'blocked');
    assert.equal(drill.calls.includes('healFault'), false, 'not healed while the operator decides');
    await decide(env.client, topology.cluster, 'failover.recovered', 'abort', 'the test aborts');
    await assert.rejects(handle.result(), (err: unknown) => err instanceof WorkflowFailedError && /aborted by the operator/.test(err.cause?.message ?? ''));
  });
  assert.equal(drill.calls.filter((c) => c === 'healFault').length, 1, 'healed once, after the abort');
  assert.ok(drill.calls.indexOf('healFault') > drill.calls.indexOf('injectFault'));
});

test('a cancelled drill heals too', async () => {
  const drill = fakeDrill();
  drill.broken.add('awaitRecovery');
  await withWorker(drill, async (taskQueue) => {
    const handle = await startRunbook(env.client, 'drill', cluster(), args, { taskQueue });
    await followRun(handle, () => undefined);
    await handle.cancel();
    await assert.rejects(handle.result(), WorkflowFailedError);
    await waitUntil('the heal', async () => drill.calls.filter((c) => c === 'healFault').length, (n) => n === 1, 10_000);
  });
});

test('a fault step that itself failed may have struck: after the abort the heal runs', async () => {
  const drill = fakeDrill();
  drill.broken.add('injectFault');
  await withWorker(drill, async (taskQueue) => {
    const topology = cluster();
    const handle = await startRunbook(env.client, 'drill', topology, args, { taskQueue });
    const blocked = await followRun(handle, () => undefined);
    assert.equal(blocked.status === 'blocked' && blocked.step.id, 'fault.crash-leader@node1');
    await decide(env.client, topology.cluster, undefined, 'abort');
    await assert.rejects(handle.result());
  });
  assert.deepEqual(drill.calls.filter((c) => c === 'injectFault' || c === 'healFault'), ['injectFault', 'healFault'], 'tried once (a fault is not retried by itself), then healed');
});

test('a drill that fails at its gate strikes nothing and heals nothing', async () => {
  const drill = fakeDrill();
  drill.broken.add('clusterHealthy');
  await withWorker(drill, async (taskQueue) => {
    const topology = cluster();
    const handle = await startRunbook(env.client, 'drill', topology, args, { taskQueue });
    await followRun(handle, () => undefined);
    await decide(env.client, topology.cluster, 'drill.gate', 'abort');
    await assert.rejects(handle.result());
  });
  assert.deepEqual(drill.calls, ['clusterHealthy']);
});

test('a scheduled switchover: the workflow sleeps until its time, then observes and verifies; the report counts from that time', async () => {
  const drill = fakeDrill();
  const at = new Date(Date.now() + 8_000).toISOString();
  const outcome = await withWorker(drill, async (taskQueue) => {
    const handle = await startRunbook(env.client, 'switchover', cluster(), { leader: 'node1', candidate: 'node2', at }, { taskQueue });
    await waitUntil('the schedule request', async () => drill.calls.includes('switchoverTo'), Boolean, 10_000);
    assert.equal(drill.calls.includes('measureFailover'), false, 'no probe while waiting for the scheduled time');
    return (await handle.result()) as MeasuredOutcome;
  });
  assert.deepEqual(drill.calls.filter((c) => c !== 'measureFailover'), ['clusterHealthy', 'ensureProbeDatabase', 'switchoverTo', 'awaitRecovery', 'replicaRejoined', 'verifyWriteThroughHaproxy']);
  assert.equal(outcome.report?.injectedAt, at);
});

test('a scheduled switchover cancelled before its time withdraws it from Patroni', async () => {
  const drill = fakeDrill();
  await withWorker(drill, async (taskQueue) => {
    const handle = await startRunbook(env.client, 'switchover', cluster(), { leader: 'node1', candidate: 'node2', at: new Date(Date.now() + 600_000).toISOString() }, { taskQueue });
    await waitUntil('the schedule request', async () => drill.calls.includes('switchoverTo'), Boolean, 10_000);
    await handle.cancel();
    await assert.rejects(handle.result(), WorkflowFailedError);
    await waitUntil('the withdrawal', async () => drill.calls.filter((c) => c === 'cancelScheduledSwitchover').length, (n) => n === 1, 10_000);
  });
  assert.equal(drill.calls.includes('awaitRecovery'), false);
});
