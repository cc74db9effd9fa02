// The migration from the classic layout to Patroni without a machine: which pairs of topologies it
// refuses (naming the field to change), its steps in order, the files Patroni needs beside the
// adopted data, and its report (the handover's pause is the one allowed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { adoptionFiles } from '../../activities/patroni/adopt';
import { migrationConfigPaths } from '../../activities/postgres/migration';
import { runbookFor } from '../../client/runbooks';
import { formatMaintenanceSummary } from '../../client/report';
import { maintenanceReport } from '../../runbooks/maintenance-report';
import { migrateSteps, migrationProblems } from '../../runbooks/migrate';
import { flattenSteps } from '../../runbooks/runbook';
import { hostByName, loadTopology, type Topology } from '../../topology';

const topologyFile = (name: string) => join(__dirname, '../../lab/topologies', `${name}.yaml`);
const classic = loadTopology(topologyFile('classic')).topology;
const patroni = loadTopology(topologyFile('classic-patroni')).topology;
const args = { classicCluster: classic.cluster, master: 'master' };

test('the lab pair migrates; each difference is refused with the field to change and what would be valid', () => {
  assert.deepEqual(migrationProblems(classic, patroni), []);
  const moved: Topology = { ...patroni, hosts: patroni.hosts.map((h) => (h.name === 'slave' ? { ...h, address: '127.0.0.53' } : h)) };
  assert.deepEqual(migrationProblems(classic, moved).map((p) => p.field), ['hosts', 'hosts']);
  assert.match(migrationProblems(classic, moved)[0].message, /slave \(127\.0\.0\.43\) in lab-classic, master \(127\.0\.0\.42\), slave \(127\.0\.0\.53\)|slave \(127\.0\.0\.43\) in lab-classic/);
  const elsewhere = { ...patroni, postgresql: { ...patroni.postgresql, data_dir: '/var/lib/postgresql/patroni-data' } };
  assert.deepEqual(migrationProblems(classic, elsewhere), [
    { field: 'postgresql.data_dir', message: "/var/lib/postgresql/patroni-data in lab-classic; Patroni takes over the classic cluster's data in place: set postgresql.data_dir: /var/lib/postgresql/15/main" },
  ]);
  const otherMaster = { ...patroni, app: { ...patroni.app!, master: 'slave' } };
  assert.deepEqual(migrationProblems(classic, otherMaster).map((p) => p.field), ['app.master']);
  assert.deepEqual(migrationProblems(patroni, classic).map((p) => p.field).slice(0, 2), ['layout', 'layout'], 'the arguments the wrong way round');
  const otherVersion = { ...patroni, postgresql: { ...patroni.postgresql, version: 16 } };
  assert.ok(migrationProblems(classic, otherVersion).some((p) => p.field === 'postgresql.version'));
});

test('the steps: gate and the application monitor stopped first, backups before any change, the primary handed over before the standby, then HAProxy and the application; the probe from its database to the verification, the application monitor last', () => {
  const steps = flattenSteps(migrateSteps(patroni, args));
  const ids = steps.map((s) => s.id);
  const at = (id: string) => {
    const i = ids.indexOf(id);
    assert.ok(i >= 0, `${id} is a step`);
    return i;
  };
  assert.deepEqual(ids.slice(0, 2), ['migrate.source@master', 'migrate.monitor-stopped']);
  assert.ok(at('postgres.probe-database@master') < at('migrate.backup@master'));
  for (const change of ['etcd.member@observer', 'patroni.config@master', 'db.handover@master']) assert.ok(at('migrate.backup@master') < at(change) && at('migrate.backup@slave') < at(change), change);
  assert.ok(at('db.patroni-users@master') < at('db.handover@master'));
  assert.ok(at('db.handover@master') < at('db.handover@slave') && at('db.handover@slave') < at('patroni.streaming@slave'));
  assert.ok(at('haproxy.config@observer') < at('app.config@master') && at('app.config@master') < at('app.config@slave'));
  // The probe stops at the verification; the application monitor of the Patroni cluster comes after it, last.
  assert.deepEqual(ids.slice(-2), ['migrate.verified', 'app.monitor']);
  assert.deepEqual(steps.find((s) => s.id === 'migrate.backup@master')!.input, { host: 'master', database: true });
  assert.deepEqual(steps.find((s) => s.id === 'migrate.backup@slave')!.input, { host: 'slave' });
  assert.deepEqual(steps.find((s) => s.id === 'migrate.monitor-stopped')!.input, { cluster: 'lab-classic' });
  assert.deepEqual(steps.find((s) => s.id === 'migrate.source@master')!.input, { host: 'master', standbys: ['slave'] });
  // No step of the Patroni install that would replace the data: no bootstrap, no replica clone.
  assert.equal(ids.some((id) => id.startsWith('patroni.start@') || id.startsWith('db.config@')), false);
  // It runs on Patroni layouts only: the classic topology is its source, not its target.
  assert.throws(() => runbookFor('migrate', classic, args), /layout: classic/);
});

test("beside the adopted data: Debian's settings included as Patroni's base, pg_hba.conf from the topology (Patroni writes it only when it bootstraps), and start.conf disabled", () => {
  const files = adoptionFiles(patroni, hostByName(patroni, 'master'));
  assert.deepEqual(files.map((f) => f.path), ['/var/lib/postgresql/15/main/postgresql.base.conf', '/var/lib/postgresql/15/main/pg_hba.conf', '/etc/postgresql/15/main/start.conf']);
  const base = files[0].content.split('\n').filter((l) => l && !l.startsWith('#'));
  assert.deepEqual(base, ["include '/etc/postgresql/15/main/postgresql.conf'", "hba_file = '/var/lib/postgresql/15/main/pg_hba.conf'", "ident_file = '/var/lib/postgresql/15/main/pg_ident.conf'", "external_pid_file = ''"]);
  assert.match(files[1].content, /^local all all peer$/m);
  assert.match(files[1].content, /^hostssl replication replicator 127\.0\.0\.0\/8 scram-sha-256$/m, "the lab has TLS: replication over it only");
  assert.equal(files[2].content.split('\n').filter((l) => l && !l.startsWith('#')).join(), 'disabled');
  assert.deepEqual(migrationConfigPaths(patroni).slice(0, 2), ['/etc/postgresql/15/main', '/opt/HA']);
});

test("the migration's report: the handover's pause passes, any other fails naming it", () => {
  const at = (s: number) => Date.parse('2026-12-06T05:00:00Z') + s * 1000;
  const measurement = (outages: { lastAckAt: number; firstFailAt: number; firstAckAfterAt: number; failed: number; firstError: string }[]) => ({
    drill: 'w/r',
    startedAt: at(0),
    endedAt: at(100),
    intervalMs: 100,
    attempts: 990,
    acked: [[1, 980]] as [number, number][],
    ackedCount: 980,
    ackedBy: { '127.0.0.42': 980 },
    outages,
    lost: { checkedOn: '127.0.0.42', count: 0, sample: [] },
    events: [
      { at: at(1), subject: 'app' as const, value: 'up' },
      { at: at(50.2), subject: 'app' as const, value: 'down' },
      { at: at(52.4), subject: 'app' as const, value: 'up' },
    ],
    splitBrain: [],
    interruptions: [],
    stoppedBecause: "the run's step migrate.verified is done, and writes flowed for 5 s after it",
    writeTarget: 'master:5432 directly',
  });
  const steps = [
    { id: 'migrate.backup@master', startedAt: at(5), finishedAt: at(20) },
    { id: 'db.handover@master', startedAt: at(30), finishedAt: at(36) },
    { id: 'db.handover@slave', startedAt: at(40), finishedAt: at(45) },
    { id: 'app.config@master', startedAt: at(50), finishedAt: at(53) },
  ];
  const base = { kind: 'migrate' as const, cluster: 'lab-classic', startedAt: at(0), finishedAt: at(100), steps, switchoverStep: 'db.handover@master', completed: true };
  const pass = maintenanceReport({ ...base, measurement: measurement([{ lastAckAt: at(33.9), firstFailAt: at(34), firstAckAfterAt: at(35.2), failed: 12, firstError: 'terminating connection due to administrator command' }]) });
  assert.equal(pass.verdict.pass, true, pass.verdict.reasons.join('; '));
  assert.equal(pass.switchover, undefined);
  assert.deepEqual(pass.appOutages, [{ from: new Date(at(50.2)).toISOString(), seconds: 2.2, duringStep: 'app.config@master' }], 'reported, not judged');
  assert.match(formatMaintenanceSummary(pass), /application +down 2\.2 s during app\.config@master/);
  assert.match(formatMaintenanceSummary(pass), /write pauses +1\.3 s during db\.handover@master[\s\S]*a write to master:5432 directly every 100 ms/);
  const fail = maintenanceReport({ ...base, measurement: measurement([{ lastAckAt: at(10), firstFailAt: at(10.1), firstAckAfterAt: at(10.6), failed: 4, firstError: 'timeout' }]) });
  assert.deepEqual(fail.verdict.reasons, ["writes paused 0.6 s during migrate.backup@master, not during the primary's handover (db.handover@master)"]);
});
