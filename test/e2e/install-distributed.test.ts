// The Patroni guide's distributed layout (5 machines: observer, 2 app, 2 DB) installed on the lab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labTopology, sshRun, useLab } from '../support/lab';
import { installTwice, labSecrets, useInstallEnvironment } from '../support/install';
import { assertHostsHoldRendered, haflowRender } from '../support/rendered';

labSecrets();
const currentLab = useLab(labTopology('distributed'));
const installEnv = useInstallEnvironment();

test('5 bare machines install: DB nodes stream, app nodes untouched by Patroni, a second install changes nothing, the files are what `haflow render` shows', async () => {
  const lab = currentLab();
  const { first, second } = await installTwice(installEnv(), lab.topology);
  const ids = first.steps.map((s) => s.id);
  assert.ok(ids.includes('patroni.streaming@db2') && ids.includes('db.config@db1'));
  assert.match(first.steps.find((s) => s.id === 'verify.write@observer')!.summary!, /landed on the leader db1 and is readable on db2/);
  for (const app of ['app1', 'app2']) {
    const services = await sshRun(lab, app, 'systemctl is-active patroni etcd haproxy', { sudo: true });
    assert.deepEqual(services.stdout.trim().split('\n'), ['inactive', 'inactive', 'inactive'], `${app} runs no database-tier service`);
  }
  assert.equal(second.changed, 0, second.steps.filter((s) => s.changed).map((s) => `${s.id}: ${s.summary}`).join('\n'));
  await assertHostsHoldRendered(lab, haflowRender(lab.topologyFile));
});
