// The durability tests' loop: follow a run and, as soon as each named step has started, kill the
// worker (a new one takes over) or restart the Temporal server (its state kept in its file); the
// run must complete on its own, every interrupted activity retried by Temporal, none by an operator.
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Progress, RunbookOutcome } from '../../workflows/protocol';
import { describeProgress } from './install';

export type DurabilityFault = { during: string; what: 'kill worker' | 'restart server'; done?: boolean };

/** How the test strikes: its server (which changes on a restart), a worker killed and replaced, the server restarted. */
export interface DurabilityRig {
  server(): TestWorkflowEnvironment;
  killWorker(): Promise<void>;
  restartServer(): Promise<void>;
}

/** Follows the run, striking each fault as soon as its step has started; the run's outcome once it completed. */
export async function completesDespite(rig: DurabilityRig, workflowId: string, faults: DurabilityFault[], seconds: number): Promise<RunbookOutcome> {
  const deadline = Date.now() + seconds * 1000;
  let progress: Progress | undefined;
  while (Date.now() < deadline) {
    try {
      progress = await rig.server().client.workflow.getHandle(workflowId).query<Progress>('progress');
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200)); // no worker or server to answer yet
      continue;
    }
    if (progress.status !== 'running') break;
    for (const fault of faults.filter((f) => !f.done)) {
      // As soon as the step has started: a quick one may already be done when the poll sees it.
      const status = progress.steps.find((s) => s.id === fault.during)?.status;
      if (status !== 'running' && status !== 'done') continue;
      fault.done = true;
      await (fault.what === 'kill worker' ? rig.killWorker() : rig.restartServer());
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(progress?.status, 'completed', progress ? describeProgress(progress) : 'no progress');
  assert.deepEqual(faults.filter((f) => !f.done).map((f) => f.during), [], 'every fault was injected');
  const outcome = (await rig
    .server()
    .client.workflow.getHandle(workflowId)
    .result()
    .catch((err: Error & { cause?: Error & { cause?: Error } }) => {
      throw new Error(`${workflowId}: ${err.message}: ${err.cause?.message ?? ''} ${err.cause?.cause?.message ?? ''}`);
    })) as RunbookOutcome;
  assert.deepEqual(outcome.steps.filter((s) => s.status !== 'done').map((s) => s.id), []);
  assert.deepEqual(outcome.steps.filter((s) => s.runs > 1).map((s) => s.id), [], 'no step blocked: interrupted activities were retried by Temporal, not by an operator');
  return outcome;
}
