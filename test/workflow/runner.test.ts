// The step runner on a real Temporal dev server with a real worker.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { runbookWorkflow } from '../../workflows';
import type { Runbook } from '../../runbooks/runbook';
import type { Progress, StepState } from '../../workflows/protocol';
import { fakeHosts, fakeStepActivities, sampleRunbook, step, type FakeHosts, type Span } from '../support/fake-steps';
import { startDevServer, waitUntil, workflowBundle } from '../support/temporal';

let env: TestWorkflowEnvironment;

before(async () => {
  env = await startDevServer();
});

after(async () => {
  await env?.teardown();
});

/** Starts a worker with fake step activities and runs `body` while it polls. */
async function withWorker<T>(hosts: FakeHosts, body: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `runner-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: fakeStepActivities(hosts),
  });
  return worker.runUntil(body(taskQueue));
}

function start(taskQueue: string, runbook: Runbook<string>): Promise<WorkflowHandle<typeof runbookWorkflow>> {
  return env.client.workflow.start(runbookWorkflow, {
    taskQueue,
    workflowId: `${runbook.cluster}-${randomUUID()}`,
    // One attempt per run keeps the tests quick: a failed step blocks at once.
    args: [{ runbook, options: { maximumAttempts: 1 } }],
  });
}

const progressOf = (handle: WorkflowHandle) => () => handle.query<Progress>('progress');
const stepOf = (p: Progress, id: string): StepState => p.steps.find((s) => s.id === id)!;
const blockedAt = (id: string) => (p: Progress) => stepOf(p, id).status === 'blocked';

describe('step runner', () => {
  test('runs every step in order and reports what changed', async () => {
    const hosts = fakeHosts();
    await withWorker(hosts, async (tq) => {
      const handle = await start(tq, sampleRunbook('clean'));
      const outcome = await handle.result();
      assert.equal(outcome.status, 'completed');
      assert.deepEqual(
        outcome.steps.map((s) => [s.id, s.status]),
        [
          ['preflight@node1', 'done'],
          ['preflight@node2', 'done'],
          ['haproxy.config@observer', 'done'],
          ['patroni.replica-inactive@node2', 'done'],
          ['patroni.start@node2', 'done'],
        ],
      );
      assert.equal(outcome.changed, 2);
      assert.equal(outcome.unchanged, 2, 'the two preflight steps (change steps here) changed nothing');
      assert.equal(outcome.passed, 1, 'the guard passed');
      assert.equal(hosts.maxInside, 2, 'both preflight steps of the group ran at the same time');
    });
  });

  test('a failing step blocks the run; progress shows the error; retry re-runs it and the run completes', async () => {
    const hosts = fakeHosts();
    hosts.broken.add('haproxy.config@observer');
    await withWorker(hosts, async (tq) => {
      const handle = await start(tq, sampleRunbook('retry'));
      const blocked = await waitUntil('haproxy step blocked', progressOf(handle), blockedAt('haproxy.config@observer'));
      assert.equal(blocked.status, 'blocked');
      const state = stepOf(blocked, 'haproxy.config@observer');
      assert.match(state.error!.message, /unknown keyword 'bogus'/);
      assert.equal(stepOf(blocked, 'patroni.start@node2').status, 'pending', 'later steps wait');

      const details = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
      assert.match(details.currentDetails ?? '', /BLOCKED haproxy.config@observer/);

      hosts.broken.delete('haproxy.config@observer'); // the operator fixes the host
      const afterDecision = await handle.executeUpdate('decide', { args: [{ stepId: 'haproxy.config@observer', decision: 'retry' }] });
      assert.equal((afterDecision as StepState).id, 'haproxy.config@observer');
      const outcome = await handle.result();
      assert.equal(outcome.status, 'completed');
      assert.equal(hosts.calls.get('haproxy.config@observer'), 2, 'the step ran again after retry');
      const final = stepOf(await handle.query<Progress>('progress'), 'haproxy.config@observer');
      assert.equal(final.status, 'done');
      assert.equal(final.runs, 2);
    });
  });

  test('skip marks the blocked step skipped and moves on to the next', async () => {
    const hosts = fakeHosts();
    hosts.broken.add('haproxy.config@observer');
    await withWorker(hosts, async (tq) => {
      const handle = await start(tq, sampleRunbook('skip'));
      await waitUntil('haproxy step blocked', progressOf(handle), blockedAt('haproxy.config@observer'));
      await handle.executeUpdate('decide', {
        args: [{ stepId: 'haproxy.config@observer', decision: 'skip', reason: 'config managed by hand' }],
      });
      const outcome = await handle.result();
      assert.deepEqual(outcome.skipped, ['haproxy.config@observer']);
      assert.equal(stepOf({ steps: outcome.steps } as Progress, 'patroni.start@node2').status, 'done');
      assert.equal(hosts.calls.get('haproxy.config@observer'), 1, 'a skipped step is not run again');
    });
  });

  test('abort fails the workflow with a reason naming the step and the operator', async () => {
    const hosts = fakeHosts();
    hosts.broken.add('haproxy.config@observer');
    await withWorker(hosts, async (tq) => {
      const handle = await start(tq, sampleRunbook('abort'));
      await waitUntil('haproxy step blocked', progressOf(handle), blockedAt('haproxy.config@observer'));
      await handle.executeUpdate('decide', {
        args: [{ stepId: 'haproxy.config@observer', decision: 'abort', reason: 'wrong cluster' }],
      });
      const failure = await handle.result().then(
        () => assert.fail('an aborted run must fail'),
        (err: unknown) => err,
      );
      assert.ok(failure instanceof WorkflowFailedError);
      assert.ok(failure.cause instanceof ApplicationFailure);
      assert.equal(failure.cause.type, 'RunbookAborted');
      assert.match(failure.cause.message, /aborted by the operator at step haproxy\.config@observer \(wrong cluster\)/);
      assert.match(failure.cause.message, /unknown keyword 'bogus'/);
      assert.equal(hosts.calls.get('patroni.start@node2'), undefined, 'nothing after the aborted step ran');
      const progress = await handle.query<Progress>('progress');
      assert.equal(progress.status, 'aborted');
    });
  });

  test('a decision for a step that is not blocked is rejected and changes nothing', async () => {
    const hosts = fakeHosts();
    hosts.broken.add('haproxy.config@observer');
    await withWorker(hosts, async (tq) => {
      const handle = await start(tq, sampleRunbook('reject'));
      await waitUntil('haproxy step blocked', progressOf(handle), blockedAt('haproxy.config@observer'));
      const decide = (stepId: string, decision: string) => handle.executeUpdate('decide', { args: [{ stepId, decision }] });

      await assert.rejects(decide('patroni.start@node2', 'skip'), (err: unknown) => {
        assert.ok(err instanceof WorkflowUpdateFailedError);
        assert.match(String((err.cause as Error).message), /patroni\.start@node2 is pending, not blocked/);
        return true;
      });
      await assert.rejects(decide('no-such-step', 'retry'), /Workflow Update failed/);
      await assert.rejects(decide('haproxy.config@observer', 'reboot'), (err: unknown) => {
        assert.match(String(((err as WorkflowUpdateFailedError).cause as Error).message), /retry, skip or abort/);
        return true;
      });
      const progress = await handle.query<Progress>('progress');
      assert.equal(stepOf(progress, 'patroni.start@node2').status, 'pending');
      assert.equal(stepOf(progress, 'haproxy.config@observer').status, 'blocked');
      // Rejected updates leave no trace in the history.
      const history = await handle.fetchHistory();
      const accepted = history.events!.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
      assert.equal(accepted.length, 0);
      await handle.terminate('test done');
    });
  });

  test('a guard failure blocks at once with its remedy, and retry after the fix completes', async () => {
    const hosts = fakeHosts();
    hosts.broken.add('patroni.replica-inactive@node2');
    await withWorker(hosts, async (tq) => {
      const handle = await start(tq, { ...sampleRunbook('guard'), name: 'install' });
      const blocked = await waitUntil('guard blocked', progressOf(handle), blockedAt('patroni.replica-inactive@node2'));
      const state = stepOf(blocked, 'patroni.replica-inactive@node2');
      assert.equal(state.kind, 'guard');
      assert.equal(state.error!.type, 'GuardFailed');
      assert.match(state.error!.message, /Patroni is active on the replica/);
      assert.equal(state.error!.remedy, 'stop Patroni on the slave: `systemctl stop patroni`');
      assert.equal(hosts.calls.get('patroni.replica-inactive@node2'), 1, 'a guard failure is not retried by Temporal');

      hosts.broken.delete('patroni.replica-inactive@node2');
      await handle.executeUpdate('decide', { args: [{ stepId: 'patroni.replica-inactive@node2', decision: 'retry' }] });
      assert.equal((await handle.result()).status, 'completed');
    });
  });

  test('check mode reaches every activity', async () => {
    const hosts = fakeHosts();
    await withWorker(hosts, async (tq) => {
      const handle = await env.client.workflow.start(runbookWorkflow, {
        taskQueue: tq,
        workflowId: `check-${randomUUID()}`,
        args: [{ runbook: sampleRunbook('check'), check: true }],
      });
      const outcome = await handle.result();
      assert.equal(stepOf({ steps: outcome.steps } as Progress, 'haproxy.config@observer').summary, 'would write haproxy.config@observer');
    });
  });

  test('an invalid runbook fails the workflow at once instead of hanging', async () => {
    const hosts = fakeHosts();
    await withWorker(hosts, async (tq) => {
      const runbook: Runbook<string> = {
        name: 'install',
        cluster: 'invalid',
        items: [step('a@node1', 'writeFile'), step('a@node1', 'writeFile'), step('b@node1', 'noSuchActivity')],
      };
      const handle = await env.client.workflow.start(runbookWorkflow, {
        taskQueue: tq,
        workflowId: `invalid-${randomUUID()}`,
        args: [{ runbook, options: { knownActivities: ['writeFile', 'replicaInactive', 'overlap'] } }],
      });
      const failure = await handle.result().then(() => undefined, (err: unknown) => err);
      assert.ok(failure instanceof WorkflowFailedError);
      assert.ok(failure.cause instanceof ApplicationFailure);
      assert.equal(failure.cause.type, 'InvalidRunbook');
      assert.match(failure.cause.message, /step id a@node1 is used twice/);
      assert.match(failure.cause.message, /names activity noSuchActivity, which this worker does not have/);
    });
  });

  test('blocked steps of a parallel group each wait for their own decision', async () => {
    const hosts = fakeHosts();
    const runbook: Runbook<string> = {
      name: 'install',
      cluster: 'group',
      items: [{ id: 'configs', title: 'configs', parallel: [step('cfg@node1', 'writeFile'), step('cfg@node2', 'writeFile')] }],
    };
    hosts.broken.add('cfg@node1');
    hosts.broken.add('cfg@node2');
    await withWorker(hosts, async (tq) => {
      const handle = await start(tq, runbook);
      await waitUntil('both blocked', progressOf(handle), (p) => p.steps.every((s) => s.status === 'blocked'));
      await handle.executeUpdate('decide', { args: [{ stepId: 'cfg@node1', decision: 'skip' }] });
      const oneLeft = await handle.query<Progress>('progress');
      assert.equal(oneLeft.status, 'blocked', 'the run stays blocked while one member is');
      hosts.broken.delete('cfg@node2');
      await handle.executeUpdate('decide', { args: [{ stepId: 'cfg@node2', decision: 'retry' }] });
      const outcome = await handle.result();
      assert.deepEqual(outcome.skipped, ['cfg@node1']);
    });
  });
});

/** A step that takes `ms` and records when it ran. */
const timed = (id: string, ms = 300) => step(id, 'timed', { ms });

/**
 * A step, then a group of two lanes, then a step: lane A is three steps; lane B a step, then a
 * group of two inside the lane.
 */
function laneRunbook(cluster: string): Runbook<string> {
  return {
    name: 'install',
    cluster,
    items: [
      timed('before.tiers'),
      {
        id: 'tiers',
        title: 'the tiers at once',
        parallel: [
          { id: 'tier.a', title: 'lane A', lane: [timed('a.one'), timed('a.two'), timed('a.three')] },
          { id: 'tier.b', title: 'lane B', lane: [timed('b.one'), { id: 'b.both', title: 'two at once', parallel: [timed('b.left'), timed('b.right')] }] },
        ],
      },
      timed('after.tiers'),
    ],
  };
}

/** The last run of a step's activity. */
const spanOf = (hosts: FakeHosts, name: string): Span => {
  const span = hosts.spans.filter((s) => s.name === name).at(-1);
  assert.ok(span, `${name} ran`);
  return span;
};

/** Each step's activity started after the one before it ended. */
function assertInOrder(hosts: FakeHosts, names: string[]): void {
  for (let i = 1; i < names.length; i++) {
    assert.ok(spanOf(hosts, names[i]).start >= spanOf(hosts, names[i - 1]).end, `${names[i]} started after ${names[i - 1]} ended`);
  }
}

const laneB = ['b.one', 'b.left', 'b.right'];

describe('lanes of a parallel group', () => {
  test('each lane runs in its own order, the lanes at once, and the step after the group waits for both', async () => {
    const hosts = fakeHosts();
    await withWorker(hosts, async (tq) => {
      const handle = await start(tq, laneRunbook('lanes'));
      const outcome = await handle.result();
      assert.equal(outcome.status, 'completed');
      assert.deepEqual(
        outcome.steps.map((s) => [s.id, s.status, s.group ?? '-', s.lane ?? '-']),
        [
          ['before.tiers', 'done', '-', '-'],
          ['a.one', 'done', 'tiers', 'tier.a'],
          ['a.two', 'done', 'tiers', 'tier.a'],
          ['a.three', 'done', 'tiers', 'tier.a'],
          ['b.one', 'done', 'tiers', 'tier.b'],
          ['b.left', 'done', 'b.both', 'tier.b'],
          ['b.right', 'done', 'b.both', 'tier.b'],
          ['after.tiers', 'done', '-', '-'],
        ],
      );
      assertInOrder(hosts, ['before.tiers', 'a.one', 'a.two', 'a.three', 'after.tiers']);
      assertInOrder(hosts, ['before.tiers', 'b.one', 'b.left']);
      assertInOrder(hosts, ['b.one', 'b.right']);
      assert.ok(spanOf(hosts, 'b.one').start < spanOf(hosts, 'a.three').end, "lane B started before lane A's last step ended");
      const [left, right] = [spanOf(hosts, 'b.left'), spanOf(hosts, 'b.right')];
      assert.ok(left.start < right.end && right.start < left.end, 'the group inside lane B ran at once');
      assert.ok(spanOf(hosts, 'after.tiers').start >= Math.max(spanOf(hosts, 'a.three').end, right.end, left.end), 'the step after the group waited for both lanes');
    });
  });

  test('a blocked step holds its own lane only; retry goes on with the lane, then past the group', async () => {
    const hosts = fakeHosts();
    hosts.broken.add('a.two');
    await withWorker(hosts, async (tq) => {
      const handle = await start(tq, laneRunbook('lane-retry'));
      await waitUntil('a.two blocked', progressOf(handle), blockedAt('a.two'));
      const whileBlocked = await waitUntil('lane B done', progressOf(handle), (p) => laneB.every((id) => stepOf(p, id).status === 'done'));
      assert.equal(whileBlocked.status, 'blocked');
      assert.equal(stepOf(whileBlocked, 'a.three').status, 'pending', 'the blocked lane waits');
      assert.equal(stepOf(whileBlocked, 'after.tiers').status, 'pending', 'the step after the group waits');

      hosts.broken.delete('a.two');
      await handle.executeUpdate('decide', { args: [{ stepId: 'a.two', decision: 'retry' }] });
      const outcome = await handle.result();
      assert.equal(outcome.status, 'completed');
      assert.equal(stepOf({ steps: outcome.steps } as Progress, 'a.two').runs, 2);
      assertInOrder(hosts, ['a.two', 'a.three', 'after.tiers']);
      assertInOrder(hosts, ['b.right', 'after.tiers']);
    });
  });

  test('abort in one lane stops that lane; the other lane finishes, then the run ends aborted and nothing after the group runs', async () => {
    const hosts = fakeHosts();
    hosts.broken.add('a.two');
    hosts.held.add('b.one'); // lane B is still busy when the operator aborts
    await withWorker(hosts, async (tq) => {
      const handle = await start(tq, laneRunbook('lane-abort'));
      await waitUntil('a.two blocked', progressOf(handle), blockedAt('a.two'));
      await handle.executeUpdate('decide', { args: [{ stepId: 'a.two', decision: 'abort', reason: 'wrong cluster' }] });
      const aborted = await waitUntil('run aborted', progressOf(handle), (p) => p.status === 'aborted');
      assert.equal(stepOf(aborted, 'b.one').status, 'running', 'lane B is still at its first step');
      assert.equal((await handle.describe()).status.name, 'RUNNING', 'the run waits for lane B');

      hosts.held.delete('b.one');
      const failure = await handle.result().then(
        () => assert.fail('an aborted run must fail'),
        (err: unknown) => err,
      );
      assert.ok(failure instanceof WorkflowFailedError);
      assert.ok(failure.cause instanceof ApplicationFailure);
      assert.equal(failure.cause.type, 'RunbookAborted');
      assert.match(failure.cause.message, /aborted by the operator at step a\.two \(wrong cluster\)/);
      const progress = await handle.query<Progress>('progress');
      assert.equal(progress.status, 'aborted');
      for (const id of laneB) assert.equal(stepOf(progress, id).status, 'done', `lane B finished: ${id}`);
      assert.equal(stepOf(progress, 'a.three').status, 'pending', 'lane A stopped at the aborted step');
      assert.equal(hosts.calls.get('a.three'), undefined);
      assert.equal(hosts.calls.get('after.tiers'), undefined, 'nothing after the group ran');
    });
  });
});
