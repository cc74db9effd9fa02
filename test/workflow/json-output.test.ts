// Every command that takes --json prints the JSON alone on standard output, whole, so that
// `haflow … --json | jq` works: the CLI runs as an operator runs it (bin/haflow.js, its own
// process) against a real Temporal dev server, with a worker whose host-side activities are
// faked (a healthy two-node cluster, a drill's and a switchover's steps, the monitor's watch);
// what it says while it works goes to standard error.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { stringify } from 'yaml';
import { clusterHealth, type ClusterHealth } from '../../activities/cluster/health';
import type { WatchResult } from '../../activities/app/watch';
import { TASK_QUEUE } from '../../connection/temporal';
import { loadTopology, type Topology } from '../../topology';
import { fakeDrill, fakeDrillActivities } from '../support/fake-drill';
import { startDevServer, workflowBundle } from '../support/temporal';
import { haflowProcess } from '../support/cli-process';

let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
const scratch = mkdtempSync(join(tmpdir(), 'haflow-json-'));
const labFile = join(__dirname, '../../lab/topologies/standalone.yaml');
const { topology: lab } = loadTopology(labFile);
const topology: Topology = { ...lab, cluster: 'json-out' };
const topologyFile = join(scratch, 'json-out.yaml');

/** A healthy cluster: node1 leads, node2 streams; both PostgreSQL 15.20, started an hour ago. */
function healthy(t: Topology): ClusterHealth {
  const started = new Date(Date.now() - 3_600_000).toISOString();
  return clusterHealth(
    t,
    {
      nodes: [
        { host: 'node1', role: 'primary', state: 'running', timeline: 1, replication: [{ name: 'node2', state: 'streaming', syncState: 'async' }], postmasterStart: started, serverVersion: 150020 },
        { host: 'node2', role: 'replica', state: 'running', timeline: 1, postmasterStart: started, serverVersion: 150020 },
      ],
      members: [
        { name: 'node1', host: '127.0.0.12', role: 'leader', state: 'running', timeline: 1 },
        { name: 'node2', host: '127.0.0.13', role: 'replica', state: 'streaming', timeline: 1, lag: 0 },
      ],
      membersFrom: 'node1',
      etcd: [{ host: 'observer', healthy: true }],
      haproxy: [{ host: 'observer', endpoint: '127.0.0.11:5000', servers: [{ name: 'node1', status: 'UP' }, { name: 'node2', status: 'DOWN' }] }],
    },
    new Date(),
  );
}

before(async () => {
  env = await startDevServer();
  writeFileSync(topologyFile, stringify(JSON.parse(JSON.stringify(topology))));
  const drill = fakeDrill();
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowBundle: await workflowBundle(),
    activities: {
      ...fakeDrillActivities(drill),
      readClusterHealth: async (input: { topology: Topology }) => healthy(input.topology),
      // A scheduled run's gate: no other operation holds the cluster.
      runningClusterOperation: async () => undefined,
      // The monitor's watch: all well until its period ends.
      watchAppHealth: async (input: { watchSeconds: number }): Promise<WatchResult> => {
        await new Promise((resolve) => setTimeout(resolve, Math.min(input.watchSeconds, 5) * 1000));
        return { outcome: 'watched', state: { master: 'node1', checks: 1, consecutiveFailures: 0, lastResult: 'HTTP 200' } } as WatchResult;
      },
    },
  });
  running = worker.run();
});

after(async () => {
  worker?.shutdown();
  await running?.catch(() => undefined);
  await env?.teardown();
  rmSync(scratch, { recursive: true, force: true });
});

const haflow = (...args: string[]) => haflowProcess(env.address, scratch, ...args);

/** The command's standard output parsed whole as JSON (the assertion names the command and shows what was there). */
async function json(...args: string[]): Promise<{ value: unknown; stderr: string; code: number | null }> {
  const run = await haflow(...args);
  let value: unknown;
  assert.doesNotThrow(() => (value = JSON.parse(run.stdout)), `haflow ${args.join(' ')}: standard output is not JSON alone:\n${run.stdout}\n--- stderr:\n${run.stderr}`);
  return { value, stderr: run.stderr, code: run.code };
}

test('list --json', async () => {
  const { value, code } = await json('list', topologyFile, '--json');
  assert.equal(code, 0);
  assert.equal((value as ClusterHealth).leader, 'node1');
});

test('drill --json: the report alone on stdout, the run\'s progress on stderr', async () => {
  const { value, stderr } = await json('drill', topologyFile, '--fault', 'kill-postgres', '--json');
  assert.equal((value as { kind: string; fault: string }).fault, 'kill-postgres');
  assert.match(stderr, /started drill kill-postgres on cluster json-out/);
});

test('switchover --json', async () => {
  const { value } = await json('switchover', topologyFile, '--json');
  assert.equal((value as { kind: string }).kind, 'switchover');
});

test('restart --json', async () => {
  const { value, stderr } = await json('restart', topologyFile, '--json');
  assert.equal((value as { kind: string }).kind, 'restart');
  assert.match(stderr, /started the rolling restart of cluster json-out/);
});

test('reports --json: the stored reports of the runs above', async () => {
  const { value } = await json('reports', 'json-out', '--json');
  assert.ok(Array.isArray(value) && value.length >= 2, JSON.stringify(value));
});

test('schedule create, list, describe and trigger --wait with --json', async () => {
  const created = await json('schedule', 'create', topologyFile, '--fault', 'switchover', '--every', '7d', '--paused', '--id', 'json-weekly', '--json');
  assert.equal((created.value as { id: string }).id, 'json-weekly');
  const listed = await json('schedule', 'list', 'json-out', '--json');
  assert.ok(Array.isArray(listed.value) && listed.value.length === 1);
  const described = await json('schedule', 'describe', 'json-weekly', '--json');
  assert.equal((described.value as { id: string }).id, 'json-weekly');
  const triggered = await json('schedule', 'trigger', 'json-weekly', '--wait', '--json');
  assert.ok(triggered.value && typeof triggered.value === 'object');
});

test('monitor status --json', async () => {
  assert.equal((await haflow('monitor', 'start', topologyFile)).code, 0);
  const { value } = await json('monitor', 'status', 'json-out', '--json');
  assert.equal((value as { master: string }).master, 'node1');
  assert.equal((await haflow('monitor', 'stop', 'json-out')).code, 0);
});
