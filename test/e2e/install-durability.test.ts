// An install survives its worker and its server: `haflow worker` processes are killed with
// SIGKILL at three points (during long activities) and replaced, and the dev server is
// restarted on the same SQLite file mid-install. The install completes with the same end state.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Progress, RunbookOutcome } from '../../workflows/protocol';
import { labTopology, sshRun, useLab } from '../support/lab';
import { describeProgress, labSecrets, startInstall } from '../support/install';
import { startDevServer } from '../support/temporal';
import { freePort, workerProcesses } from '../support/worker-process';

labSecrets();
const currentLab = useLab(labTopology('standalone'));
const dir = mkdtempSync(join(tmpdir(), 'haflow-durability-'));
const dbFilename = join(dir, 'temporal.sqlite');
let port: number;
let env: TestWorkflowEnvironment | undefined;

const workers = workerProcesses(() => `127.0.0.1:${port}`);
const startWorker = () => workers.start();
const kill = (child: ChildProcess) => workers.kill(child);

before(async () => {
  port = await freePort();
  env = await startDevServer({ dbFilename, port });
});

after(async () => {
  await workers.killAll();
  await env?.teardown();
  rmSync(dir, { recursive: true, force: true });
});

test('kill -9 of the worker at three points and a restart of the server mid-install: the install completes', async () => {
  const lab = currentLab();
  let worker = await startWorker();
  const handle = await startInstall(env!, lab.topology);
  const workflowId = handle.workflowId;
  type Fault = { during: string; what: 'kill worker' | 'restart server'; done?: boolean };
  const faults: Fault[] = [
    { during: 'etcd.member@observer', what: 'kill worker' },
    { during: 'patroni.leader@node1', what: 'kill worker' },
    { during: 'db.config@node1', what: 'restart server' },
    { during: 'patroni.streaming@node2', what: 'kill worker' },
  ];
  const deadline = Date.now() + 420_000;
  let progress: Progress | undefined;
  while (Date.now() < deadline) {
    try {
      progress = await env!.client.workflow.getHandle(workflowId).query<Progress>('progress');
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200)); // no worker to answer yet
      continue;
    }
    if (progress.status !== 'running') break;
    for (const fault of faults.filter((f) => !f.done)) {
      // As soon as the step has started: a quick one may already be done when the poll sees it.
      const status = progress.steps.find((s) => s.id === fault.during)?.status;
      if (status !== 'running' && status !== 'done') continue;
      fault.done = true;
      if (fault.what === 'kill worker') {
        await kill(worker);
        worker = await startWorker();
      } else {
        await env!.teardown();
        env = await startDevServer({ dbFilename, port });
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(progress?.status, 'completed', progress ? describeProgress(progress) : 'no progress');
  assert.deepEqual(faults.filter((f) => !f.done).map((f) => f.during), [], 'every fault was injected');
  const outcome = (await env!.client.workflow.getHandle(workflowId).result()) as RunbookOutcome;
  assert.deepEqual(outcome.steps.filter((s) => s.status !== 'done').map((s) => s.id), []);
  assert.deepEqual(
    outcome.steps.filter((s) => s.runs > 1).map((s) => s.id),
    [],
    'no step blocked: interrupted activities were retried by Temporal, not by an operator',
  );

  // Same end state as an undisturbed install.
  const list = await sshRun(lab, 'node1', 'patronictl -c /etc/patroni/config.yml list -f json', { sudo: true });
  const members = JSON.parse(list.stdout) as { Member: string; Role: string; State: string }[];
  assert.deepEqual(members.map((m) => [m.Member, m.Role]).sort(), [['node1', 'Leader'], ['node2', 'Replica']]);
  const history = await env!.client.workflow.getHandle(workflowId).fetchHistory();
  const retried = history.events!.filter((e) => e.activityTaskStartedEventAttributes && (e.activityTaskStartedEventAttributes.attempt ?? 1) > 1);
  assert.ok(retried.length >= 1, 'at least one activity was interrupted mid-run and retried on a new worker');
  await workers.killAll();
});
