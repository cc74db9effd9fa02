// The guide's guard: Patroni stays inactive on the slave until DB configuration. Something
// starts it early (as the vendor's setup script did); haflow stops it, or blocks with the
// remedy when it cannot.
import { test } from 'node:test';
import { longTest } from '../support/long';
import assert from 'node:assert/strict';
import * as activities from '../../activities';
import type { HostInput } from '../../activities/contract';
import { labTopology, sshRun, useLab } from '../support/lab';
import { completedOrBlocked, haflowCli, labSecrets, startInstall, waitForProgress, useInstallEnvironment } from '../support/install';

labSecrets();
const currentLab = useLab(labTopology('standalone'));
/** What happens on the slave right after haflow writes its Patroni config (set per test). */
let onSlaveConfigured: (() => Promise<void>) | undefined;

const installEnv = useInstallEnvironment({
  async configurePatroni(input: HostInput) {
    const result = await activities.configurePatroni(input);
    if (input.host === 'node2' && !input.check) await onSlaveConfigured?.();
    return result;
  },
});

const GUARD = 'patroni.replica-inactive@node2';
const startPatroniEarly = () => sshRun(currentLab(), 'node2', 'systemctl start patroni', { sudo: true }).then(() => undefined);
/** A rogue starter: starts Patroni again whenever it stops, until its pid file's process is killed. */
const startRogueStarter = () =>
  sshRun(
    currentLab(),
    'node2',
    `systemctl start patroni && (setsid nohup sh -c 'echo $$ > /run/rogue-starter.pid; while true; do systemctl is-active -q patroni || systemctl start patroni; sleep 0.3; done' >/dev/null 2>&1 &)`,
    { sudo: true },
  ).then(() => undefined);

// A long test: the next one stops Patroni through the same guard once its starter is gone.
test('Patroni started on the slave before DB configuration is stopped, and the install carries on', longTest(), async () => {
  const lab = currentLab();
  onSlaveConfigured = startPatroniEarly;
  const outcome = await completedOrBlocked(await startInstall(installEnv(), lab.topology));
  const guard = outcome.steps.find((s) => s.id === GUARD)!;
  assert.equal(guard.status, 'done');
  assert.equal(guard.changed, true);
  assert.match(guard.summary!, /stopped Patroni on node2: it was active before DB configuration/);
  assert.equal(outcome.status, 'completed');
  assert.match(outcome.steps.find((s) => s.id === 'patroni.streaming@node2')!.summary!, /node2 streams from node1/);
});

test('when Patroni on the slave cannot be stopped the run blocks with the remedy; after the fix, retry completes', async () => {
  const lab = await currentLab.wipe();
  onSlaveConfigured = startRogueStarter;
  const handle = await startInstall(installEnv(), lab.topology);
  const blocked = await waitForProgress(handle, 'the guard to block', (p) => p.steps.some((s) => s.id === GUARD && s.status === 'blocked'));
  const guard = blocked.steps.find((s) => s.id === GUARD)!;
  assert.equal(guard.error!.type, 'GuardFailed');
  assert.match(guard.error!.message, /Patroni is active on the slave node2 before DB configuration and could not be stopped/);
  assert.match(guard.error!.remedy!, /stop Patroni on the slave node2: `systemctl stop patroni`/);
  assert.equal(blocked.steps.find((s) => s.id === 'db.config@node1')!.status, 'pending', 'DB configuration waits');

  const status = await haflowCli(installEnv(), 'status', lab.topology.cluster);
  assert.match(status.out, /blocked/);
  assert.match(status.out, /systemctl stop patroni/, '`haflow status` shows the remedy');

  await sshRun(lab, 'node2', 'kill "$(cat /run/rogue-starter.pid)"', { sudo: true }); // the operator's fix
  const resume = await haflowCli(installEnv(), 'resume', lab.topology.cluster, '--retry');
  assert.equal(resume.code, 0, resume.out);
  assert.match(resume.out, /install of cluster lab-standalone completed/);
  const outcome = await handle.result();
  assert.equal(outcome.status, 'completed');
  assert.match(outcome.steps.find((s) => s.id === GUARD)!.summary!, /stopped Patroni on node2/);
});

// A long test: the runner's skip is covered without the lab by test/workflow/runner.test.ts.
test('skip lets the operator accept the risk: the guard is marked skipped and the install completes', longTest(), async () => {
  const lab = await currentLab.wipe();
  onSlaveConfigured = startRogueStarter;
  const handle = await startInstall(installEnv(), lab.topology);
  await waitForProgress(handle, 'the guard to block', (p) => p.steps.some((s) => s.id === GUARD && s.status === 'blocked'));
  await handle.executeUpdate('decide', { args: [{ stepId: GUARD, decision: 'skip', reason: 'replica started by hand on purpose' }] });
  const outcome = await handle.result();
  await sshRun(lab, 'node2', 'kill "$(cat /run/rogue-starter.pid)"', { sudo: true });
  assert.deepEqual(outcome.skipped, [GUARD]);
  assert.equal(outcome.steps.find((s) => s.id === GUARD)!.summary, 'skipped by operator: replica started by hand on purpose');
  assert.equal(outcome.steps.find((s) => s.id === 'verify.cluster')!.status, 'done');
});

test("told not to fix (app.on_guard: block): /opt/HA not owned by the common user and nginx started by hand on the slave each block with the guide's remedy; fixed by hand, retry completes", async () => {
  const lab = currentLab();
  onSlaveConfigured = undefined;
  const topology = { ...lab.topology, app: { ...lab.topology.app!, on_guard: 'block' as const } };
  // Installed by the tests above (or here, when they did not run).
  assert.equal((await completedOrBlocked(await startInstall(installEnv(), lab.topology))).status, 'completed');
  await sshRun(lab, 'node1', 'chown root:root /opt/HA/role', { sudo: true });
  await sshRun(lab, 'node2', 'systemctl start nginx', { sudo: true });

  const handle = await startInstall(installEnv(), topology);
  const haDir = 'app.ha-dir@node1';
  const first = await waitForProgress(handle, 'the HA directory guard to block', (p) => p.steps.some((s) => s.id === haDir && s.status === 'blocked'));
  const haGuard = first.steps.find((s) => s.id === haDir)!;
  assert.equal(haGuard.error!.type, 'GuardFailed');
  assert.match(haGuard.error!.message, /\/opt\/HA is not all owned by labadmin:labadmin: \/opt\/HA\/role root:root/);
  assert.equal(haGuard.error!.remedy, 'on node1: chown -R labadmin:labadmin /opt/HA');
  await sshRun(lab, 'node1', 'chown -R labadmin:labadmin /opt/HA', { sudo: true }); // the operator's fix
  await handle.executeUpdate('decide', { args: [{ stepId: haDir, decision: 'retry' }] });

  const nginxGuard = 'app.slave-nginx@node2';
  const second = await waitForProgress(handle, 'the slave nginx guard to block', (p) => p.steps.some((s) => s.id === nginxGuard && s.status === 'blocked'));
  const guard = second.steps.find((s) => s.id === nginxGuard)!;
  assert.match(guard.error!.message, /nginx is active and (enabled|disabled) on the slave application node node2; an active nginx on the slave causes routing conflicts/);
  assert.equal(guard.error!.remedy, 'on node2: systemctl stop nginx && systemctl disable nginx');
  assert.equal((await sshRun(lab, 'node2', 'systemctl is-active nginx', { sudo: true })).stdout.trim(), 'active', 'told not to fix, haflow left nginx alone');
  await sshRun(lab, 'node2', 'systemctl stop nginx && systemctl disable nginx', { sudo: true });
  await handle.executeUpdate('decide', { args: [{ stepId: nginxGuard, decision: 'retry' }] });
  const outcome = await handle.result();
  assert.equal(outcome.status, 'completed');
  assert.equal(outcome.steps.find((s) => s.id === nginxGuard)!.summary, 'nginx is inactive and disabled on the slave node2');
});
