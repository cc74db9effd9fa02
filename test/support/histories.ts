// Runs whose histories the replay tests keep: each blocks at a step, takes a retry and
// completes, so every path of the runner's state machine is in them. Used to record the
// committed fixtures (test/fixtures/record-histories.ts) and, fresh, by the replay test.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { decide, followRun, startInstall, startRunbook } from '../../client/api';
import { loadTopology } from '../../topology';
import { runbookWorkflow } from '../../workflows';
import type { Progress } from '../../workflows/protocol';
import { fakeDrill, fakeDrillActivities } from './fake-drill';
import { fakeCluster, fakeInstallActivities } from './fake-install';
import { fakeHosts, fakeStepActivities, sampleRunbook } from './fake-steps';
import { waitUntil, workflowBundle } from './temporal';

export type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

export const FIXTURES = {
  runbook: join(__dirname, '../fixtures/runbook-history.json'),
  install: join(__dirname, '../fixtures/install-history.json'),
  drill: join(__dirname, '../fixtures/drill-history.json'),
  switchover: join(__dirname, '../fixtures/switchover-history.json'),
  restart: join(__dirname, '../fixtures/restart-history.json'),
};

export type FixtureName = keyof typeof FIXTURES;

const standaloneLab = () => loadTopology(join(__dirname, '../../lab/topologies/standalone.yaml')).topology;

/**
 * A runbook with the failover measurement beside it (drill, switchover, restart), started by the
 * client API on the standalone lab topology over fake failover activities: the step after the
 * strike blocks once, is retried, and the run completes with its report.
 */
async function recordMeasuredHistory(env: TestWorkflowEnvironment, name: 'drill' | 'switchover' | 'restart', blocking: { activity: string; step: string }): Promise<History> {
  const drill = fakeDrill();
  drill.broken.add(blocking.activity);
  const taskQueue = `replay-${randomUUID()}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities: fakeDrillActivities(drill) });
  const topology = { ...standaloneLab(), cluster: `replay-${randomUUID().slice(0, 8)}` };
  const args =
    name === 'drill'
      ? { fault: 'crash-leader' as const, leader: 'node1' }
      : name === 'switchover'
        ? { leader: 'node1', candidate: 'node2', coordinated: true }
        : { leader: 'node1', candidate: 'node2', plannedStarts: { node1: '2026-01-01 00:00:00.000+00:00', node2: '2026-01-01 00:00:00.000+00:00' } };
  return worker.runUntil(async () => {
    const handle = await startRunbook(env.client, name, topology, args as never, { taskQueue });
    await followRun(handle, () => undefined);
    drill.broken.clear();
    await decide(env.client, topology.cluster, blocking.step, 'retry');
    await handle.result();
    return handle.fetchHistory();
  });
}

/** A crash-leader drill whose recovery step blocks once. */
export const recordDrillHistory = (env: TestWorkflowEnvironment) => recordMeasuredHistory(env, 'drill', { activity: 'awaitRecovery', step: 'failover.recovered' });
/** A coordinated switchover whose rejoin step blocks once. */
export const recordSwitchoverHistory = (env: TestWorkflowEnvironment) => recordMeasuredHistory(env, 'switchover', { activity: 'replicaRejoined', step: 'patroni.rejoined@node1' });
/** A rolling restart whose leader's rejoin blocks once. */
export const recordRestartHistory = (env: TestWorkflowEnvironment) => recordMeasuredHistory(env, 'restart', { activity: 'replicaRejoined', step: 'patroni.rejoined@node1' });

/** Every fixture's recorder. */
export const RECORDERS: Record<FixtureName, (env: TestWorkflowEnvironment) => Promise<History>> = {
  runbook: (env) => recordRunbookHistory(env),
  install: (env) => recordInstallHistory(env),
  drill: recordDrillHistory,
  switchover: recordSwitchoverHistory,
  restart: recordRestartHistory,
};

/** runbookWorkflow over the sample runbook: a write step blocks, is retried, and the run completes. */
export async function recordRunbookHistory(env: TestWorkflowEnvironment): Promise<History> {
  const hosts = fakeHosts();
  hosts.broken.add('haproxy.config@observer');
  const taskQueue = `replay-${randomUUID()}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities: fakeStepActivities(hosts) });
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start(runbookWorkflow, {
      taskQueue,
      workflowId: `replay-${randomUUID()}`,
      args: [{ runbook: sampleRunbook('replay'), options: { maximumAttempts: 1 } }],
    });
    await waitUntil('blocked', () => handle.query<Progress>('progress'), (p) => p.status === 'blocked');
    hosts.broken.delete('haproxy.config@observer');
    await handle.executeUpdate('decide', { args: [{ stepId: 'haproxy.config@observer', decision: 'retry' }] });
    await handle.result();
    return handle.fetchHistory();
  });
}

/** installWorkflow, started by the client API on the standalone lab topology: HAProxy's step blocks, is retried, and the install completes. */
export async function recordInstallHistory(env: TestWorkflowEnvironment): Promise<History> {
  const cluster = fakeCluster();
  cluster.broken.set('configureHaproxy@observer', { type: 'InvalidConfig', message: "haproxy -c: unknown keyword 'bogus'" });
  const taskQueue = `replay-${randomUUID()}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities: fakeInstallActivities(() => cluster) });
  const { topology } = loadTopology(join(__dirname, '../../lab/topologies/standalone.yaml'));
  return worker.runUntil(async () => {
    const handle = await startInstall(env.client, { ...topology, cluster: `replay-${randomUUID().slice(0, 8)}` }, { taskQueue });
    await followRun(handle, () => undefined);
    cluster.broken.clear();
    await decide(env.client, handle.workflowId.replace(/^haflow-/, ''), 'haproxy.config@observer', 'retry');
    await handle.result();
    return handle.fetchHistory();
  });
}
