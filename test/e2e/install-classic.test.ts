// The classic HA guide's layout installed on the lab: Debian's PostgreSQL cluster of the master
// streamed to the slave's without Patroni, the application on both pointing at its own database,
// file sync, and HAProxy with TLS in front on the observer's machine. Then its failover: the
// master machine loses its power, the observer fences it and promotes the slave's database, users
// are served by the slave; the old master, powered on again, never serves users and refuses
// writes; the switchback rebuilds it as a standby and makes it master again with no write lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { observerStatus, startObserver, stopObserver, switchbackApp } from '../../client/observer';
import type { Lab } from '../../lab';
import { appServers, probeApplication } from '../support/app-probe';
import { completedOrBlocked, installTwice, labSecrets, startInstall, useInstallEnvironment } from '../support/install';
import { diskFingerprint, labTopology, sshRun, useLab } from '../support/lab';
import { assertHostsHoldRendered, haflowRender } from '../support/rendered';
import { waitUntil } from '../support/temporal';

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

const HAPROXY = 'http://127.0.0.41';

/** psql as postgres on a lab node's local socket, in the application's database. */
const sql = (lab: Lab, host: string, query: string) => sshRun(lab, host, `sudo -u postgres psql -X -At -v ON_ERROR_STOP=1 -h /var/run/postgresql -d flotomate -c ${JSON.stringify(query)}`, { sudo: true });

/** Which machine HAProxy sends `GET /` to, sampled every 200 ms until stopped. */
function sampleServedBy(url: string) {
  const servedBy = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const body = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then((r) => r.text(), () => '');
      const machine = /ServiceOps on (\S+)/.exec(body)?.[1];
      if (machine) servedBy.add(machine);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    async stop(): Promise<string[]> {
      running = false;
      await loop;
      return [...servedBy].sort();
    },
  };
}

test('the master machine crashes: the observer fences it and promotes the slave, users are served by the slave; the old master booted again serves nobody and refuses writes; switchback rebuilds it as a standby and makes it master with no write lost', async (t) => {
  const lab = currentLab();
  const env = installEnv();
  const cluster = lab.topology.cluster;
  if ((await sql(lab, 'slave', 'select pg_is_in_recovery()')).stdout.trim() !== 't') {
    // Alone (the install test did not run): install here.
    assert.equal((await completedOrBlocked(await startInstall(env, lab.topology))).status, 'completed');
  }
  await sql(lab, 'master', 'create table if not exists failover_check (id int primary key, at timestamptz default now()); truncate failover_check; insert into failover_check select generate_series(1, 1000)');
  await waitUntil('the rows on the slave', () => sql(lab, 'slave', 'select count(*) from failover_check').then((r) => r.stdout.trim(), () => ''), (n) => n === '1000', 30_000);
  await startObserver(env.client, lab.topology);
  await waitUntil('the first check', () => observerStatus(env.client, cluster), (v) => v.lastCheck?.lastResult?.startsWith('HTTP 200') === true, 30_000);

  const probe = probeApplication(`${HAPROXY}/health`);
  await new Promise((r) => setTimeout(r, 1_000));
  await lab.crash('master');
  const failedOver = await waitUntil('the failover', () => observerStatus(env.client, cluster), (v) => v.failovers === 1 && v.phase === 'watching', 240_000);
  await waitUntil('the application to answer 200 through HAProxy', async () => probe.downtime(), (d) => d !== undefined && d > 0, 60_000);
  await probe.stop();
  const o = lab.topology.app!.observer;
  t.diagnostic(`application-path downtime after the master machine crashed: ${probe.downtime()} s (observer: a check every ${o.interval_seconds} s, failover after ${o.failures} failures)`);
  t.diagnostic(`observer events:\n${failedOver.events.map((e) => `${e.at} ${e.kind} ${e.message}`).join('\n')}`);
  assert.deepEqual([failedOver.master, failedOver.slave, failedOver.unfenced], ['slave', 'master', 'master']);
  assert.match(failedOver.events.find((e) => e.kind === 'failover')!.message, /failed the application over from master to slave; master could not be fenced \(unreachable\)/);
  // The slave's database is the primary, with every row the master had, and takes the application's writes.
  assert.equal((await sql(lab, 'slave', 'select pg_is_in_recovery(), count(*) from failover_check')).stdout.trim(), 'f|1000');
  await sql(lab, 'slave', 'insert into failover_check select generate_series(1001, 1500)');
  assert.equal(await fetch(`${HAPROXY}/`).then((r) => r.text()), 'ServiceOps on slave\n');
  assert.deepEqual(await appServers(`${HAPROXY}:7000/`), ['master MAINT', 'slave UP']);

  // Powered on, the old master starts what it had enabled: its database (as a primary), nginx and
  // the application. HAProxy sends it no user meanwhile, and the observer fences it.
  const served = sampleServedBy(`${HAPROXY}/`);
  await lab.boot('master');
  const fenced = await waitUntil('the late fence of master', () => observerStatus(env.client, cluster), (v) => v.events.some((e) => e.kind === 'fenced'), 120_000);
  assert.deepEqual(await served.stop(), ['slave'], 'users were served by the slave only');
  assert.equal(fenced.unfenced, undefined);
  const pgLog = (await sshRun(lab, 'master', 'tail -n 8 /var/log/postgresql/postgresql-15-main.log', { sudo: true })).stdout;
  t.diagnostic(`master's PostgreSQL log since its boot:\n${pgLog.trim()}`);
  assert.equal((await sshRun(lab, 'master', 'pg_lsclusters -h | awk \'{print $4}\'; cat /etc/postgresql/15/main/start.conf; test -f /etc/postgresql/15/main/haflow-fenced && echo marker', { sudo: true })).stdout.trim().split('\n').join(' '), 'down,recovery manual marker');
  // Started by hand anyway, it is read-only.
  await sshRun(lab, 'master', 'pg_ctlcluster 15 main start', { sudo: true });
  const write = await sql(lab, 'master', 'insert into failover_check values (9999)');
  assert.notEqual(write.code, 0);
  assert.match(write.stderr, /read-only transaction/);

  // The switchback: master rebuilt as a standby of slave, then the roles swapped with no write lost.
  const message = await switchbackApp(env.client, cluster);
  t.diagnostic(message);
  assert.match(message, /switched the application back from slave to master/);
  assert.equal((await sql(lab, 'master', 'select pg_is_in_recovery(), count(*) from failover_check')).stdout.trim(), 'f|1500');
  await waitUntil('slave streaming from master', () => sql(lab, 'slave', 'select pg_is_in_recovery(), (select status from pg_stat_wal_receiver)').then((r) => r.stdout.trim()), (v) => v === 't|streaming', 60_000);
  assert.equal(await fetch(`${HAPROXY}/`).then((r) => r.text()), 'ServiceOps on master\n');
  assert.deepEqual(await appServers(`${HAPROXY}:7000/`), ['master UP', 'slave MAINT']);
  const back = await observerStatus(env.client, cluster);
  assert.deepEqual([back.master, back.slave], ['master', 'slave']);
  await stopObserver(env.client, cluster);
});
