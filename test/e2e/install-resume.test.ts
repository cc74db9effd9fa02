// A failed install is resumed, not restarted: a step broken on purpose on the host blocks
// the run with a clear error; after the fix, retry completes it; abort ends it with a reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { labTopology, sshRun, useLab } from '../support/lab';
import { labSecrets, startInstall, waitForProgress, useInstallEnvironment } from '../support/install';
import { installSteps } from '../../runbooks/install';
import { flattenSteps, runsBefore } from '../../runbooks/runbook';

labSecrets();
const currentLab = useLab(labTopology('standalone'));
const installEnv = useInstallEnvironment();

const HAPROXY = 'haproxy.config@observer';
/** An invalid HAProxy setting on the observer, in an extra file Debian's unit loads through EXTRAOPTS. */
const BREAK = [
  'mkdir -p /etc/haproxy/conf.d',
  `printf 'listen legacy\n    bind 127.0.0.11:5999\n    bogus_keyword on\n' > /etc/haproxy/conf.d/legacy.cfg`,
  `echo 'EXTRAOPTS="-S /run/haproxy-master.sock -f /etc/haproxy/conf.d/legacy.cfg"' >> /etc/default/haproxy`,
].join(' && ');
const FIX = 'rm /etc/haproxy/conf.d/legacy.cfg && sed -i "/legacy.cfg/d" /etc/default/haproxy';

test('an invalid HAProxy setting on the host blocks the run with a clear error; after the fix, retry completes', async () => {
  const lab = currentLab();
  await sshRun(lab, 'observer', BREAK, { sudo: true });
  const handle = await startInstall(installEnv(), lab.topology);
  const blocked = await waitForProgress(handle, 'the HAProxy step to block', (p) => p.status === 'blocked');
  const step = blocked.steps.find((s) => s.status === 'blocked')!;
  assert.equal(step.id, HAPROXY);
  assert.equal(step.error!.type, 'ServiceFailed');
  assert.match(step.error!.message, /observer: `systemctl start haproxy` failed/);
  assert.match(step.error!.message, /legacy\.cfg:3\] : unknown keyword 'bogus_keyword'/, 'the error shows what HAProxy said');
  assert.match(step.error!.remedy!, /journalctl -u haproxy/);
  // The tiers beside HAProxy's go on; nothing that must wait for it has run.
  const runbook = installSteps(lab.topology);
  const after = flattenSteps(runbook).filter((s) => runsBefore(runbook, HAPROXY, s.id)).map((s) => s.id);
  assert.ok(after.includes('verify.write@observer'), after.join(', '));
  for (const id of after) assert.equal(blocked.steps.find((s) => s.id === id)!.status, 'pending', `${id} waits for ${HAPROXY}`);

  await sshRun(lab, 'observer', FIX, { sudo: true });
  await handle.executeUpdate('decide', { args: [{ stepId: HAPROXY, decision: 'retry' }] });
  const outcome = await handle.result();
  assert.equal(outcome.status, 'completed');
  const haproxy = outcome.steps.find((s) => s.id === HAPROXY)!;
  assert.equal(haproxy.status, 'done');
  assert.equal(haproxy.runs, 2, 'the step ran again after retry, the steps before it did not');
  assert.ok(outcome.steps.filter((s) => s.id !== HAPROXY).every((s) => s.runs === 1));
});

test('abort ends the run with the operator\'s reason and runs nothing that waits for the blocked step', async () => {
  const lab = await currentLab.wipe();
  await sshRun(lab, 'observer', BREAK, { sudo: true });
  const handle = await startInstall(installEnv(), lab.topology);
  await waitForProgress(handle, 'the HAProxy step to block', (p) => p.status === 'blocked');
  await handle.executeUpdate('decide', { args: [{ stepId: HAPROXY, decision: 'abort', reason: 'wrong observer' }] });
  const failure = await handle.result().then(
    () => assert.fail('an aborted install must fail'),
    (err: unknown) => err,
  );
  assert.ok(failure instanceof WorkflowFailedError);
  assert.ok(failure.cause instanceof ApplicationFailure);
  assert.equal(failure.cause.type, 'RunbookAborted');
  assert.match(failure.cause.message, /install of lab-standalone aborted by the operator at step haproxy\.config@observer \(wrong observer\)/);
  // The tiers beside HAProxy's finished what they had started (the leader bootstrapped); the
  // slave's Patroni, which starts after all of them, never did.
  const slave = await sshRun(lab, 'node2', 'systemctl is-active patroni', { sudo: true });
  assert.notEqual(slave.stdout.trim(), 'active', 'Patroni never started on the slave');
});
