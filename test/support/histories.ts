// Runs whose histories the replay tests keep: each blocks at a step, takes a retry and
// completes, so every path of the runner's state machine is in them. Used to record the
// committed fixtures (test/fixtures/record-histories.ts) and, fresh, by the replay test.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { decide, followRun, startInstall } from '../../client/api';
import { loadTopology } from '../../topology';
import { runbookWorkflow } from '../../workflows';
import type { Progress } from '../../workflows/protocol';
import { fakeCluster, fakeInstallActivities } from './fake-install';
import { fakeHosts, fakeStepActivities, sampleRunbook } from './fake-steps';
import { waitUntil, workflowBundle } from './temporal';

export type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

export const FIXTURES = {
  runbook: join(__dirname, '../fixtures/runbook-history.json'),
  install: join(__dirname, '../fixtures/install-history.json'),
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
