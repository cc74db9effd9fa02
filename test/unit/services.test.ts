// activities/services.ts: ensureUnit against a fake systemd host. It looks at the unit's
// state, then runs only the systemctl verbs that differ from the goal, in a fixed order.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { ensureUnit } from '../../activities/shared/services';
import { fakeSsh, ok } from '../support/fake-ssh';

interface Unit {
  active: string;
  enabled: boolean;
}

/** One systemd unit on a fake host; `systemctl <verb> <unit>` changes it as systemd would. */
function systemd(initial: Unit, options: { activeAfterStart?: string; failingVerb?: string } = {}) {
  const unit = { ...initial };
  const verbs: string[] = [];
  const { ssh, calls } = fakeSsh((command, opts) => {
    assert.equal(opts.sudo, true, `not run with sudo: ${command}`);
    if (command.includes('systemctl is-active')) {
      return ok(`active=${unit.active}\nenabled=${unit.enabled ? 'enabled' : 'disabled'}\ninstalled=yes\n`);
    }
    const verb = command.match(/^systemctl (\S+) (\S+)$/);
    if (verb) {
      verbs.push(`${verb[1]} ${verb[2]}`);
      if (verb[1] === options.failingVerb) return { code: 1, stdout: '', stderr: `Job for ${verb[2]}.service failed.` };
      if (verb[1] === 'enable') unit.enabled = true;
      if (verb[1] === 'disable') unit.enabled = false;
      if (verb[1] === 'start') unit.active = options.activeAfterStart ?? 'active';
      if (verb[1] === 'stop') unit.active = 'inactive';
      return ok();
    }
    if (command.startsWith('journalctl')) return ok('haproxy[812]: [ALERT] cannot bind socket [0.0.0.0:5000]\n');
    throw new Error(`unexpected command: ${command}`);
  });
  return { ssh, calls, unit, verbs };
}

describe('ensureUnit', () => {
  test('a stopped, disabled unit with goal running + enabled is enabled, then started', async () => {
    const host = systemd({ active: 'inactive', enabled: false });
    const actions = await ensureUnit(host.ssh, 'haproxy', { running: true, enabled: true }, false);
    assert.deepEqual(actions, ['enable haproxy', 'start haproxy']);
    assert.deepEqual(host.verbs, ['enable haproxy', 'start haproxy']);
    assert.deepEqual(host.unit, { active: 'active', enabled: true });
  });

  test('check mode says what it would do and runs no systemctl verb', async () => {
    const host = systemd({ active: 'inactive', enabled: false });
    const actions = await ensureUnit(host.ssh, 'haproxy', { running: true, enabled: true }, true);
    assert.deepEqual(actions, ['would enable haproxy', 'would start haproxy']);
    assert.deepEqual(host.verbs, []);
    assert.deepEqual(host.unit, { active: 'inactive', enabled: false });
  });

  test('a unit already at its goal is left alone', async () => {
    const host = systemd({ active: 'active', enabled: true });
    assert.deepEqual(await ensureUnit(host.ssh, 'patroni', { running: true, enabled: true }, false), []);
    assert.deepEqual(host.verbs, []);
  });

  test('refresh reloads a running unit', async () => {
    const host = systemd({ active: 'active', enabled: true });
    const actions = await ensureUnit(host.ssh, 'haproxy', { running: true, enabled: true, refresh: 'reload' }, false);
    assert.deepEqual(actions, ['reload haproxy']);
    assert.deepEqual(host.verbs, ['reload haproxy']);
  });

  test('refresh does not reload a stopped unit: it is started instead', async () => {
    const host = systemd({ active: 'inactive', enabled: true });
    const actions = await ensureUnit(host.ssh, 'haproxy', { running: true, enabled: true, refresh: 'reload' }, false);
    assert.deepEqual(actions, ['start haproxy']);
    assert.deepEqual(host.verbs, ['start haproxy']);
  });

  test('refresh: restart restarts a running unit; in check mode it only says so', async () => {
    const host = systemd({ active: 'active', enabled: true });
    assert.deepEqual(await ensureUnit(host.ssh, 'patroni', { running: true, enabled: true, refresh: 'restart' }, true), ['would restart patroni']);
    assert.deepEqual(host.verbs, []);
    assert.deepEqual(await ensureUnit(host.ssh, 'patroni', { running: true, enabled: true, refresh: 'restart' }, false), ['restart patroni']);
    assert.deepEqual(host.verbs, ['restart patroni']);
  });

  test('a running, enabled unit with goal stopped + disabled is disabled, then stopped', async () => {
    const host = systemd({ active: 'active', enabled: true });
    const actions = await ensureUnit(host.ssh, 'etcd', { running: false, enabled: false }, false);
    assert.deepEqual(actions, ['disable etcd', 'stop etcd']);
    assert.deepEqual(host.unit, { active: 'inactive', enabled: false });
  });

  test('a unit that is activating counts as running: it is not started again', async () => {
    const host = systemd({ active: 'activating', enabled: true });
    assert.deepEqual(await ensureUnit(host.ssh, 'patroni', { running: true, enabled: true }, true), []);
  });

  test('a unit that is not active after start is a ServiceFailed failure', async () => {
    const host = systemd({ active: 'inactive', enabled: true }, { activeAfterStart: 'failed' });
    await assert.rejects(ensureUnit(host.ssh, 'haproxy', { running: true, enabled: true }, false), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.type, 'ServiceFailed');
      assert.match(err.message, /haproxy is failed after start/);
      return true;
    });
  });

  test('a failing systemctl verb is a ServiceFailed failure carrying the unit\'s last log lines', async () => {
    const host = systemd({ active: 'inactive', enabled: true }, { failingVerb: 'start' });
    await assert.rejects(ensureUnit(host.ssh, 'haproxy', { running: true, enabled: true }, false), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.type, 'ServiceFailed');
      assert.match(err.message, /`systemctl start haproxy` failed \(exit 1\)/);
      assert.match(err.message, /cannot bind socket/);
      return true;
    });
  });
});
