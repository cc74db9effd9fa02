// The application monitor on a real Temporal server, with the real watch activity asking real
// HTTP health endpoints (two stand-ins on loopback addresses of their own) and the failover's
// host-side activities faked: healthy checks leave no trace in the history and the monitor
// continues as new with its state; a failing master is failed over in the runbook's order, but
// not while the database tier has no leader; a switchback puts it back; a worker that dies while
// the monitor watches is replaced and the failover still happens; `stop` ends it.
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
import type { StepResult } from '../../activities/contract';
import { monitorStatus, startMonitor, stopMonitor, switchbackApp, MonitorRequestError } from '../../client/monitor';
import { loadTopology, type Topology } from '../../topology';
import { holdUpdate, releaseUpdate } from '../../connection/monitor-messages';
import { monitorWorkflowId } from '../../workflows/app-monitor';
import { startDevServer, waitUntil, workflowBundle } from '../support/temporal';

let env: TestWorkflowEnvironment;
const { topology: lab } = loadTopology(join(__dirname, '../../lab/topologies/standalone.yaml'));
/** The two application stand-ins: each answers /health with the status the test sets. */
const apps = { node1: { address: '127.0.0.52', status: 200, server: undefined as Server | undefined }, node2: { address: '127.0.0.53', status: 200, server: undefined as Server | undefined } };
let appPort = 0;

before(async () => {
  env = await startDevServer();
  for (const [name, app] of Object.entries(apps)) {
    app.server = createServer((req, res) => res.writeHead(req.url === '/health' ? app.status : 404).end(`${name} ${app.status}`));
    await new Promise<void>((resolve) => app.server!.listen(appPort, app.address, resolve));
    appPort = (app.server.address() as AddressInfo).port;
  }
});

after(async () => {
  for (const app of Object.values(apps)) await new Promise((resolve) => app.server?.close(resolve));
  await env?.teardown();
});

interface FakeSite {
  calls: string[];
  databaseLeader: boolean;
  /** The next fence finds its machine down (the real activity then reports fenced: false). */
  fenceUnreachable?: boolean;
  /** The run holding the cluster's workflow id, as Temporal would say. */
  operation?: { workflowId: string; runId: string; type: string; startTime: string };
}

const step = (summary: string, facts?: StepResult['facts']): StepResult => ({ changed: true, summary, ...(facts ? { facts } : {}) });

/** A worker with the real watch activity and the failover's host-side steps faked. */
async function startWorker(site: FakeSite, taskQueue: string) {
  const record = (what: string) => site.calls.push(what);
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: {
      watchAppHealth: haflowActivities.watchAppHealth,
      appAnswersWithin: haflowActivities.appAnswersWithin,
      readClusterHealth: async (input: { topology: Topology }): Promise<ClusterHealth> => ({
        cluster: input.topology.cluster,
        checkedAt: new Date().toISOString(),
        leader: site.databaseLeader ? 'node2' : undefined,
        members: [],
        nodes: [],
        etcd: [],
        haproxy: site.databaseLeader ? [{ host: 'observer', endpoint: '127.0.0.11:5000', servers: [{ name: 'node2', status: 'UP' }], routesTo: ['node2'] }] : [],
        maxLagBytes: 0,
        problems: site.databaseLeader ? [] : ['no leader: no member holds the leader key in etcd'],
        healthy: site.databaseLeader,
      }),
      databaseHasLeader: async () => (record('databaseHasLeader'), step('node2 leads')),
      runningClusterOperation: async () => site.operation,
      fenceAppNode: async (input: { host: string }) => {
        record(`fenceAppNode ${input.host}`);
        if (!site.fenceUnreachable) return step(`fenced ${input.host}`, { fenced: true });
        site.fenceUnreachable = false;
        return step(`could not fence ${input.host}: it does not answer SSH`, { fenced: false });
      },
      masterAppServing: async (input: { host: string }) => (record(`masterAppServing ${input.host}`), step(`serving on ${input.host}`)),
      recordAppRole: async (input: { host: string; role: string }) => (record(`recordAppRole ${input.host} ${input.role}`), step(`${input.host} ${input.role}`)),
      appHealthyThroughHaproxy: async (input: { master: string }) => (record(`appHealthyThroughHaproxy ${input.master}`), step(`answers from ${input.master}`)),
    },
  });
  const running = worker.run();
  return { worker, stop: async () => (worker.shutdown(), await running) };
}

/** The lab topology with its app nodes on the stand-ins' addresses and quick monitor settings. */
function observed(): Topology {
  return {
    ...lab,
    cluster: `obs-${randomUUID().slice(0, 8)}`,
    hosts: lab.hosts.map((h) => (h.name in apps ? { ...h, address: apps[h.name as keyof typeof apps].address } : h)),
    app: { ...lab.app!, http_port: appPort, monitor: { interval_seconds: 0.2, timeout_seconds: 0.5, failures: 3, autostart: true } },
  };
}

const status = (topology: Topology) => monitorStatus(env.client, topology.cluster);

/** A fresh site for one test: both applications healthy, a task queue and a worker of its own, a cluster name of its own. */
async function freshSite(site: Omit<FakeSite, 'calls'>) {
  apps.node1.status = 200;
  apps.node2.status = 200;
  const fake: FakeSite = { calls: [], ...site };
  const taskQueue = `monitor-${randomUUID()}`;
  return { site: fake, taskQueue, worker: await startWorker(fake, taskQueue), topology: observed() };
}

test('healthy checks add nothing to the history; the monitor continues as new and keeps its state and events', async () => {
  const { site, taskQueue, worker: { stop }, topology } = await freshSite({ databaseLeader: true });
  try {
    const started = await startMonitor(env.client, topology, { taskQueue, watchSeconds: 1, periodsPerRun: 2 });
    // The last check comes from the watch activity's heartbeat, which the worker sends at most every few seconds.
    const view = await waitUntil('a continue-as-new and a check in the new run', () => status(topology), (v) => v.runId !== started.runId && v.lastCheck !== undefined, 20_000);
    assert.equal(view.master, 'node1');
    assert.equal(view.phase, 'watching');
    assert.match(view.lastCheck!.lastResult!, /^HTTP 200/);
    assert.equal(view.lastCheck!.consecutiveFailures, 0);
    assert.deepEqual(view.events.map((e) => e.kind), ['watching'], 'the event log travels across continue-as-new, and a new run adds nothing to it');
    // The first run watched two periods of ~5 checks each: its history holds the periods, not the checks.
    const history0 = await env.client.workflow.getHandle(monitorWorkflowId(topology.cluster), started.runId).describe();
    assert.equal(history0.status.name, 'CONTINUED_AS_NEW');
    const first = env.client.workflow.getHandle(monitorWorkflowId(topology.cluster), started.runId);
    const history = await first.fetchHistory();
    const scheduled = history.events!.filter((e) => e.activityTaskScheduledEventAttributes).length;
    assert.equal(scheduled, 2, 'one activity per watch period');
    assert.ok(history.events!.length < 30, `history of one run: ${history.events!.length} events`);
    assert.equal(site.calls.length, 0);
    await assert.rejects(startMonitor(env.client, topology, { taskQueue }), (err: Error) => err instanceof MonitorRequestError && /has an application monitor running already/.test(err.message));
    await stopMonitor(env.client, topology.cluster);
    const ended = await env.client.workflow.getHandle(monitorWorkflowId(topology.cluster)).describe();
    assert.equal(ended.status.name, 'CANCELLED');
  } finally {
    await stop();
  }
});

test('a failing master is failed over in the runbook order, not while the database has no leader; the roles swap and a switchback puts them back', async () => {
  const { site, taskQueue, worker: { stop }, topology } = await freshSite({ databaseLeader: false });
  try {
    await startMonitor(env.client, topology, { taskQueue, watchSeconds: 30 });
    await waitUntil('a first check', () => status(topology), (v) => (v.lastCheck?.checks ?? 0) > 0);
    await assert.rejects(switchbackApp(env.client, topology.cluster, 'node1'), /node1 is the application master already/);

    apps.node1.status = 503;
    const refused = await waitUntil('the refusal', () => status(topology), (v) => v.events.some((e) => e.kind === 'failover-refused'));
    assert.equal(refused.phase, 'waiting for a database leader');
    assert.match(refused.events.find((e) => e.kind === 'master-failing')!.message, /node1 failed 3 checks in a row since .*: HTTP 503/);
    assert.match(refused.events.at(-1)!.message, /the database tier has no leader/);
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(site.calls.length, 0, 'no failover while the database has no leader');

    site.databaseLeader = true;
    const failedOver = await waitUntil('the failover', () => status(topology), (v) => v.failovers === 1 && v.phase === 'watching', 30_000);
    // A failover: the gate, the fence and the new master's start at once, then the rest in order.
    assert.deepEqual([...site.calls.slice(0, 3).sort(), ...site.calls.slice(3)], ['databaseHasLeader', 'fenceAppNode node1', 'masterAppServing node2', 'recordAppRole node2 master', 'appHealthyThroughHaproxy node2', 'recordAppRole node1 slave']);
    assert.deepEqual([failedOver.master, failedOver.slave], ['node2', 'node1']);
    const event = failedOver.events.find((e) => e.kind === 'failover')!;
    assert.match(event.message, /failed the application over from node1 to node2; node1 fenced; it answers through HAProxy from node2 since .*, [\d.]+ s after the first failed check/);
    assert.ok(Date.parse(event.firstFailureAt!) <= Date.parse(event.detectedAt!) && Date.parse(event.detectedAt!) <= Date.parse(event.answeringAt!));
    // It now watches node2; node1 stays slave, whatever node1 answers.
    apps.node1.status = 200;
    const watching = await waitUntil('a check of node2', () => status(topology), (v) => v.lastCheck?.master === 'node2');
    assert.equal(watching.master, 'node2');

    site.calls.length = 0;
    const message = await switchbackApp(env.client, topology.cluster);
    assert.match(message, /switched the application back from node2 to node1/);
    // A switchback: the new master starts only once the old one is fenced.
    assert.deepEqual([...site.calls.slice(0, 2).sort(), ...site.calls.slice(2)], ['databaseHasLeader', 'fenceAppNode node2', 'masterAppServing node1', 'recordAppRole node1 master', 'appHealthyThroughHaproxy node1', 'recordAppRole node2 slave']);
    const back = await status(topology);
    assert.deepEqual([back.master, back.slave, back.events.at(-1)!.kind], ['node1', 'node2', 'switchback']);
    // One switchback asked, one done: nothing more happens after it.
    await new Promise((r) => setTimeout(r, 1_500));
    const settled = await status(topology);
    assert.deepEqual([settled.master, settled.failovers, settled.events.filter((e) => e.kind === 'switchback').length, site.calls.length], ['node1', 2, 1, 6]);
    await stopMonitor(env.client, topology.cluster);
  } finally {
    await stop();
  }
});

test('stop says so only once the monitor has ended: with no worker to take the cancellation, it says the monitor still runs', async () => {
  const topology = observed();
  // A task queue no worker polls: the cancellation is recorded, and nothing ends the run.
  await startMonitor(env.client, topology, { taskQueue: `nobody-${randomUUID()}` });
  await assert.rejects(stopMonitor(env.client, topology.cluster, { waitMs: 2_000 }), (err: Error) => err instanceof MonitorRequestError && /was asked to stop but still runs after 2 s: is a haflow worker running\?/.test(err.message));
  assert.equal((await env.client.workflow.getHandle(monitorWorkflowId(topology.cluster)).describe()).status.name, 'RUNNING');
  await env.client.workflow.getHandle(monitorWorkflowId(topology.cluster)).terminate('the test is done');
});

test('an operation that holds the monitor (an install): no failover or switchback while it runs, the failover once it releases the hold or no longer runs', async () => {
  const { site, taskQueue, worker: { stop }, topology } = await freshSite({ databaseLeader: true });
  try {
    await startMonitor(env.client, topology, { taskQueue, watchSeconds: 30 });
    await waitUntil('a first check', () => status(topology), (v) => (v.lastCheck?.checks ?? 0) > 0);
    const handle = env.client.workflow.getHandle(monitorWorkflowId(topology.cluster));
    const install = { workflowId: `haflow-${topology.cluster}`, runId: 'run-1', what: `install of cluster ${topology.cluster}` };
    site.operation = { ...install, type: 'installWorkflow', startTime: new Date().toISOString() };
    // The hold answers who the monitor sees as master, for the install to agree with.
    assert.deepEqual(await handle.executeUpdate(holdUpdate, { args: [install] }), { master: 'node1', slave: 'node2' });
    await assert.rejects(switchbackApp(env.client, topology.cluster, 'node2'), /install of cluster .* holds failovers and switchbacks until it ends/);

    apps.node1.status = 503;
    const held = await waitUntil('the held failover', () => status(topology), (v) => v.events.some((e) => e.kind === 'held' && /the failover of node1 waits/.test(e.message)), 30_000);
    assert.equal(held.hold?.runId, 'run-1');
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(site.calls.length, 0, 'nothing fails over while the install holds the monitor');

    // Released at the install's end: the master, still failing, is failed over.
    assert.equal(await handle.executeUpdate(releaseUpdate, { args: [{ runId: 'run-1' }] }), true);
    site.operation = undefined;
    const failedOver = await waitUntil('the failover after the release', () => status(topology), (v) => v.failovers === 1 && v.phase === 'watching', 30_000);
    assert.deepEqual([failedOver.master, failedOver.hold], ['node2', undefined]);
    assert.ok(site.calls.includes('fenceAppNode node1'));

    // A hold whose run no longer runs (an install aborted at a blocked step) holds nothing.
    site.calls.length = 0;
    await handle.executeUpdate(holdUpdate, { args: [{ ...install, runId: 'run-2' }] });
    apps.node2.status = 503;
    const released = await waitUntil('the stale hold released', () => status(topology), (v) => v.failovers === 2 && v.phase === 'watching', 30_000);
    assert.ok(released.events.some((e) => e.kind === 'released' && /no longer runs: released/.test(e.message)));
    assert.ok(site.calls.includes('fenceAppNode node2'));
    await stopMonitor(env.client, topology.cluster);
  } finally {
    await stop();
  }
});

test('the worker dies while the monitor watches, the master fails, a new worker starts: the failover still happens', async () => {
  const { site, taskQueue, worker: first, topology } = await freshSite({ databaseLeader: true });
  await startMonitor(env.client, topology, { taskQueue, watchSeconds: 300 });
  await waitUntil('a first check', () => status(topology).catch(() => undefined), (v) => (v?.lastCheck?.checks ?? 0) > 0);
  await first.stop();
  apps.node1.status = 503;
  await new Promise((r) => setTimeout(r, 1_000));
  assert.equal(site.calls.length, 0, 'no worker, no failover');
  const second = await startWorker(site, taskQueue);
  try {
    const view = await waitUntil('the failover on the new worker', () => status(topology), (v) => v.failovers === 1, 60_000);
    assert.deepEqual([view.master, view.slave], ['node2', 'node1']);
    assert.ok(site.calls.includes('fenceAppNode node1'));
    await stopMonitor(env.client, topology.cluster);
  } finally {
    await second.stop();
  }
});

test('an old master that could not be fenced (it was down) is fenced as soon as it answers again, and stays slave', async () => {
  const { site, taskQueue, worker: { stop }, topology } = await freshSite({ databaseLeader: true, fenceUnreachable: true });
  try {
    await startMonitor(env.client, topology, { taskQueue, watchSeconds: 30 });
    await waitUntil('a first check', () => status(topology), (v) => (v.lastCheck?.checks ?? 0) > 0);
    apps.node1.status = 503; // it answers, but not healthy: for the fence, answering is what counts
    const view = await waitUntil('the late fence', () => status(topology), (v) => v.events.some((e) => e.kind === 'fenced'), 30_000);
    assert.match(view.events.find((e) => e.kind === 'failover')!.message, /node1 could not be fenced \(unreachable\): it will be when it answers again/);
    assert.match(view.events.find((e) => e.kind === 'fenced')!.message, /node1 answered again \(HTTP 503.*\): fenced .* and recorded as slave/);
    assert.deepEqual(site.calls.slice(-2), ['fenceAppNode node1', 'recordAppRole node1 slave']);
    assert.deepEqual([view.master, view.slave, view.unfenced], ['node2', 'node1', undefined]);
    await stopMonitor(env.client, topology.cluster);
  } finally {
    await stop();
  }
});

test('a master that failed because its database did, and answers again once the database has a leader, is not failed over', async () => {
  const { site, taskQueue, worker: { stop }, topology } = await freshSite({ databaseLeader: false });
  try {
    await startMonitor(env.client, topology, { taskQueue, watchSeconds: 30 });
    await waitUntil('a first check', () => status(topology), (v) => (v.lastCheck?.checks ?? 0) > 0);
    apps.node1.status = 503; // the database is gone: the application cannot write
    await waitUntil('the refusal', () => status(topology), (v) => v.events.some((e) => e.kind === 'failover-refused'));
    apps.node1.status = 200; // the database is back, and the application with it
    site.databaseLeader = true;
    const view = await waitUntil('the recovery', () => status(topology), (v) => v.events.some((e) => e.kind === 'master-recovered'), 30_000);
    assert.match(view.events.at(-1)!.message, /node1 answers again now that the database has a leader \(HTTP 200.*\): no application failover/);
    assert.deepEqual([view.master, view.failovers, view.phase, site.calls.length], ['node1', 0, 'watching', 0]);
    await stopMonitor(env.client, topology.cluster);
  } finally {
    await stop();
  }
});
