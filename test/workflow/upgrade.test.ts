// An install blocked at a step waits for days; meanwhile haflow is upgraded. The run must
// resume on the new worker with the steps it started with (the plan the operator saw), even
// when the new version's install runbook differs. The new worker's bundle is built with a
// different install runbook swapped in, so if workflow code ever computed the steps again,
// replaying the blocked run there would fail with a nondeterminism error.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import webpack from 'webpack';
import { decide, followRun, startInstall } from '../../client/api';
import { loadTopology } from '../../topology';
import { installSteps } from '../../runbooks/install';
import { flattenSteps } from '../../runbooks/runbook';
import { fakeCluster, fakeInstallActivities } from '../support/fake-install';
import { startDevServer, workflowBundle } from '../support/temporal';
import { installStepsOfANewerVersion } from '../fixtures/install-steps-newer';

let env: TestWorkflowEnvironment;

before(async () => {
  env = await startDevServer();
});

after(async () => {
  await env?.teardown();
});

/** The workflows of "the next version": the same code, with a different install runbook. */
function newerBundle() {
  return bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    logger: new DefaultLogger('WARN'),
    webpackConfigHook: (config) => {
      config.plugins = [
        ...(config.plugins ?? []),
        // Every import of the install runbook, except the newer one's own import of it.
        new webpack.NormalModuleReplacementPlugin(/runbooks[\\/]install(\.ts)?$/, (resource: { context: string; request: string }) => {
          if (!resource.context.includes('fixtures')) resource.request = join(__dirname, '../fixtures/install-steps-newer.ts');
        }),
      ];
      return config;
    },
  });
}

test('a blocked install resumes on an upgraded worker whose install runbook differs, and completes with the steps it started with', async () => {
  const { topology } = loadTopology(join(__dirname, '../../lab/topologies/standalone.yaml'));
  const cluster = { ...topology, cluster: 'upgrade' };
  const planned = flattenSteps(installSteps(cluster)).map((s) => s.id);
  const newer = flattenSteps(installStepsOfANewerVersion(cluster)).map((s) => s.id);
  assert.notDeepEqual(newer, planned, 'the newer version really has other steps');

  const machines = fakeCluster();
  machines.broken.set('configureHaproxy@observer', { type: 'InvalidConfig', message: "haproxy -c: unknown keyword 'bogus'" });
  const taskQueue = 'upgrade';
  const before = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities: fakeInstallActivities(() => machines) });
  const handle = await startInstall(env.client, cluster, { taskQueue });
  const blocked = await before.runUntil(followRun(handle, () => undefined));
  assert.equal(blocked.status, 'blocked');

  // The old worker is gone; the new one has the newer workflows (and the same activities).
  machines.broken.clear();
  const after = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await newerBundle(), activities: fakeInstallActivities(() => machines) });
  const outcome = await after.runUntil(async () => {
    await decide(env.client, 'upgrade', 'haproxy.config@observer', 'retry');
    return handle.result();
  });
  assert.equal(outcome.status, 'completed');
  assert.deepEqual(outcome.steps.map((s) => s.id), planned, 'the run kept the steps it started with');
  assert.ok(outcome.steps.every((s) => s.status === 'done'));
  assert.deepEqual(
    machines.calls.filter((c) => !c.check).map((c) => c.key).filter((k) => k === 'configureHaproxy@observer').length,
    2,
    'the blocked step ran once before the upgrade and once after',
  );
});
