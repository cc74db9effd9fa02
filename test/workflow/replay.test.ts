// The runner is deterministic: recorded histories replay against the current code.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow/lib/errors';
import { runbookWorkflow } from '../../workflows';
import type { Progress } from '../../workflows/protocol';
import { fakeHosts, fakeStepActivities, sampleRunbook } from '../support/fake-steps';
import { startDevServer, waitUntil, workflowBundle } from '../support/temporal';

type History = Awaited<ReturnType<import('@temporalio/client').WorkflowHandle['fetchHistory']>>;

const FIXTURE = join(__dirname, '../fixtures/runbook-history.json');
let env: TestWorkflowEnvironment;
let recorded: History;

before(async () => {
  env = await startDevServer();
  // Record a run that blocks, is retried, and completes: every path of the runner's state machine.
  const hosts = fakeHosts();
  hosts.broken.add('haproxy.config@observer');
  const taskQueue = `replay-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: fakeStepActivities(hosts),
  });
  recorded = await worker.runUntil(async () => {
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
  if (process.env.HAFLOW_RECORD_HISTORY || !existsSync(FIXTURE)) {
    writeFileSync(FIXTURE, historyToJSON(recorded) + '\n');
  }
});

after(async () => {
  await env?.teardown();
});

test('a freshly recorded history with a block and a retry replays deterministically', async () => {
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, recorded);
});

test('the history recorded by an earlier version replays against the current runner', async () => {
  const history = historyFromJSON(JSON.parse(readFileSync(FIXTURE, 'utf8')));
  assert.ok(history.events!.length > 20, 'the fixture holds a whole run');
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history);
});

test('replay catches a change in step order (the check above can fail)', async () => {
  const tampered = historyFromJSON(JSON.parse(historyToJSON(recorded)));
  const started = tampered.events![0].workflowExecutionStartedEventAttributes!;
  const payload = started.input!.payloads![0];
  const input = JSON.parse(Buffer.from(payload.data!).toString());
  input.runbook.items.reverse();
  payload.data = Buffer.from(JSON.stringify(input));
  await assert.rejects(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, tampered),
    DeterminismViolationError,
  );
});
