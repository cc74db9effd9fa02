// A run survives its worker: kill -9 the worker during a long step, start a new one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { runbookWorkflow } from '../../workflows';
import type { Runbook } from '../../runbooks/runbook';
import type { Progress } from '../../workflows/protocol';
import { step } from '../support/fake-steps';
import { startDevServer, waitUntil, workflowBundle } from '../support/temporal';

let env: TestWorkflowEnvironment;
let dir: string;
const children = new Set<ChildProcess>();

before(async () => {
  env = await startDevServer();
  dir = mkdtempSync(join(tmpdir(), 'haflow-crash-'));
  writeFileSync(join(dir, 'workflows.js'), (await workflowBundle()).code);
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await env?.teardown();
  rmSync(dir, { recursive: true, force: true });
});

async function startWorkerProcess(taskQueue: string, graceSeconds = 1): Promise<ChildProcess> {
  const script = join(__dirname, '../support/crash-worker.ts');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', script, env.address, 'default', taskQueue, join(dir, 'workflows.js'), dir, String(graceSeconds)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.add(child);
  child.on('exit', () => children.delete(child));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('worker ready') && resolve());
    child.on('exit', (code) => reject(new Error(`worker process exited with ${code} before it was ready`)));
  });
  return child;
}

const starts = (name: string): string[] => {
  const file = join(dir, `${name}.log`);
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
};

test('killing the worker during a long step and starting a new one finishes the run', async () => {
  const taskQueue = `crash-${randomUUID()}`;
  const runbook: Runbook<string> = {
    name: 'install',
    cluster: 'crash',
    items: [
      step('etcd.config@observer', 'writeFile'),
      { ...step('packages@node1', 'slowStep', { seconds: 3 }), heartbeatSeconds: 2 },
      step('haproxy.config@observer', 'writeFile'),
    ],
  };
  const first = await startWorkerProcess(taskQueue);
  const handle = await env.client.workflow.start(runbookWorkflow, {
    taskQueue,
    workflowId: `crash-${randomUUID()}`,
    args: [{ runbook, options: { maximumAttempts: 5 } }],
  });
  await waitUntil('the long step to be running on the first worker', async () => starts('packages@node1'), (s) => s.length === 1);
  first.kill('SIGKILL');
  await new Promise((resolve) => first.once('exit', resolve));

  const second = await startWorkerProcess(taskQueue);
  const outcome = await handle.result();
  assert.equal(outcome.status, 'completed');
  assert.deepEqual(
    outcome.steps.map((s) => s.status),
    ['done', 'done', 'done'],
  );
  const longStep = starts('packages@node1');
  assert.equal(longStep.length, 2, 'the interrupted step ran again');
  assert.equal(longStep[0], String(first.pid));
  assert.equal(longStep[1], String(second.pid), 'the new worker finished it');
  assert.deepEqual(starts('etcd.config@observer'), [String(first.pid)], 'a finished step is not run again');
  assert.deepEqual(starts('haproxy.config@observer'), [String(second.pid)]);
  const progress = await handle.query<Progress>('progress');
  assert.equal(progress.status, 'completed');
  second.kill('SIGTERM');
});

test('SIGTERM lets the running step finish within the grace time, and a new worker carries on', async () => {
  const taskQueue = `grace-${randomUUID()}`;
  const runbook: Runbook<string> = {
    name: 'install',
    cluster: 'grace',
    items: [
      { ...step('patroni.wait-leader@node1', 'slowStep', { seconds: 2 }), heartbeatSeconds: 5 },
      step('haproxy.reload@observer', 'writeFile'),
    ],
  };
  const first = await startWorkerProcess(taskQueue, 20);
  const output: string[] = [];
  first.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const handle = await env.client.workflow.start(runbookWorkflow, {
    taskQueue,
    workflowId: `grace-${randomUUID()}`,
    args: [{ runbook }],
  });
  await waitUntil('the long step to be running', async () => starts('patroni.wait-leader@node1'), (s) => s.length === 1);
  first.kill('SIGTERM');
  const exitCode = await new Promise((resolve) => first.once('exit', resolve));
  assert.equal(exitCode, 0, 'the worker stops cleanly');
  assert.match(output.join(''), /worker stopped/);

  await startWorkerProcess(taskQueue);
  const outcome = await handle.result();
  assert.equal(outcome.status, 'completed');
  assert.deepEqual(starts('patroni.wait-leader@node1'), [String(first.pid)], 'the step was finished by the stopping worker, not re-run');
  assert.equal(outcome.steps[0].summary, `patroni.wait-leader@node1 finished in process ${first.pid}`);
});
