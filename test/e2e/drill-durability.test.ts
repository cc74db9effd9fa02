// A drill survives its worker: the `haflow worker` process is killed with SIGKILL while the
// fault is in place and the probe is measuring; a new worker carries the drill on (the probe
// from its last heartbeat), heals the fault, and the cluster ends healthy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRunbook } from '../../client/api';
import type { MeasuredOutcome } from '../../workflows/measured';
import type { Progress } from '../../workflows/protocol';
import { waitHealthy } from '../support/cluster';
import { completedOrBlocked, describeProgress, labSecrets, startInstall } from '../support/install';
import { labTopology, useLab } from '../support/lab';
import { longTest } from '../support/long';
import { useServerWithWorkerProcesses } from '../support/worker-process';

labSecrets();
const currentLab = useLab(labTopology('standalone'));
const { env: server, workers } = useServerWithWorkerProcesses();

test('kill -9 of the worker while a crashed leader is being measured: a new worker finishes the drill, heals, and the cluster is healthy', longTest(), async () => {
  const lab = currentLab();
  let worker = await workers.start();
  assert.equal((await completedOrBlocked(await startInstall(server(), lab.topology))).status, 'completed');
  const before = await waitHealthy(lab);

  const handle = await startRunbook(server().client, 'drill', lab.topology, { fault: 'crash-leader', leader: before.leader! });
  const deadline = Date.now() + 200_000;
  let killed = false;
  let progress: Progress | undefined;
  while (Date.now() < deadline) {
    progress = await handle.query<Progress>('progress').catch(() => progress);
    if (!progress || progress.status !== 'running') {
      if (progress?.status === 'blocked' || progress?.status === 'aborted') break;
      if (!progress) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        continue;
      }
    }
    if (!killed && progress.steps.find((s) => s.id === 'failover.recovered')?.status === 'running') {
      await workers.kill(worker);
      killed = true;
      worker = await workers.start();
    }
    if ((await handle.describe()).status.name !== 'RUNNING') break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.ok(killed, `the worker was killed mid-drill${progress ? `:\n${describeProgress(progress)}` : ''}`);
  // Fails at once, naming the step, if the drill blocks (a blocked drill waits for an operator).
  const outcome = (await completedOrBlocked(handle)) as MeasuredOutcome;
  assert.equal(outcome.status, 'completed');
  assert.deepEqual(outcome.steps.filter((s) => s.status !== 'done').map((s) => s.id), []);
  assert.ok(outcome.report, 'the drill reported');
  assert.equal(outcome.report.figures.lostWrites, 0);
  assert.ok(outcome.report.probe.interruptions.length >= 1, 'the probe says when it was interrupted');
  assert.equal(currentLab().status().every((m) => m.state === 'running'), true, 'the old leader was powered on');
  const after = await waitHealthy(lab);
  assert.notEqual(after.leader, before.leader);
  await workers.kill(worker);
});
