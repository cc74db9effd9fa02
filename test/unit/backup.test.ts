// The backup component without a server: the topology's rules, pgBackRest's configuration on
// both sides, Patroni's archive settings, the firewall's SSH rules, and the reading of
// `pgbackrest info` and of the archive's lag.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { backupProblems, pgbackrestFailed } from '../../activities/backup/activities';
import { backupFiles, renderNodeConfig, renderRepositoryConfig, renderSshCommand } from '../../activities/backup/config';
import { archiveGaps, archivedSegments, parseStanzaInfo, segmentNumber } from '../../activities/backup/info';
import { pgbackrestTargetTime, recoveryPointFromLog } from '../../activities/backup/restore';
import { packagesFor, secretPlaceholder } from '../../activities/components';
import { renderPatroniYml, type PatroniConfig } from '../../activities/patroni/config';
import { checkTopology, firewallMatrix, type Topology } from '../../topology';
import { backupSteps } from '../../runbooks/backup';
import { restoreSteps } from '../../runbooks/restore';
import { installSteps } from '../../runbooks/install';
import { flattenSteps } from '../../runbooks/runbook';
import { hostNamed, standalone } from '../support/topologies';

const hosts = (observerRoles: string[]) => [
  { name: 'observer', address: '10.0.0.11', roles: observerRoles },
  { name: 'node1', address: '10.0.0.12', roles: ['app', 'db'] },
  { name: 'node2', address: '10.0.0.13', roles: ['app', 'db'] },
] as Topology['hosts'];

const withBackups = (extra: Record<string, unknown> = {}) =>
  standalone({ hosts: hosts(['observer', 'etcd', 'haproxy', 'backup']), haproxy: { stats_auth: { username: 'haflow', password: { env: 'STATS' } } }, backup: { passphrase: { env: 'BACKUP_PASSPHRASE' }, ...extra } } as never);

const secrets = { superuser: 's', replication: 'r', rewind: 'w' };

describe('the topology', () => {
  test('backups need the backup role on exactly one host that is not a DB node', () => {
    assert.deepEqual(checkTopology(withBackups()).filter((i) => i.severity === 'error'), []);
    const noRole = standalone({ backup: { passphrase: { env: 'P' } } } as never);
    assert.ok(checkTopology(noRole).some((i) => i.path === 'hosts' && /exactly 1 host with role backup/.test(i.message)));
    const onDb = standalone({ hosts: [...hosts(['observer', 'etcd', 'haproxy']).slice(0, 1), { name: 'node1', address: '10.0.0.12', roles: ['app', 'db', 'backup'] }, hosts([])[2]], backup: { passphrase: { env: 'P' } } } as never);
    assert.ok(checkTopology(onDb).some((i) => i.path === 'hosts[1].roles' && /must survive the loss of any DB node/.test(i.message)));
    const roleOnly = standalone({ hosts: hosts(['observer', 'etcd', 'haproxy', 'backup']) } as never);
    assert.ok(checkTopology(roleOnly).some((i) => i.path === 'hosts[0].roles' && /no backup: section/.test(i.message)));
  });

  test('retention is by count or by age, not both; the repository is a directory of its own', () => {
    assert.throws(() => withBackups({ retention: { full: 2, full_days: 7 } }), /exactly one of full .* and full_days/);
    const bad = withBackups({ repository_path: '/var' });
    assert.ok(checkTopology(bad).some((i) => i.path === 'backup.repository_path' && /system directory/.test(i.message)));
    const root = withBackups({ user: 'root' });
    assert.ok(checkTopology(root).some((i) => i.path === 'backup.user'));
  });
});

describe("pgBackRest's configuration", () => {
  const t = withBackups({ retention: { full: 3, diff: 4 } });
  test('the repository: encrypted with the passphrase (a placeholder when shown), retention, every DB node over SSH', () => {
    const text = renderRepositoryConfig(t, hostNamed(t, 'observer'), secretPlaceholder);
    assert.match(text, /^repo1-cipher-type=aes-256-cbc$/m);
    assert.match(text, /^repo1-cipher-pass=<env BACKUP_PASSPHRASE>$/m);
    assert.match(text, /^repo1-retention-full-type=count$/m);
    assert.match(text, /^repo1-retention-full=3$/m);
    assert.match(text, /^repo1-retention-diff=4$/m);
    assert.match(text, /^\[serviceops\]\npg1-host=10\.0\.0\.12\npg1-host-user=postgres\npg1-host-port=22\npg1-path=\S+\npg1-port=5432/m);
    assert.match(text, /^pg2-host=10\.0\.0\.13$/m);
    assert.match(text, /^cmd-ssh=\/etc\/haflow\/backup\/ssh$/m);
    const byAge = renderRepositoryConfig(withBackups({ retention: { full_days: 14 } }), hostNamed(t, 'observer'), secretPlaceholder);
    assert.match(byAge, /^repo1-retention-full-type=time\nrepo1-retention-full=14$/m);
  });

  test('a DB node: the repository host, asynchronous archiving, no passphrase', () => {
    const text = renderNodeConfig(t, hostNamed(t, 'node1'));
    assert.match(text, /^repo1-host=10\.0\.0\.11$/m);
    assert.match(text, /^repo1-host-user=pgbackrest$/m);
    assert.match(text, /^archive-async=y$/m);
    assert.doesNotMatch(text, /cipher/);
    const files = backupFiles(t, hostNamed(t, 'node1'), secretPlaceholder);
    assert.deepEqual(files.map((f) => [f.path, f.group, f.mode]), [['/etc/pgbackrest.conf', 'postgres', 0o640], ['/etc/haflow/backup/ssh', 'root', 0o755]]);
    const repo = backupFiles(t, hostNamed(t, 'observer'), secretPlaceholder)[0];
    assert.deepEqual([repo.group, repo.secret, repo.passwordKeys], ['pgbackrest', 'passwords', ['repo1-cipher-pass']]);
  });

  test("the SSH command: haflow's key and known_hosts, no prompt, from the host's own address", () => {
    const text = renderSshCommand(t, hostNamed(t, 'node2'));
    assert.match(text, /^exec \/usr\/bin\/ssh -i \/etc\/haflow\/backup\/id_ed25519 -o UserKnownHostsFile=\/etc\/haflow\/backup\/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes .*-o BindAddress=10\.0\.0\.13 .*"\$@"$/m);
  });

  test('pgBackRest goes on the repository host and the DB nodes only, and nowhere without backups', () => {
    assert.ok(packagesFor(t, hostNamed(t, 'observer'), 'apt').includes('pgbackrest'));
    assert.ok(packagesFor(t, hostNamed(t, 'node2'), 'apt').includes('pgbackrest'));
    assert.ok(!packagesFor(standalone(), hostNamed(standalone(), 'node2'), 'apt').includes('pgbackrest'));
  });
});

describe("Patroni's archive settings", () => {
  test('with backups every node archives to the repository and makes replicas from it first', () => {
    const t = withBackups({ archive_timeout_seconds: 30 });
    const config = parse(renderPatroniYml(t, hostNamed(t, 'node2'), secrets)) as PatroniConfig;
    assert.equal(config.postgresql.parameters.archive_mode, 'on');
    assert.equal(config.postgresql.parameters.archive_command, 'pgbackrest --stanza=serviceops archive-push %p');
    assert.equal(config.postgresql.parameters.archive_timeout, 30);
    assert.deepEqual(config.postgresql.recovery_conf, { restore_command: 'pgbackrest --stanza=serviceops archive-get %f "%p"' });
    assert.deepEqual(config.postgresql.create_replica_methods, ['pgbackrest', 'basebackup']);
    assert.deepEqual(config.postgresql.pgbackrest, { command: 'pgbackrest --stanza=serviceops --delta restore', keep_data: true, no_params: true });
  });

  test('without backups nothing of the kind', () => {
    const t = standalone();
    const config = parse(renderPatroniYml(t, hostNamed(t, 'node2'), secrets)) as PatroniConfig;
    assert.equal(config.postgresql.parameters.archive_mode, undefined);
    assert.equal(config.postgresql.create_replica_methods, undefined);
  });
});

test("the firewall matrix has pgBackRest's SSH both ways", () => {
  const rules = firewallMatrix(withBackups()).map((r) => `${r.from.name}>${r.to.name}:${r.port} ${r.purpose}`);
  assert.ok(rules.includes("observer>node1:22 pgBackRest's SSH from the repository"));
  assert.ok(rules.includes("node2>observer:22 pgBackRest's SSH to the repository"));
});

test('the install sets pgBackRest up beside etcd and Patroni and ends with the stanza and a first backup; haflow backup is gate, backup, verify', () => {
  const t = withBackups();
  const ids = flattenSteps(installSteps(t)).map((s) => s.id);
  for (const id of ['backup.config@observer', 'backup.config@node1', 'backup.access', 'backup.stanza', 'backup.first']) assert.ok(ids.includes(id), id);
  assert.ok(ids.indexOf('backup.stanza') > ids.indexOf('patroni.streaming@node2'));
  assert.ok(!flattenSteps(installSteps(standalone())).some((s) => s.id.startsWith('backup.')));
  assert.deepEqual(flattenSteps(backupSteps(t, { type: 'incr' })).map((s) => s.id), ['backup.gate', 'backup.take', 'backup.verify']);
  assert.throws(() => backupSteps(standalone(), { type: 'full' }), /has no backups/);
});

const INFO = JSON.stringify([
  {
    name: 'serviceops',
    cipher: 'aes-256-cbc',
    status: { code: 0, message: 'ok', lock: { backup: { held: false } } },
    db: [{ id: 1, version: '15', 'system-id': 7716745961269666519 }],
    archive: [{ id: '15-1', min: '000000010000000000000002', max: '00000001000000010000000A', database: { id: 1 } }],
    backup: [
      { label: '20261208-020000F', type: 'full', timestamp: { start: 1796004000, stop: 1796004012 }, info: { size: 23000000, repository: { delta: 3000000, size: 3000000 } }, archive: { start: '000000010000000000000004', stop: '000000010000000000000004' }, prior: null, annotation: { 'haflow-run': 'w/1' }, error: false },
      { label: '20261208-020000F_20261208-021000I', type: 'incr', timestamp: { start: 1796004600, stop: 1796004603 }, info: { size: 23100000, repository: { delta: 20000, size: 3020000 } }, archive: { start: '000000010000000000000009', stop: '000000010000000000000009' }, prior: '20261208-020000F' },
    ],
  },
]);

describe('pgbackrest info and the archive', () => {
  test('the backups, oldest first, with their WAL range and what they hold in the repository', () => {
    const info = parseStanzaInfo(INFO, 'serviceops');
    assert.equal(info.statusCode, 0);
    assert.equal(info.archiveMax, '00000001000000010000000A');
    assert.deepEqual(info.backups.map((b) => [b.label, b.type, b.seconds, b.repositoryBytes, b.prior ?? null]), [
      ['20261208-020000F', 'full', 12, 3000000, null],
      ['20261208-020000F_20261208-021000I', 'incr', 3, 20000, '20261208-020000F'],
    ]);
    assert.equal(info.backups[0].annotations['haflow-run'], 'w/1');
    assert.equal(parseStanzaInfo('[]', 'serviceops').statusMessage, 'missing stanza path');
    assert.throws(() => parseStanzaInfo('ERROR: nope', 'serviceops'), /did not print JSON/);
  });

  test('a WAL segment counts across the 256 segments of each log', () => {
    assert.equal(segmentNumber('00000001000000010000000A') - segmentNumber('0000000100000000000000FF'), 11);
    assert.throws(() => segmentNumber('0001'), /not a WAL segment name/);
  });

  test('problems: no backup, archiving that fails, an archive that falls behind', () => {
    const info = parseStanzaInfo(INFO, 'serviceops');
    const base = { cluster: 'serviceops', stanza: 'serviceops', repositoryHost: 'observer', checkedAt: '2026-12-08T02:20:00Z', info };
    assert.deepEqual(backupProblems({ ...base, archiveLagSegments: 0, archiveAgeSeconds: 10 }, 60), []);
    assert.match(backupProblems({ ...base, info: { ...info, backups: [] } }, 60).join(), /holds no backup/);
    const failing = { leader: 'node1', currentWal: '00000001000000010000000C', lastArchivedWal: '00000001000000010000000A', lastArchivedAt: '2026-12-08T02:00:00Z', failedCount: 4, lastFailedWal: '00000001000000010000000B', lastFailedAt: '2026-12-08T02:19:00Z' };
    assert.match(backupProblems({ ...base, archiver: failing, archiveLagSegments: 1, archiveAgeSeconds: 1200 }, 60).join('\n'), /fails to archive WAL.*00000001000000010000000B/);
    assert.match(backupProblems({ ...base, archiveLagSegments: 5, archiveAgeSeconds: 20 }, 60).join(), /5 WAL segment\(s\) behind/);
    assert.deepEqual(backupProblems({ ...base, archiveLagSegments: 1, archiveAgeSeconds: 20 }, 60), [], 'one segment waiting a little is normal');
  });
});

describe('restores', () => {
  const spare = { name: 'spare', address: '10.0.0.14', roles: ['restore'] };
  const withSpare = () => standalone({ hosts: [...hosts(['observer', 'etcd', 'haproxy', 'backup']), spare], haproxy: { stats_auth: { username: 'haflow', password: { env: 'STATS' } } }, backup: { passphrase: { env: 'P' } } } as never);

  test('a restore host is a machine of its own, beside the layout’s hosts', () => {
    assert.deepEqual(checkTopology(withSpare()).filter((i) => i.severity === 'error'), []);
    const shared = standalone({ hosts: [...hosts(['observer', 'etcd', 'haproxy', 'backup', 'restore'])], backup: { passphrase: { env: 'P' } } } as never);
    assert.ok(checkTopology(shared).some((i) => i.path === 'hosts[0].roles' && /role restore beside observer/.test(i.message)));
    const noBackups = standalone({ hosts: [...hosts(['observer', 'etcd', 'haproxy']), spare] } as never);
    assert.ok(checkTopology(noBackups).some((i) => i.path === 'hosts[3].roles' && /has role restore, but the topology has no backup: section/.test(i.message)));
  });

  test('the restore host gets PostgreSQL and pgBackRest, restores into backup.restore_dir, and reaches the repository', () => {
    const t = withSpare();
    const host = hostNamed(t, 'spare');
    assert.deepEqual([...packagesFor(t, host, 'apt')].sort(), ['pgbackrest', 'postgresql-16']);
    assert.match(renderNodeConfig(t, host), /^pg1-path=\/var\/lib\/postgresql\/haflow-restore$/m);
    const rules = firewallMatrix(t).map((r) => `${r.from.name}>${r.to.name}:${r.port}`);
    assert.ok(rules.includes('spare>observer:22'));
    assert.ok(!rules.includes('observer>spare:22'), 'the repository never reaches into the restore host');
  });

  test('a restore is gate and restore; a drill writes its known rows first and checks the copy last', () => {
    const t = withSpare();
    assert.deepEqual(flattenSteps(restoreSteps(t, { to: 'spare', targetTime: '2026-12-08T02:00:00.000Z' })).map((s) => s.id), ['restore.gate', 'restore.host@spare']);
    const drill = restoreSteps(t, { to: 'spare' });
    assert.equal(drill.name, 'restore-drill');
    assert.deepEqual(flattenSteps(drill).map((s) => s.id), ['restore.gate', 'restore.markers', 'restore.host@spare', 'restore.verify']);
  });

  test("a target time in pgBackRest's form, and the recovery point from the restored server's log", () => {
    assert.equal(pgbackrestTargetTime('2026-12-08T02:30:00.123456Z'), '2026-12-08 02:30:00.123+00');
    assert.equal(pgbackrestTargetTime('2026-12-08T03:30:00+01:00'), '2026-12-08 02:30:00.000+00');
    assert.throws(() => pgbackrestTargetTime('yesterday'), /not a time/);
    const log = [
      '2026-12-08 02:31:02.100 UTC [90] LOG:  starting point-in-time recovery to 2026-12-08 02:30:00.123+00',
      '2026-12-08 02:31:03.200 UTC [90] LOG:  recovery stopping before commit of transaction 812, time 2026-12-08 02:30:00.91234+00',
      '2026-12-08 02:31:03.210 UTC [90] LOG:  last completed transaction was at log time 2026-12-08 02:29:59.0456+00',
    ].join('\n');
    assert.equal(recoveryPointFromLog(log), '2026-12-08T02:29:59.045Z');
    assert.equal(recoveryPointFromLog('nothing'), undefined);
  });
});

test('the archive listed by pgbackrest repo-ls: its segments, and the gaps across timelines', () => {
  const listing = JSON.stringify({
    '15-1': { type: 'path' },
    '15-1/0000000100000000': { type: 'path' },
    '15-1/0000000100000000/000000010000000000000003-1111111111111111111111111111111111111111.zst': { type: 'file', size: 10, time: 1796004000 },
    '15-1/0000000100000000/000000010000000000000004-2222222222222222222222222222222222222222.zst': { type: 'file', size: 10, time: 1796004060 },
    '15-1/0000000100000000/000000010000000000000004.00000028.backup': { type: 'file', size: 1, time: 1796004061 },
    '15-1/00000002.history': { type: 'file', size: 1, time: 1796004100 },
    '15-1/0000000200000000/000000020000000000000005-3333333333333333333333333333333333333333.zst': { type: 'file', size: 10, time: 1796004120 },
    '15-1/0000000200000000/000000020000000000000008-4444444444444444444444444444444444444444.zst': { type: 'file', size: 10, time: 1796004180 },
  });
  const segments = archivedSegments(listing);
  assert.deepEqual(segments.map((s) => s.wal), ['000000010000000000000003', '000000010000000000000004', '000000020000000000000005', '000000020000000000000008']);
  assert.deepEqual(archiveGaps(segments), ['0000000000000006…0000000000000007']);
  assert.deepEqual(archiveGaps(segments.slice(0, 3)), [], 'the new timeline carries on where the old one ended');
});

test("pgBackRest's failures carry the remedy a database administrator needs; a full disk and a wrong passphrase are not retried", () => {
  const repository = { name: 'observer', address: '10.0.0.11', roles: ['backup'] } as Topology['hosts'][number];
  const full = pgbackrestFailed('the full backup of pgha', { code: 47, stdout: '', stderr: 'ERROR: [047]: unable to write to /var/lib/pgbackrest/backup/pgha: [28] No space left on device' }, repository);
  assert.equal(full.nonRetryable, true);
  assert.match(full.message, /^the full backup of pgha failed \(pgBackRest exit 47\): ERROR: \[047\]: unable to write/);
  assert.match(JSON.stringify(full.details), /the repository's disk on observer is full: free space or lower backup.retention/);
  const cipher = pgbackrestFailed('pgbackrest check', { code: 95, stdout: '', stderr: 'ERROR: [095]: unable to load info file\n       CryptoError: unable to flush\n       HINT: is or was the repo encrypted?' }, repository);
  assert.equal(cipher.nonRetryable, true);
  assert.match(JSON.stringify(cipher.details), /another passphrase/);
  const gone = pgbackrestFailed('the diff backup of pgha', { code: 82, stdout: '', stderr: "ERROR: [082]: unable to connect: ssh: connect to host 10.0.0.12 port 22: Connection refused" }, repository);
  assert.equal(gone.nonRetryable, false, 'a host that does not answer may answer on a retry');
  assert.match(JSON.stringify(gone.details), /did not answer pgBackRest's SSH or PostgreSQL/);
});
