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
import { completesDespite, type DurabilityFault } from '../support/durability';
import { labTopology, sshRun, useLab } from '../support/lab';
import { labSecrets, startInstall } from '../support/install';
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
  const faults: DurabilityFault[] = [
    { during: 'etcd.member@observer', what: 'kill worker' },
    { during: 'patroni.leader@node1', what: 'kill worker' },
    { during: 'db.config@node1', what: 'restart server' },
    { during: 'patroni.streaming@node2', what: 'kill worker' },
  ];
  await completesDespite(
    {
      server: () => env!,
      killWorker: async () => {
        await kill(worker);
        worker = await startWorker();
      },
      restartServer: async () => {
        await env!.teardown();
        env = await startDevServer({ dbFilename, port });
      },
    },
    workflowId,
    faults,
    420,
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
