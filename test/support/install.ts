// An install on the lab with a real dev server and a real worker running haflow's activities.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import * as activities from '../../activities';
import { TASK_QUEUE } from '../../connection/temporal';
import { LAB_SECRET_VARIABLES } from '../../lab/paths';
import type { Topology } from '../../topology';
import { followRun } from '../../client/api';
import { runbookFor } from '../../client/runbooks';
import { installWorkflow } from '../../workflows';
import { clusterWorkflowId } from '../../connection/workflow-ids';
import type { Progress, RunbookOutcome } from '../../workflows/protocol';
import { startDevServer, workflowBundle } from './temporal';

/** The lab topologies name these variables; the worker reads them when an activity needs a password. */
export function labSecrets(): void {
  for (const name of LAB_SECRET_VARIABLES) {
    process.env[name] ??= `lab-${randomBytes(9).toString('base64url')}`;
  }
}

/** A worker with haflow's real activities; `overrides` wraps some of them to inject a fault. */
export async function haflowWorker(env: TestWorkflowEnvironment, overrides: Partial<typeof activities> = {}): Promise<Worker> {
  return Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowBundle: await workflowBundle(),
    activities: { ...activities, ...overrides },
  });
}

/** Polls the install's progress until `done` holds (bounded), returning what it saw. */
export async function waitForProgress(handle: WorkflowHandle, what: string, done: (p: Progress) => boolean, timeoutMs = 180_000): Promise<Progress> {
  const deadline = Date.now() + timeoutMs;
  let last: Progress | undefined;
  while (Date.now() < deadline) {
    last = await handle.query<Progress>('progress');
    if (done(last)) return last;
    if (last.status === 'completed' || last.status === 'aborted') break; // it will never happen now
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new Error(`timed out waiting for ${what}:\n${last ? describeProgress(last) : 'no progress'}`);
}

export async function startInstall(env: TestWorkflowEnvironment, topology: Topology, options: { check?: boolean; taskQueue?: string } = {}) {
  // A run left blocked by a failed test must not hold the cluster for the next test.
  await env.client.workflow.getHandle(clusterWorkflowId(topology.cluster)).terminate('a new test starts').catch(() => undefined);
  return env.client.workflow.start(installWorkflow, {
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    workflowId: options.check ? `${clusterWorkflowId(topology.cluster)}-check-${randomBytes(3).toString('hex')}` : clusterWorkflowId(topology.cluster),
    args: [{ runbook: runbookFor('install', topology, undefined), topology, check: options.check }],
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
  });
}

/** The run's outcome, or an error naming the step as soon as one blocks (a blocked run would wait forever). */
export async function completedOrBlocked(handle: WorkflowHandle): Promise<RunbookOutcome> {
  const result = await followRun(handle, () => undefined);
  if (result.status !== 'completed') throw new Error(`the run did not complete: ${JSON.stringify(result.status === 'blocked' ? { blocked: result.step.id, error: result.step.error } : result.error)}`);
  return result.outcome;
}

export function describeProgress(progress: Progress): string {
  return progress.steps.map((s) => `${s.status.padEnd(8)} ${s.id}${s.summary ? `: ${s.summary}` : ''}${s.error ? ` ERROR ${s.error.type}: ${s.error.message}` : ''}`).join('\n');
}

/** Every step done, and a second install changed nothing: the checks every layout must pass. */
export async function installTwice(env: TestWorkflowEnvironment, topology: Topology): Promise<{ first: RunbookOutcome; second: RunbookOutcome }> {
  const first = await completedOrBlocked(await startInstall(env, topology));
  const notDone = first.steps.filter((s) => s.status !== 'done').map((s) => s.id);
  if (first.status !== 'completed' || notDone.length > 0) throw new Error(`install did not complete: ${notDone.join(', ')}`);
  const second = await completedOrBlocked(await startInstall(env, topology));
  return { first, second };
}

/**
 * A dev server and a worker with haflow's activities (some wrapped by `overrides` to inject
 * a fault) for a test file's installs; both stop after the file's tests.
 */
export function useInstallEnvironment(overrides: Partial<typeof activities> = {}): () => TestWorkflowEnvironment {
  let env: TestWorkflowEnvironment | undefined;
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  before(async () => {
    env = await startDevServer();
    worker = await haflowWorker(env, overrides);
    running = worker.run();
  });
  after(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
  });
  return () => {
    if (!env) throw new Error('the dev server is not up');
    return env;
  };
}

/** Runs the `haflow` CLI as an operator would, against the test's dev server. */
export function haflowCli(env: TestWorkflowEnvironment, ...args: string[]): Promise<{ code: number | null; out: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(__dirname, '../../bin/haflow.js'), ...args], {
      env: { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('exit', (code) => resolve({ code, out, stdout }));
  });
}
