// A wait stops when its activity is cancelled (a worker shutting down cancels its activities once
// its grace time is over), so the worker can exit and another one runs the step's next attempt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { waitFor } from '../../activities/shared/step';

test('waitFor ends at the next check once the activity is cancelled, not at its own time limit', async () => {
  const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 600_000 }, { logger: new DefaultLogger('ERROR') });
  const started = Date.now();
  setTimeout(() => env.cancel('WORKER_SHUTDOWN'), 300);
  await assert.rejects(
    env.run(() => waitFor('something that never happens', async () => ({ notYet: 'not yet' }), { timeoutMs: 60_000, intervalMs: 200 })),
    (err: unknown) => err instanceof CancelledFailure,
  );
  assert.ok(Date.now() - started < 2_000, `stopped after ${Date.now() - started} ms`);
});

test('and does not wait for a probe that hangs (a host that does not answer)', async () => {
  const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 600_000 }, { logger: new DefaultLogger('ERROR') });
  const started = Date.now();
  setTimeout(() => env.cancel('WORKER_SHUTDOWN'), 300);
  const hanging = () => new Promise<{ notYet: string }>((resolve) => setTimeout(() => resolve({ notYet: 'late' }), 10_000).unref());
  await assert.rejects(
    env.run(() => waitFor('a host that hangs', hanging, { timeoutMs: 60_000 })),
    (err: unknown) => err instanceof CancelledFailure,
  );
  assert.ok(Date.now() - started < 2_000, `stopped after ${Date.now() - started} ms`);
});
