// The classic HA guide's layout installed on the lab: Debian's PostgreSQL cluster of the master
// streamed to the slave's without Patroni, the application on both pointing at its own database,
// file sync, and HAProxy with TLS in front on the observer's machine. Then its failover, as a
// drill: the master machine loses its power, the application monitor fences it and promotes the slave's database, users
// are served by the slave; the old master, powered on again, never serves users and refuses
// writes; the switchback rebuilds it as a standby and makes it master again with no write lost.
// Last, `haflow migrate` moves the classic cluster under Patroni on the same machines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { monitorStatus, startMonitor, stopMonitor, switchbackApp } from '../../client/monitor';
import type { Lab } from '../../lab';
import { appServers } from '../support/app-probe';
import { completedOrBlocked, installTwice, labSecrets, startInstall, useInstallEnvironment } from '../support/install';
import { diskFingerprint, labTopology, sshRun, useLab } from '../support/lab';
import { assertHostsHoldRendered, haflowRender } from '../support/rendered';
import { waitUntil } from '../support/temporal';
import { haflowCli } from '../support/install';
import { monitorWorkflowId } from '../../connection/workflow-ids';
import type { MaintenanceReport } from '../../runbooks/maintenance-report';
import type { DrillReport } from '../../runbooks/report';
import { startRunbook } from '../../client/api';
import { loadTopology } from '../../topology';
import { restJson } from '../support/rest';

labSecrets();
const currentLab = useLab(labTopology('classic'));
/** The PostgreSQL major of the lab's platform (15 on Debian 12, 17 on Debian 13): Debian's cluster is <major>/main. */
const PG = loadTopology(labTopology('classic')).topology.postgresql.version;
const forVersion = (pattern: RegExp) => new RegExp(pattern.source.replaceAll('15', String(PG)), pattern.flags);
const installEnv = useInstallEnvironment();

const MAIN_PROPERTIES = '/opt/flotomate/main-server/config/application-saas.properties';

test('check mode on bare classic machines lists the database changes and changes nothing', async () => {
  const lab = currentLab();
  const before = lab.topology.hosts.map((h) => diskFingerprint(h.name));
  const outcome = await completedOrBlocked(await startInstall(installEnv(), lab.topology, { check: true }));
  const step = (id: string) => outcome.steps.find((s) => s.id === id)!;
  assert.match(step('db.primary@master').summary!, forVersion(/would create \/etc\/postgresql\/15\/main\/conf\.d\/haflow-streaming\.conf.*would rewrite \/etc\/postgresql\/15\/main\/pg_hba\.conf.*would start PostgreSQL 15\/main.*would create or update the roles replicator, postgres and flotomate/));
  assert.match(step('db.standby@slave').summary!, forVersion(/would archive \/var\/lib\/postgresql\/15\/main to \/var\/backups\/haflow\/.*would replace it with a base backup of master and start it as a standby streaming from master/));
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
  assert.match(step('db.standby@slave').summary!, forVersion(/archived \/var\/lib\/postgresql\/15\/main to \/var\/backups\/haflow\/postgresql-15-main-slave-\S+\.tar\.gz.*took a base backup of master/));
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
  await sshRun(lab, 'slave', `pg_ctlcluster ${PG} main stop -m fast`, { sudo: true });
  const third = await completedOrBlocked(await startInstall(installEnv(), lab.topology));
  assert.deepEqual(third.steps.filter((s) => s.changed).map((s) => `${s.id}: ${s.summary}`), [`db.standby@slave: started PostgreSQL ${PG}/main, a standby of master`]);
  const archives = await sshRun(lab, 'slave', `ls /var/backups/haflow/ | grep -c "^postgresql-${PG}-main-slave-"`, { sudo: true });
  assert.equal(archives.stdout.trim(), '1', 'the slave was archived once');
});

const HAPROXY = 'http://127.0.0.41';

/** psql as postgres on a lab node's local socket, in the application's database. */
const sql = (lab: Lab, host: string, query: string) => sshRun(lab, host, `sudo -u postgres psql -X -At -v ON_ERROR_STOP=1 -h /var/run/postgresql -d flotomate -c ${JSON.stringify(query)}`, { sudo: true });

/** The classic cluster as installed (master primary, slave a standby); installed here when a test runs alone. */
async function installedAndStreaming(lab: Lab, env: ReturnType<typeof installEnv>): Promise<void> {
  const recovery = async (host: string) => (await sql(lab, host, 'select pg_is_in_recovery()')).stdout.trim();
  if ((await recovery('master')) === 'f' && (await recovery('slave')) === 't') return;
  assert.equal((await completedOrBlocked(await startInstall(env, lab.topology))).status, 'completed');
}

/** Which machine HAProxy sends `GET /` to, sampled every 200 ms until stopped: each change, in order. */
function sampleServedBy(url: string) {
  const servedBy: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const body = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then((r) => r.text(), () => '');
      const machine = /ServiceOps on (\S+)/.exec(body)?.[1];
      if (machine && servedBy.at(-1) !== machine) servedBy.push(machine);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    async stop(): Promise<string[]> {
      running = false;
      await loop;
      return servedBy;
    },
  };
}

test('haflow drill crash-app-master: the master machine loses its power, the application monitor fences it and promotes the slave, users are served by the slave, the write probe follows the primary with no acknowledged write lost; the old master booted again serves nobody and refuses writes; switchback rebuilds it as a standby and makes it master with no write lost', async (t) => {
  const lab = currentLab();
  const env = installEnv();
  const cluster = lab.topology.cluster;
  await installedAndStreaming(lab, env);
  await sql(lab, 'master', 'create table if not exists failover_check (id int primary key, at timestamptz default now()); truncate failover_check; insert into failover_check select generate_series(1, 1000)');
  await waitUntil('the rows on the slave', () => sql(lab, 'slave', 'select count(*) from failover_check').then((r) => r.stdout.trim(), () => ''), (n) => n === '1000', 30_000);
  await startMonitor(env.client, lab.topology);
  await waitUntil('the first check', () => monitorStatus(env.client, cluster), (v) => v.lastCheck?.lastResult?.startsWith('HTTP 200') === true, 30_000);

  // The faults that need Patroni are refused, naming the one there is.
  const refused = await haflowCli(env, 'drill', lab.topologyFile, '--fault', 'crash-leader');
  assert.equal(refused.code, 2, refused.out);
  assert.match(refused.out, /fault crash-leader works through Patroni/);

  // The drill: the power cut, the monitor's failover, the power back on and the monitor's fence.
  // Users are sampled throughout: once the slave serves, the master never does again.
  const served = sampleServedBy(`${HAPROXY}/`);
  const run = await haflowCli(env, 'drill', lab.topologyFile, '--fault', 'crash-app-master', '--json');
  const servedInOrder = await served.stop();
  assert.equal(run.code, 0, run.out.slice(0, run.out.indexOf('\n{\n')).slice(-4000));
  const report = JSON.parse(run.out.slice(run.out.indexOf('\n{\n') + 1)) as DrillReport;
  const f = report.figures;
  t.diagnostic(`application ${f.appDowntimeSeconds} s, writes ${f.writeDowntimeSeconds} s (${f.failedWrites} failed), ${f.acknowledgedWrites} acknowledged, ${f.lostWrites} lost; phases ${JSON.stringify(f.phases)}; predicted ${JSON.stringify(report.predicted)}; probe: ${report.probe.writeTarget}`);
  assert.ok(report.verdict.pass, report.verdict.reasons.join('; '));
  assert.equal(f.lostWrites, 0);
  assert.equal(f.newLeader, 'slave');
  assert.ok(f.appDowntimeSeconds !== undefined && f.appDowntimeSeconds > 0);
  assert.ok(f.writeDowntimeSeconds !== undefined && f.writeDowntimeSeconds > 0, 'the master machine held the database: writes paused');
  assert.equal(f.splitBrain, false);
  assert.deepEqual(servedInOrder, ['master', 'slave'], 'users went from the master to the slave, and never back to the master meanwhile');

  const failedOver = await monitorStatus(env.client, cluster);
  t.diagnostic(`monitor events:\n${failedOver.events.map((e) => `${e.at} ${e.kind} ${e.message}`).join('\n')}`);
  assert.deepEqual([failedOver.master, failedOver.slave, failedOver.unfenced], ['slave', 'master', undefined]);
  assert.match(failedOver.events.find((e) => e.kind === 'failover')!.message, /failed the application over from master to slave; master could not be fenced \(unreachable\)/);
  assert.ok(failedOver.events.some((e) => e.kind === 'fenced'));
  // The slave's database is the primary, with every row the master had, and takes the application's writes.
  assert.equal((await sql(lab, 'slave', 'select pg_is_in_recovery(), count(*) from failover_check')).stdout.trim(), 'f|1000');
  await sql(lab, 'slave', 'insert into failover_check select generate_series(1001, 1500)');
  assert.equal(await fetch(`${HAPROXY}/`).then((r) => r.text()), 'ServiceOps on slave\n');
  assert.deepEqual(await appServers(`${HAPROXY}:7000/`), ['master MAINT', 'slave UP']);

  // Powered on, the old master started its database as a primary at boot; the fence stopped it.
  const pgLog = (await sshRun(lab, 'master', `tail -n 8 /var/log/postgresql/postgresql-${PG}-main.log`, { sudo: true })).stdout;
  t.diagnostic(`master's PostgreSQL log since its boot:\n${pgLog.trim()}`);
  assert.equal((await sshRun(lab, 'master', `pg_lsclusters -h | awk '{print $4}'; cat /etc/postgresql/${PG}/main/start.conf; test -f /etc/postgresql/${PG}/main/haflow-fenced && echo marker`, { sudo: true })).stdout.trim().split('\n').join(' '), 'down,recovery manual marker');
  // Started by hand anyway, it is read-only.
  await sshRun(lab, 'master', `pg_ctlcluster ${PG} main start`, { sudo: true });
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
  const back = await monitorStatus(env.client, cluster);
  assert.deepEqual([back.master, back.slave], ['master', 'slave']);
  await stopMonitor(env.client, cluster);
});

test('haflow migrate moves the classic cluster under Patroni on the same machines: backed up first, the old application monitor stopped, the data intact (row count and checksum), the same timeline, one write pause measured during the handover and no write lost; a second run changes nothing', async (t) => {
  const lab = currentLab();
  const env = installEnv();
  const cluster = lab.topology.cluster;
  await installedAndStreaming(lab, env);
  const fingerprint = "select count(*) || ' ' || md5(string_agg(id || ':' || payload, ',' order by id)) from migration_check";
  await sql(lab, 'master', "create table if not exists migration_check (id int primary key, payload text); truncate migration_check; insert into migration_check select g, md5(g::text) from generate_series(1, 5000) g");
  const before = (await sql(lab, 'master', fingerprint)).stdout.trim();
  const timelineBefore = (await sql(lab, 'master', 'select timeline_id from pg_control_checkpoint()')).stdout.trim();

  const classicFile = labTopology('classic');
  const patroniFile = labTopology('classic-patroni');
  const plan = await haflowCli(env, 'migrate', classicFile, patroniFile, '--plan');
  assert.equal(plan.code, 0, plan.out);
  assert.match(plan.out, /migrate\.monitor-stopped[\s\S]*migrate\.backup@master[\s\S]*db\.handover@master[\s\S]*db\.handover@slave[\s\S]*app\.config@master[\s\S]*migrate\.verified/);

  // Check mode asks every machine and changes none of what the migration writes (the databases
  // themselves change all the time: HAProxy's checks of the application write to them).
  const written = `find /etc /opt/HA /var/backups -xdev -type f -print0 2>/dev/null | sort -z | xargs -0 sha256sum; ls /var/lib/postgresql/${PG}/main/`;
  const fingerprints = () => Promise.all(lab.topology.hosts.map((h) => sshRun(lab, h.name, written, { sudo: true }).then((r) => r.stdout)));
  const beforeCheck = await fingerprints();
  const check = await haflowCli(env, 'migrate', classicFile, patroniFile, '--check');
  assert.equal(check.code, 0, check.out.slice(-3000));
  assert.match(check.out, /db\.handover@master: .*would let Patroni take the running primary as leader/);
  assert.match(check.out, /migrate\.backup@master: .*would take a base backup/);
  assert.deepEqual(await fingerprints(), beforeCheck, 'check mode changed a file');
  // The classic cluster's application monitor runs: the migration stops it first.
  await startMonitor(env.client, lab.topology);

  const run = await haflowCli(env, 'migrate', classicFile, patroniFile, '--json');
  // With --json the report alone is JSON; what comes before it is the progress.
  assert.equal(run.code, 0, run.out.slice(0, run.out.indexOf('\n{\n')).slice(-4000));
  const report = JSON.parse(run.out.slice(run.out.indexOf('\n{\n') + 1)) as MaintenanceReport;
  t.diagnostic(`write pauses: ${JSON.stringify(report.pauses)}; ${report.acknowledgedWrites} acknowledged, ${report.lostWrites} lost; probe: ${report.probe.writeTarget}, ${report.probe.stoppedBecause}`);
  assert.equal(report.kind, 'migrate');
  assert.ok(report.verdict.pass, report.verdict.reasons.join('; '));
  assert.equal(report.lostWrites, 0);
  assert.ok(report.pauses.length >= 1 && report.pauses.every((p) => p.duringStep === 'db.handover@master' && p.seconds !== undefined), JSON.stringify(report.pauses));
  assert.equal(report.probe.writeTarget, 'master:5432 directly');
  t.diagnostic(`application through HAProxy: ${JSON.stringify(report.appOutages)}`);
  assert.ok(report.appOutages?.every((o) => o.seconds !== undefined), 'the application answers again at the end');

  // The data as it was, on the leader and on the replica; the same timeline (no promotion).
  assert.equal((await sql(lab, 'master', fingerprint)).stdout.trim(), before);
  await waitUntil('the replica to hold the same rows', () => sql(lab, 'slave', fingerprint).then((r) => r.stdout.trim()), (v) => v === before, 30_000);
  assert.equal((await sql(lab, 'master', 'select timeline_id from pg_control_checkpoint()')).stdout.trim(), timelineBefore);
  const members = (await restJson(lab.topology, '127.0.0.42', '/cluster')) as { members: { name: string; role: string; state: string }[] };
  assert.deepEqual(members.members.map((m) => `${m.name} ${m.role}`).sort(), ['master leader', 'slave replica']);
  assert.equal((await sql(lab, 'slave', 'select pg_is_in_recovery(), (select status from pg_stat_wal_receiver)')).stdout.trim(), 't|streaming');
  assert.equal((await sql(lab, 'master', 'show config_file')).stdout.trim(), `/var/lib/postgresql/${PG}/main/postgresql.conf`);
  assert.equal((await sshRun(lab, 'master', `grep -v '^#' /etc/postgresql/${PG}/main/start.conf`, { sudo: true })).stdout.trim(), 'disabled');

  // The backup, verified by its checksums; the old application monitor stopped; the application writes through HAProxy.
  const backup = await sshRun(lab, 'master', 'cd /var/backups/haflow/migrate-lab-classic && sha256sum --quiet -c SHA256SUMS && ls base-*/ config-*', { sudo: true });
  assert.equal(backup.code, 0, backup.stderr);
  assert.match(backup.stdout, /^config-\S+\.tar\.gz\n[\s\S]*^backup_manifest\nbase\.tar\.gz$/m);
  assert.equal((await env.client.workflow.getHandle(monitorWorkflowId(cluster)).describe()).status.name, 'CANCELLED');
  const url = await sshRun(lab, 'master', `grep '^spring.datasource.url=' ${MAIN_PROPERTIES}`, { sudo: true });
  assert.equal(url.stdout.trim(), 'spring.datasource.url=jdbc:postgresql://127.0.0.41:5000/flotomate');
  assert.equal(await fetch(`${HAPROXY}/`).then((r) => r.text()), 'ServiceOps on master\n');

  // Resumed or repeated, it changes nothing.
  const again = await completedOrBlocked(await startRunbook(env.client, 'migrate', loadTopology(patroniFile).topology, { classicCluster: cluster, master: 'master' }));
  assert.deepEqual(again.steps.filter((s) => s.changed).map((s) => `${s.id}: ${s.summary}`), []);
});
