// The Patroni guide's distributed layout (5 machines: observer, 2 app, 2 DB) installed on the lab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labTopology, sshRun, useLab } from '../support/lab';
import { installTwice, labSecrets, useInstallEnvironment } from '../support/install';
import { assertHostsHoldRendered, haflowRender } from '../support/rendered';

labSecrets();
const currentLab = useLab(labTopology('distributed'));
const installEnv = useInstallEnvironment();

test('5 bare machines install: DB nodes stream, app nodes untouched by Patroni, the application answers through HAProxy, a second install changes nothing, the files are what `haflow render` shows', async () => {
  const lab = currentLab();
  const { first, second } = await installTwice(installEnv(), lab.topology);
  const ids = first.steps.map((s) => s.id);
  assert.ok(ids.includes('patroni.streaming@db2') && ids.includes('db.config@db1'));
  assert.match(first.steps.find((s) => s.id === 'verify.write@observer')!.summary!, /landed on the leader db1 and is readable on db2/);
  for (const app of ['app1', 'app2']) {
    const services = await sshRun(lab, app, 'systemctl is-active patroni etcd haproxy', { sudo: true });
    assert.deepEqual(services.stdout.trim().split('\n'), ['inactive', 'inactive', 'inactive'], `${app} runs no database-tier service`);
  }
  // The application tier: users reach app1 (the master) through the observer's HAProxy, and
  // the write it makes to answer lands on the database leader db1.
  const health = await fetch('http://127.0.0.21/health');
  assert.equal(health.status, 200, await health.text());
  const heartbeat = await sshRun(lab, 'db1', `sudo -u postgres psql -X -At -h /var/run/postgresql -d flotomate -c "select pg_is_in_recovery(), host from app_heartbeat where at > now() - interval '30 seconds'"`, { sudo: true });
  assert.match(heartbeat.stdout, /^f\|app1$/m, heartbeat.stdout + heartbeat.stderr);
  const nginx = await sshRun(lab, 'app2', 'echo $(systemctl is-active nginx) $(systemctl is-enabled nginx)', { sudo: true });
  assert.equal(nginx.stdout.trim(), 'inactive disabled', 'nginx stays off on the slave application node');
  assert.equal(second.changed, 0, second.steps.filter((s) => s.changed).map((s) => `${s.id}: ${s.summary}`).join('\n'));
  await assertHostsHoldRendered(lab, haflowRender(lab.topologyFile));
});
