// Whoever can start a workflow on haflow's task queue can run commands as root on every host, so the
// worker trusts nothing it is handed. On a real dev server, with the real worker (createWorker,
// HAFLOW_CODEC_KEY in its environment) and the real workflows: a run started by a client without
// the key is refused and ends at once (that client is told what to set, it does not wait forever);
// every activity re-checks the topology it receives before it runs; and `haflow worker` still
// starts without a key.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Client, WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { StepResult } from '../../activities/contract';
import { followRun, startInstall } from '../../client/api';
import { codecKeysFromEnv, haflowDataConverter, type CodecKeys } from '../../connection/codec';
import { TASK_QUEUE } from '../../connection/temporal';
import type { Runbook } from '../../runbooks/runbook';
import type { Topology } from '../../topology';
import { runbookWorkflow } from '../../workflows';
import { decideUpdate, progressQuery } from '../../workflows/protocol';
import { createWorker } from '../../worker/worker';
import { fakeCluster, fakeInstallActivities } from '../support/fake-install';
import { startDevServer, waitUntil } from '../support/temporal';
import { standalone } from '../support/topologies';

const root = join(__dirname, '../..');
const keyEnv = { HAFLOW_CODEC_KEY: randomBytes(32).toString('base64'), HAFLOW_CODEC_KEY_ID: 'trust-2026-11' };
const keys = codecKeysFromEnv(keyEnv) as CodecKeys;
const savedEnv = { HAFLOW_CODEC_KEY: process.env.HAFLOW_CODEC_KEY, HAFLOW_CODEC_KEY_ID: process.env.HAFLOW_CODEC_KEY_ID };

let env: TestWorkflowEnvironment;
let worker: Worker;
let workerRun: Promise<void>;
const machines = fakeCluster();
/** The topologies the `inspect` activity was handed, by cluster. */
const inspected = new Map<string, Topology>();

before(async () => {
  env = await startDevServer();
  // The worker as `haflow worker` builds it: the key from its environment, haflow's workflows bundled.
  Object.assign(process.env, keyEnv);
  worker = await createWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    activities: {
      ...fakeInstallActivities(() => machines),
      inspect: async (input: { topology: Topology }): Promise<StepResult> => {
        inspected.set(input.topology.cluster, input.topology);
        return { changed: false, summary: `looked at ${input.topology.cluster}` };
      },
    },
  });
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  workerRun = worker.run();
});

after(async () => {
  worker?.shutdown();
  await workerRun;
  await env?.teardown();
});

/** Rejects when `promise` has not settled within `ms`: a hang is a failure of its own. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not end within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

test('a run started by a client without the key is refused by a worker with it: it ends at once, nothing runs, and that client is told what to set', async () => {
  const keyless = new Client({ connection: env.client.connection, dataConverter: haflowDataConverter(undefined) });
  const topology = standalone({ cluster: 'keyless' });
  const handle = await startInstall(keyless, topology);
  await assert.rejects(
    within(followRun(handle, () => {}, { pollIntervalMs: 100 }), 60_000, 'following the run started without the key'),
    /encrypted \(key id trust-2026-11\) and HAFLOW_CODEC_KEY is not set here: set HAFLOW_CODEC_KEY and HAFLOW_CODEC_KEY_ID/,
  );
  assert.deepEqual(machines.calls, [], 'no activity ran');

  // The run itself failed for good, and says why to whoever has the key.
  const keyed = new Client({ connection: env.client.connection, dataConverter: haflowDataConverter(keys) });
  const description = await keyed.workflow.getHandle(handle.workflowId).describe();
  assert.equal(description.status.name, 'FAILED');
  const failure = await keyed.workflow.getHandle(handle.workflowId).result().then(
    () => assert.fail('the run completed'),
    (err: unknown) => err,
  );
  assert.ok(failure instanceof WorkflowFailedError);
  assert.match(
    String(failure.cause?.message),
    /an unencrypted payload \(json\/plain\) arrived while HAFLOW_CODEC_KEY is set on this worker: it came from a client .*without the key/,
  );
});

test('a decision sent without the key to a run with it is refused alone: the step stays blocked and the run still answers', async () => {
  machines.broken.set('ensurePackages@node1', { type: 'CommandFailed', message: 'disk full', remedy: 'free some space' });
  const keyed = new Client({ connection: env.client.connection, dataConverter: haflowDataConverter(keys) });
  const topology = standalone({ cluster: 'decided' });
  const handle = await startInstall(keyed, topology);
  try {
    const blocked = await within(followRun(handle, () => {}, { pollIntervalMs: 100 }), 60_000, 'the install to block');
    assert.ok(blocked.status === 'blocked');
    const stepId = blocked.step.id;
    const keyless = new Client({ connection: env.client.connection, dataConverter: haflowDataConverter(undefined) });
    await assert.rejects(
      within(keyless.workflow.getHandle(handle.workflowId).executeUpdate(decideUpdate, { args: [{ stepId, decision: 'skip' }] }), 30_000, 'the decision without the key'),
      /encrypted \(key id trust-2026-11\) and HAFLOW_CODEC_KEY is not set here/,
    );
    const progress = await keyed.workflow.getHandle(handle.workflowId).query(progressQuery);
    assert.equal(progress.steps.find((s) => s.id === stepId)?.status, 'blocked', 'the step was not skipped');
  } finally {
    machines.broken.clear();
    await handle.terminate('test over').catch(() => undefined);
  }
});

test('a run started with the key runs as usual, and its activities get the topology as sent', async () => {
  const keyed = new Client({ connection: env.client.connection, dataConverter: haflowDataConverter(keys) });
  const topology = standalone({ cluster: 'sealed' });
  const handle = await keyed.workflow.start(runbookWorkflow, {
    workflowId: 'haflow-trust-sealed',
    taskQueue: TASK_QUEUE,
    args: [{ runbook: inspectRunbook('sealed'), options: { context: { topology } } }],
  });
  const outcome = await within(handle.result(), 60_000, 'the run with the key');
  assert.equal(outcome.status, 'completed', JSON.stringify(outcome).slice(0, 400));
  assert.deepEqual(inspected.get('sealed'), topology);
});

/** One step of the `inspect` activity, with the run's topology. */
function inspectRunbook(cluster: string): Runbook<string> {
  return { name: 'inspect', cluster, items: [{ id: 'inspect.topology', title: 'look at the topology', kind: 'verify', activity: 'inspect', input: {} }] };
}

for (const [what, forged, field] of [
  ['shell code in a host address (the schema)', (t: Topology) => ({ ...t, hosts: [{ ...t.hosts[0], address: '10.0.0.11;reboot' }, ...t.hosts.slice(1)] }), /hosts\[0\]\.address: must be an IPv4 address or a DNS name/],
  ['a fault driver with a quoted placeholder (the schema)', (t: Topology) => ({ ...t, faults: { power_off: "ipmitool -H '{host}' power off" } }), /faults\.power_off: has a placeholder inside quotes/],
  ['a second host of the same name (the checks beyond the schema)', (t: Topology) => ({ ...t, hosts: [...t.hosts, { ...t.hosts[0], address: '10.0.0.99' }] }), /hosts\[\d+\]\.name: host name \S+ is already used by hosts\[0\]/],
] as const) {
  test(`an activity handed an invalid topology does not run: ${what} blocks the step as InvalidInput, naming the field`, async () => {
    const cluster = `forged-${what.length}`;
    const topology = forged(standalone({ cluster }));
    const keyed = new Client({ connection: env.client.connection, dataConverter: haflowDataConverter(keys) });
    const handle = await keyed.workflow.start(runbookWorkflow, {
      workflowId: `haflow-${cluster}`,
      taskQueue: TASK_QUEUE,
      args: [{ runbook: inspectRunbook(cluster), options: { context: { topology } } }],
    });
    try {
      const result = await within(followRun(handle, () => {}, { pollIntervalMs: 100 }), 60_000, 'the run with a forged topology');
      assert.equal(result.status, 'blocked', JSON.stringify(result).slice(0, 400));
      const error = result.status === 'blocked' ? result.step.error : undefined;
      assert.equal(error?.type, 'InvalidInput');
      assert.match(error?.message ?? '', /activity inspect did not run: the topology is invalid/);
      assert.match(error?.message ?? '', field);
      assert.equal(result.status === 'blocked' && result.step.runs, 1, 'not retried: the same input cannot get better');
      assert.equal(inspected.has(cluster), false, 'the activity itself never ran');
    } finally {
      await handle.terminate('test over').catch(() => undefined);
    }
  });
}

test('`haflow worker` starts without a key (encryption is optional)', async () => {
  const child = spawn(process.execPath, [join(root, 'bin/haflow.js'), 'worker'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default' },
  });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  child.stdout.on('data', (d) => (err += d));
  try {
    await waitUntil('the worker to say it polls', async () => err, (text) => /haflow worker polling task queue haflow/.test(text) || child.exitCode !== null, 90_000);
    assert.match(err, /haflow worker polling task queue haflow/, err);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
  }
});

test('`haflow worker` refuses, before it connects, to pass the codec key on to commands', async () => {
  const child = spawn(process.execPath, [join(root, 'bin/haflow.js'), 'worker'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TEMPORAL_ADDRESS: '127.0.0.1:1', HAFLOW_COMMAND_ENV: 'IPMI_PASSWORD,HAFLOW_CODEC_KEY' },
  });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((resolve) => child.once('exit', resolve));
  assert.equal(code, 1, err);
  assert.match(err, /HAFLOW_COMMAND_ENV names HAFLOW_CODEC_KEY: the codec keys, the codec server's token and Temporal's credentials are never passed to a command; remove it from HAFLOW_COMMAND_ENV/);
});
