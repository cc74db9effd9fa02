// Runs in flight survive an upgrade of haflow: histories recorded by earlier versions (committed
// in test/fixtures/) replay against the current workflow code. A change to what the runner
// does must be guarded with patched() (or it fails here); a change to a runbook's steps cannot
// affect a run at all, since the steps come in with the run's input.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow/lib/errors';
import { FIXTURES, recordInstallHistory, recordRunbookHistory, type History } from '../support/histories';
import { startDevServer, workflowBundle } from '../support/temporal';

let env: TestWorkflowEnvironment;
let freshRunbook: History;
let freshInstall: History;

before(async () => {
  env = await startDevServer();
  freshRunbook = await recordRunbookHistory(env);
  freshInstall = await recordInstallHistory(env);
});

after(async () => {
  await env?.teardown();
});

/** A committed history; its absence is a failure, never a reason to record one (that would pass by construction). */
function committed(file: string): History {
  assert.ok(existsSync(file), `${file} is missing: restore it from git; record new ones only on purpose (test/fixtures/record-histories.ts)`);
  return historyFromJSON(JSON.parse(readFileSync(file, 'utf8')));
}

test('freshly recorded histories (a block, a retry, completion) replay deterministically', async () => {
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, freshRunbook);
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, freshInstall);
});

for (const [name, file] of Object.entries(FIXTURES)) {
  test(`the ${name} history recorded by an earlier version replays against the current workflows`, async () => {
    const history = committed(file);
    assert.ok(history.events!.length > 20, 'the fixture holds a whole run');
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history);
  });
}

test('replay catches a change in step order (the checks above can fail)', async () => {
  const tampered = historyFromJSON(JSON.parse(historyToJSON(freshRunbook)));
  const started = tampered.events![0].workflowExecutionStartedEventAttributes!;
  const payload = started.input!.payloads![0];
  const input = JSON.parse(Buffer.from(payload.data!).toString());
  input.runbook.items.reverse();
  payload.data = Buffer.from(JSON.stringify(input));
  await assert.rejects(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, tampered), DeterminismViolationError);
});
