// The classic HA guide's layout installed on the lab: Debian's PostgreSQL cluster of the master
// streamed to the slave's without Patroni, the application on both pointing at its own database,
// file sync, and HAProxy with TLS in front on the observer's machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { completedOrBlocked, installTwice, labSecrets, startInstall, useInstallEnvironment } from '../support/install';
import { diskFingerprint, labTopology, sshRun, useLab } from '../support/lab';
import { assertHostsHoldRendered, haflowRender } from '../support/rendered';

labSecrets();
const currentLab = useLab(labTopology('classic'));
const installEnv = useInstallEnvironment();

const MAIN_PROPERTIES = '/opt/flotomate/main-server/config/application-saas.properties';

test('check mode on bare classic machines lists the database changes and changes nothing', async () => {
  const lab = currentLab();
  const before = lab.topology.hosts.map((h) => diskFingerprint(h.name));
  const outcome = await completedOrBlocked(await startInstall(installEnv(), lab.topology, { check: true }));
  const step = (id: string) => outcome.steps.find((s) => s.id === id)!;
  assert.match(step('db.primary@master').summary!, /would create \/etc\/postgresql\/15\/main\/conf\.d\/haflow-streaming\.conf.*would rewrite \/etc\/postgresql\/15\/main\/pg_hba\.conf.*would start PostgreSQL 15\/main.*would create or update the roles replicator, postgres and flotomate/);
  assert.match(step('db.standby@slave').summary!, /would archive \/var\/lib\/postgresql\/15\/main to \/var\/backups\/haflow\/.*would replace it with a base backup of master and start it as a standby streaming from master/);
  assert.doesNotMatch(step('packages.install@master').summary!, /postgresql/, "the application's database is left running");
  const after = lab.topology.hosts.map((h) => diskFingerprint(h.name));
  lab.topology.hosts.forEach((h, i) => assert.ok(before[i] === after[i], `${h.name}: check mode changed a file`));
});

test('a bare classic lab installs: the slave streams from the master, a write on the master reaches it, the application answers through HAProxy from the master; a second install changes nothing', async (t) => {
  const lab = currentLab();
  const { first, second } = await installTwice(installEnv(), lab.topology);
  const step = (id: string) => first.steps.find((s) => s.id === id)!;
  for (const s of first.steps) t.diagnostic(`${s.id}: ${s.summary}`);
  assert.equal(first.steps.some((s) => s.id.startsWith('patroni.') || s.id.startsWith('etcd.')), false, 'no Patroni, no etcd');
  assert.match(step('db.standby@slave').summary!, /archived \/var\/lib\/postgresql\/15\/main to \/var\/backups\/haflow\/postgresql-15-main-slave-\S+\.tar\.gz.*took a base backup of master/);
  assert.match(step('db.streaming@slave').summary!, /slave streams from master, \d+ bytes behind/);
  assert.match(step('verify.write@master').summary!, /a write on the master master is readable on slave/);
  const recovery = await sshRun(lab, 'slave', "sudo -u postgres psql -XAtc 'select pg_is_in_recovery(), (select status from pg_stat_wal_receiver)'", { sudo: true });
  assert.equal(recovery.stdout.trim(), 't|streaming');
  for (const host of ['master', 'slave']) {
    const url = await sshRun(lab, host, `grep '^spring.datasource.url=' ${MAIN_PROPERTIES}`, { sudo: true });
    assert.equal(url.stdout.trim(), `spring.datasource.url=jdbc:postgresql://${lab.host(host).address}:5432/flotomate`, `${host}'s application uses its own database`);
  }
  assert.match(step('verify.app@observer').summary!, /200/);
  assert.equal(second.changed, 0, second.steps.filter((s) => s.changed).map((s) => `${s.id}: ${s.summary}`).join('\n'));
  await assertHostsHoldRendered(lab, haflowRender(lab.topologyFile));

  // The slave's cluster stopped (as after a reboot): the next run starts it, with no new base backup.
  await sshRun(lab, 'slave', 'pg_ctlcluster 15 main stop -m fast', { sudo: true });
  const third = await completedOrBlocked(await startInstall(installEnv(), lab.topology));
  assert.deepEqual(third.steps.filter((s) => s.changed).map((s) => `${s.id}: ${s.summary}`), ['db.standby@slave: started PostgreSQL 15/main, a standby of master']);
  const archives = await sshRun(lab, 'slave', 'ls /var/backups/haflow/ | grep -c "^postgresql-15-main-slave-"', { sudo: true });
  assert.equal(archives.stdout.trim(), '1', 'the slave was archived once');
});
