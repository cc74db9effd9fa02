// Scheduled drills on a real Temporal server, with Temporal's own Schedules and the failover
// activities faked (test/support/fake-drill.ts): a triggered run records passed, missed, failed
// or skipped with its reason; a problem sends one webhook (a real HTTP receiver on loopback,
// through the real sendWebhook activity) and pauses the schedule when the topology says so; a
// busy or unhealthy cluster is a skip that pauses nothing; and the schedule commands' API.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import * as haflowActivities from '../../activities';
import type { ClusterHealth } from '../../activities/cluster/health';
import { followRun, startRunbook } from '../../client/api';
import {
  createSchedule,
  deleteSchedule,
  describeSchedule,
  listSchedules,
  pauseSchedule,
  refreshSchedules,
  scheduledRunResult,
  triggerSchedule,
  unpauseSchedule,
  updateSchedule,
  type ScheduleRequest,
} from '../../client/schedules';
import type { Notification } from '../../runbooks/scheduled';
import { loadTopology, type Topology } from '../../topology';
import { fakeDrill, fakeDrillActivities, type FakeDrill } from '../support/fake-drill';
import { startDevServer, waitUntil, workflowBundle } from '../support/temporal';

let env: TestWorkflowEnvironment;
let receiver: Server;
const received: Notification[] = [];
/** Delivery attempts per notification id, accepted or not. */
const deliveries = new Map<string, number>();
let webhookUrl = '';
let receiverOrigin = '';
const { topology: lab } = loadTopology(join(__dirname, '../../lab/topologies/standalone.yaml'));

before(async () => {
  env = await startDevServer();
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const notification = JSON.parse(body) as Notification;
      // /flaky fails its first two deliveries of a notification; /gone refuses every one.
      const attempts = (deliveries.get(notification.id) ?? 0) + 1;
      deliveries.set(notification.id, attempts);
      if (req.url === '/gone') return void res.writeHead(410).end('this hook was removed');
      if (req.url === '/flaky' && attempts <= 2) return void res.writeHead(503).end('busy');
      received.push(notification);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverOrigin = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  webhookUrl = `${receiverOrigin}/hooks/haflow`;
});

after(async () => {
  await new Promise((resolve) => receiver?.close(resolve));
  await env?.teardown();
});

function healthOf(cluster: string, healthy: boolean): ClusterHealth {
  return {
    cluster,
    checkedAt: new Date().toISOString(),
    leader: healthy ? 'node1' : undefined,
    members: [
      { name: 'node1', host: '127.0.0.12', role: 'leader', state: 'running', timeline: 1 },
      { name: 'node2', host: '127.0.0.13', role: 'replica', state: 'streaming', timeline: 1, lag: 0, streaming: true },
    ],
    nodes: [],
    etcd: [],
    haproxy: [],
    maxLagBytes: 1048576,
    problems: healthy ? [] : ['no leader: no member holds the leader key in etcd'],
    healthy,
  };
}

interface FakeCluster extends FakeDrill {
  healthy: boolean;
}

/** A worker with the drill's activities faked, and the real ones that talk to Temporal and to the webhook. */
async function withWorker<T>(fake: FakeCluster, body: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `schedule-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: {
      ...fakeDrillActivities(fake),
      readClusterHealth: async (input: { topology: Topology }) => healthOf(input.topology.cluster, fake.healthy),
      runningClusterOperation: haflowActivities.runningClusterOperation,
      sendWebhook: haflowActivities.sendWebhook,
      runNotifyCommand: haflowActivities.runNotifyCommand,
    },
  });
  return worker.runUntil(body(taskQueue));
}

function topologyWith(extra: Partial<Topology> = {}): Topology {
  return { ...lab, cluster: `sched-${randomUUID().slice(0, 8)}`, ...extra };
}

const notifyWebhook = (on: 'problems' | 'every' = 'problems') => ({ webhook: { url: webhookUrl, timeout_seconds: 5 }, on, ui_url: 'http://127.0.0.1:8233' }) as Topology['notify'];

function request(topology: Topology, taskQueue: string, extra: Partial<ScheduleRequest> = {}): ScheduleRequest {
  // Paused, so only triggers run it: the test decides when.
  return { topology, fault: 'crash-leader', when: { every: '7d' }, paused: true, taskQueue, ...extra };
}

async function triggered(id: string) {
  const run = await triggerSchedule(env.client, id);
  return scheduledRunResult(env.client, run);
}

test('a triggered run that meets the objectives is recorded as passed, with figures, and notifies nobody', async () => {
  const fake = { ...fakeDrill(), healthy: true };
  await withWorker(fake, async (taskQueue) => {
    const topology = topologyWith({ notify: notifyWebhook() });
    const created = await createSchedule(env.client, request(topology, taskQueue, { note: 'weekly proof' }));
    assert.equal(created.id, `${topology.cluster}-crash-leader`);
    assert.equal(created.cluster, topology.cluster);
    assert.equal(created.paused, true);
    const before = received.length;
    const run = await triggered(created.id);
    assert.equal(run.status, 'completed');
    assert.equal(run.result?.outcome, 'passed', JSON.stringify(run.result));
    assert.equal(run.result?.figures?.writeDowntimeSeconds, 0.6);
    assert.equal(run.result?.figures?.lostWrites, 0);
    assert.equal(run.result?.healthyAfter, true);
    assert.match(run.result?.drill?.reportId ?? '', /-drill-crash-leader$/);
    assert.ok(fake.calls.includes('injectFault') && fake.calls.includes('healFault'), fake.calls.join(', '));
    assert.equal(received.length, before, 'a passed drill is not a problem');

    const [listed] = await listSchedules(env.client, topology.cluster);
    assert.equal(listed.id, created.id);
    assert.equal(listed.note, 'weekly proof');
    assert.equal(listed.runs[0].result?.outcome, 'passed');
    await deleteSchedule(env.client, created.id);
    assert.deepEqual(await listSchedules(env.client, topology.cluster), []);
  });
});

test('a drill that misses a deliberately low objective sends one webhook with its figures and does not pause the schedule', async () => {
  const fake = { ...fakeDrill(), healthy: true };
  await withWorker(fake, async (taskQueue) => {
    const topology = topologyWith({ notify: notifyWebhook(), objectives: { rto_seconds: 0.1, lost_writes: 0, pause_schedules_on_miss: false } });
    const { id } = await createSchedule(env.client, request(topology, taskQueue));
    const run = await triggered(id);
    assert.equal(run.result?.outcome, 'missed');
    assert.match(run.result!.reasons.join(), /write downtime 0.6 s, over the objective of 0.1 s/);
    const calls = received.filter((n) => n.cluster === topology.cluster);
    assert.equal(calls.length, 1, JSON.stringify(calls));
    assert.equal(calls[0].verdict, 'FAIL');
    assert.equal(calls[0].outcome, 'missed');
    assert.equal(calls[0].figures?.writeDowntimeSeconds, 0.6);
    assert.equal(calls[0].figures?.objectiveSeconds, 0.1);
    assert.equal(calls[0].schedule, id);
    assert.match(calls[0].links.drillRun ?? '', new RegExp(`^http://127.0.0.1:8233/namespaces/default/workflows/haflow-${topology.cluster}/`));
    assert.match(run.result!.notifications.join(), /webhook: /);
    const view = await describeSchedule(env.client, id);
    assert.equal(view.paused, true, 'still paused only because it was created paused');
    assert.match(view.pausedBecause ?? '', /created paused/);
    await deleteSchedule(env.client, id);
  });
});

test('with pause_schedules_on_miss, a missed drill pauses its schedule and says why', async () => {
  const fake = { ...fakeDrill(), healthy: true };
  await withWorker(fake, async (taskQueue) => {
    const topology = topologyWith({ objectives: { rto_seconds: 0.1, lost_writes: 0, pause_schedules_on_miss: true } });
    // Active, with a timetable far away: only the pause on failure can pause it.
    const { id } = await createSchedule(env.client, request(topology, taskQueue, { paused: false }));
    const run = await triggered(id);
    assert.equal(run.status, 'failed');
    assert.equal(run.result?.outcome, 'missed', 'the result is kept although the run failed');
    const view = await waitUntil('the schedule paused', () => describeSchedule(env.client, id), (v) => v.paused);
    assert.match(view.pausedBecause ?? '', /paused due to workflow failure: .*MISSED crash-leader .*write downtime 0.6 s, over the objective of 0.1 s \(the topology's objectives pause the schedule on a problem\)/);
    await unpauseSchedule(env.client, id);
    assert.equal((await describeSchedule(env.client, id)).paused, false);
    await deleteSchedule(env.client, id);
  });
});

test('a run that finds another operation holding the cluster, or the cluster unhealthy, is a skip with the reason that pauses nothing; the unhealthy one is notified', async () => {
  const fake = { ...fakeDrill(), healthy: true };
  fake.broken.add('awaitRecovery'); // the operation that holds the cluster blocks at its recovery
  await withWorker(fake, async (taskQueue) => {
    const topology = topologyWith({ objectives: { rto_seconds: 30, lost_writes: 0, pause_schedules_on_miss: true }, notify: notifyWebhook() });
    const holder = await startRunbook(env.client, 'drill', topology, { fault: 'crash-leader', leader: 'node1' }, { taskQueue });
    await followRun(holder, () => undefined); // until it blocks
    const { id } = await createSchedule(env.client, request(topology, taskQueue, { paused: false }));
    const busy = await triggered(id);
    assert.equal(busy.status, 'completed');
    assert.equal(busy.result?.outcome, 'skipped');
    assert.match(busy.result!.reasons[0], new RegExp(`another operation holds the cluster: drillWorkflow haflow-${topology.cluster}`));
    await holder.cancel();
    await holder.result().catch(() => undefined);

    fake.healthy = false;
    const unhealthy = await triggered(id);
    assert.equal(unhealthy.result?.outcome, 'skipped');
    assert.match(unhealthy.result!.reasons[0], /not healthy.*no leader/);
    assert.equal((await describeSchedule(env.client, id)).paused, false, 'a skip does not pause the schedule');
    // Someone hears of the unhealthy cluster (not of the busy one).
    const calls = received.filter((n) => n.cluster === topology.cluster);
    assert.deepEqual(calls.map((n) => [n.verdict, n.why]), [['SKIPPED', 'the cluster was not healthy, so the drill did not run']]);
    await deleteSchedule(env.client, id);
  });
});

test('a scheduled drill that blocks is aborted after the unattended wait: its fault is healed, the run failed and notified', async () => {
  const fake = { ...fakeDrill(), healthy: true };
  fake.broken.add('replicaRejoined');
  await withWorker(fake, async (taskQueue) => {
    const topology = topologyWith({ notify: notifyWebhook() });
    const { id } = await createSchedule(env.client, request(topology, taskQueue, { blockedMinutes: 0.05 }));
    const run = await triggered(id);
    assert.equal(run.result?.outcome, 'failed');
    assert.match(run.result!.reasons[0], /aborted at step patroni.rejoined@node1 \(unattended run: no operator decided within 3 s\)/);
    assert.equal(fake.calls.filter((c) => c === 'healFault').length, 1);
    assert.equal(received.filter((n) => n.cluster === topology.cluster && n.outcome === 'failed').length, 1);
    await deleteSchedule(env.client, id);
  });
});

test('pause, unpause and update: the timetable, the fault, the note and the topology change; a bad request is refused', async () => {
  const fake = { ...fakeDrill(), healthy: true };
  await withWorker(fake, async (taskQueue) => {
    const topology = topologyWith();
    const { id } = await createSchedule(env.client, request(topology, taskQueue, { paused: false, when: { cron: '0 3 * * 1' } }));
    let view = await describeSchedule(env.client, id);
    assert.equal(view.when, "cron '0 3 * * 1' (UTC)");
    assert.equal(view.nextRuns[0].getUTCDay(), 1);
    assert.equal(view.nextRuns[0].getUTCHours(), 3);
    view = await pauseSchedule(env.client, id, 'maintenance window');
    assert.equal(view.paused, true);
    assert.match(view.pausedBecause ?? '', /paused by an operator: maintenance window/);
    view = await unpauseSchedule(env.client, id);
    assert.equal(view.paused, false);
    view = await updateSchedule(env.client, id, { when: { every: '12h' }, fault: 'switchover', switchBack: true, note: 'after the upgrade', topology: { ...topology, objectives: { rto_seconds: 0.1, lost_writes: 0, pause_schedules_on_miss: false } } });
    assert.equal(view.when, 'every 12h');
    assert.equal(view.fault, 'switchover');
    assert.equal(view.switchBack, true);
    assert.equal(view.note, 'after the upgrade');
    const run = await triggered(id);
    assert.equal(run.result?.fault, 'switchover');
    assert.equal(run.result?.outcome, 'missed', 'the updated topology (objective 0.1 s) is the one the run used');
    await assert.rejects(updateSchedule(env.client, id, { topology: { ...topology, cluster: 'another' } }), /of cluster another, but schedule/);
    // After an install or a tune, the schedules of the cluster get its topology; once.
    const tuned = { ...topology, patroni: { ...topology.patroni, ttl: 20 } };
    assert.deepEqual(await refreshSchedules(env.client, tuned), [id]);
    assert.deepEqual(await refreshSchedules(env.client, tuned), []);
    await assert.rejects(createSchedule(env.client, request(topology, taskQueue, { id, when: { cron: '0 3 * * 1' } })), /exists already/);
    await assert.rejects(createSchedule(env.client, request(topology, taskQueue, { id: `${id}-x`, when: { every: '10s' } })), /at least 60 s/);
    await assert.rejects(createSchedule(env.client, request(topology, taskQueue, { id: `${id}-y`, when: { cron: 'every monday' } })), /five fields/);
    await assert.rejects(createSchedule(env.client, request({ ...topology, faults: {} }, taskQueue, { id: `${id}-z` })), /cannot run on cluster/);
    await assert.rejects(createSchedule(env.client, request(topology, taskQueue, { id: `${id}-app`, fault: 'crash-app-master' })), /strikes the application monitor's current master, which a scheduled run does not ask yet/);
    await deleteSchedule(env.client, id);
    await assert.rejects(describeSchedule(env.client, id), /no schedule/);
  });
});

test('a webhook that fails is retried until it takes the notification; one that refuses it is reported, and neither fails the run', async () => {
  const fake = { ...fakeDrill(), healthy: true };
  await withWorker(fake, async (taskQueue) => {
    const low = { rto_seconds: 0.1, lost_writes: 0, pause_schedules_on_miss: false };
    const flaky = topologyWith({ objectives: low, notify: { webhook: { url: `${receiverOrigin}/flaky`, timeout_seconds: 5 }, on: 'problems', ui_url: 'http://127.0.0.1:8233' } });
    const { id: flakyId } = await createSchedule(env.client, request(flaky, taskQueue));
    const retried = await triggered(flakyId);
    assert.equal(retried.status, 'completed');
    const taken = received.filter((n) => n.cluster === flaky.cluster);
    assert.equal(taken.length, 1);
    assert.equal(deliveries.get(taken[0].id), 3, 'two refused deliveries, then the one taken');
    assert.match(retried.result!.notifications[0], /^webhook: sent .*HTTP 204/);

    const gone = topologyWith({ objectives: low, notify: { webhook: { url: `${receiverOrigin}/gone`, timeout_seconds: 5 }, on: 'problems', ui_url: 'http://127.0.0.1:8233' } });
    const { id: goneId } = await createSchedule(env.client, request(gone, taskQueue));
    fake.injectedAt = undefined; // the fake observation is around the next fault
    const refused = await triggered(goneId);
    assert.equal(refused.status, 'completed', 'a receiver that refuses does not fail the run');
    assert.equal(refused.result?.outcome, 'missed');
    assert.match(refused.result!.notifications[0], /^webhook: FAILED after retries: the webhook at http:\/\/127.0.0.1:\d+ answered HTTP 410: this hook was removed/);
    await deleteSchedule(env.client, flakyId);
    await deleteSchedule(env.client, goneId);
  });
});
