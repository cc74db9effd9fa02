// Backups on the standalone lab, through the CLI as an operator runs them: the install sets up
// pgBackRest (the repository on the observer, encrypted; WAL archived through Patroni's
// archive_command) and takes a first full backup from the streaming replica; `haflow backup`
// takes differential and incremental ones; `haflow backups` lists them with the archive; after a
// crash of the leader the new leader archives to the same repository with no action by anyone;
// an install with another passphrase is refused by the preflight before anything changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BackupReport } from '../../activities/backup/activities';
import { waitHealthy } from '../support/cluster';
import { completedOrBlocked, haflowCli, labSecrets, startInstall, useInstallEnvironment } from '../support/install';
import { diskFingerprint, labTopology, sshRun, useLab } from '../support/lab';

labSecrets();
const currentLab = useLab(labTopology('standalone'));
const installEnv = useInstallEnvironment();
const cli = (...args: string[]) => haflowCli(installEnv(), ...args);

const stepsOf = (outcome: { steps: { id: string; status: string; summary?: string }[] }) => Object.fromEntries(outcome.steps.map((s) => [s.id, s]));

test('the install archives WAL and takes a first full backup from the replica; diff and incr backups follow; haflow backups lists them', async () => {
  const lab = currentLab();
  const outcome = await completedOrBlocked(await startInstall(installEnv(), lab.topology));
  assert.equal(outcome.status, 'completed', JSON.stringify(outcome.steps.filter((s) => s.status !== 'done'), null, 1));
  const steps = stepsOf(outcome);
  assert.match(steps['backup.stanza'].summary!, /created the stanza lab-standalone on observer; the leader's WAL reaches it/);
  assert.match(steps['backup.first'].summary!, /took \d{8}-\d{6}F \(full, .* from the streaming replica node2/);
  assert.ok(!JSON.stringify(outcome).includes(process.env.HAFLOW_BACKUP_PASSPHRASE!), 'the passphrase is in no result');
  await waitHealthy(lab);

  const checked = await cli('backup', lab.topologyFile, '--type', 'diff', '--check');
  assert.equal(checked.code, 0, checked.out);
  assert.match(checked.out, /would take a diff backup from the streaming replica node2 into the repository on observer/);
  const diff = await cli('backup', lab.topologyFile, '--type', 'diff');
  assert.equal(diff.code, 0, diff.out);
  const incr = await cli('backup', lab.topologyFile, '--type', 'incr');
  assert.equal(incr.code, 0, incr.out);

  const listed = await cli('backups', lab.topologyFile, '--json');
  assert.equal(listed.code, 0, listed.out);
  const report = JSON.parse(listed.stdout) as BackupReport;
  assert.deepEqual(report.info.backups.map((b) => b.type), ['full', 'diff', 'incr']);
  assert.equal(report.info.cipher, 'aes-256-cbc');
  assert.deepEqual(report.problems, []);

  // The repository's files are encrypted: no PostgreSQL page header in clear text.
  const plain = await sshRun(lab, 'observer', `grep -rlI 'PG_VERSION' ${lab.topology.backup!.repository_path}/backup | head -3`, { sudo: true });
  assert.equal(plain.stdout.trim(), '', 'no file of the repository is readable text');
});

test('after a crash of the leader, the new leader archives to the same repository with no gap, and backups go on', async () => {
  const lab = currentLab();
  const before = JSON.parse((await cli('backups', lab.topologyFile, '--json')).stdout) as BackupReport;
  const oldLeader = before.archiver!.leader;
  const drill = await cli('drill', lab.topologyFile, '--fault', 'crash-leader');
  assert.equal(drill.code, 0, drill.out);
  // The drill's own last step: the new leader archives, since when, and no gap.
  const drilled = (await installEnv().client.workflow.getHandle('haflow-lab-standalone').result()) as { steps: { id: string; summary?: string }[] };
  assert.match(drilled.steps.find((s) => s.id === 'backup.archiving')!.summary!, /^node2 \(timeline 2\) archives to the repository on observer \(pgbackrest check\); its timeline's first segment reached the archive at \S+; no gap in the archive from/);
  await waitHealthy(lab);
  // The new leader's WAL reaches the archive: pgbackrest check forces a segment and waits for it.
  const incr = await cli('backup', lab.topologyFile, '--type', 'incr');
  assert.equal(incr.code, 0, incr.out);
  const after = JSON.parse((await cli('backups', lab.topologyFile, '--json')).stdout) as BackupReport;
  assert.notEqual(after.archiver!.leader, oldLeader, 'another node leads');
  assert.deepEqual(after.problems, []);
  assert.equal(after.info.backups.at(-1)!.type, 'incr');
  // No gap: every segment from the oldest to the newest is in the archive, across the new timeline.
  const listing = await sshRun(lab, 'observer', `sudo -u pgbackrest pgbackrest --stanza=lab-standalone repo-ls --recurse archive/lab-standalone`, { sudo: true });
  const segments = [...listing.stdout.matchAll(/([0-9A-F]{24})-[0-9a-f]{40}/g)].map((m) => m[1]);
  const byTimeline = new Map<string, number[]>();
  for (const wal of segments) byTimeline.set(wal.slice(0, 8), [...(byTimeline.get(wal.slice(0, 8)) ?? []), parseInt(wal.slice(8), 16)]);
  assert.ok(byTimeline.size >= 2, `segments of two timelines: ${[...byTimeline.keys()].join(', ')}`);
  const all = [...byTimeline.values()].flat().sort((a, b) => a - b);
  const missing = all.slice(1).filter((n, i) => n !== all[i] && n !== all[i] + 1);
  assert.deepEqual(missing, [], `every segment number from ${all[0]} to ${all.at(-1)} is archived on one timeline or the other`);
});

test('a restore drill onto the spare machine: rows written before its target are there, none after; a restore to a time before the oldest backup or in the future is refused', async () => {
  const lab = currentLab();
  const drill = await cli('restore', lab.topologyFile, '--to', 'spare', '--drill', '--json');
  assert.equal(drill.code, 0, drill.out);
  const { outcome } = JSON.parse(drill.stdout) as { outcome: { steps: { id: string; summary?: string }[] } };
  const verify = outcome.steps.find((s) => s.id === 'restore.verify')!;
  assert.match(verify.summary!, /^PASS: restore [\d.]+ s to a queryable database; recovery point \S+ \([\d.]+ s before the target \S+\); 50 of 50 rows before the target present with the same checksum, 0 after it/);
  // Checked apart from haflow: psql on the spare machine against the target the leader recorded.
  const leader = JSON.parse((await cli('list', lab.topologyFile, '--json')).stdout).leader as string;
  const recorded = await sshRun(lab, leader, `sudo -u postgres psql -X -At -h /var/run/postgresql -d haflow_probe -c "select run from restore_drill_targets order by target desc limit 1"`, { sudo: true });
  const run = recorded.stdout.trim();
  assert.ok(run.length > 0, recorded.stderr);
  const restored = await sshRun(lab, 'spare', `sudo -u postgres psql -X -At -h /var/run/postgresql -d haflow_probe -c "select (select count(*) from restore_drill_writes where run = '${run}') || ' ' || (select count(*) from restore_drill_targets where run = '${run}') || ' ' || pg_is_in_recovery()"`, { sudo: true });
  assert.equal(restored.stdout.trim(), '50 0 false', restored.stderr);

  const early = await cli('restore', lab.topologyFile, '--to', 'spare', '--target-time', '2020-01-01T00:00:00Z');
  assert.equal(early.code, 1, early.out);
  assert.match(early.out, /is before the oldest backup, \S+, ended/);
  assert.equal((await cli('resume', 'lab-standalone', '--abort')).code, 1, 'the blocked gate is aborted');
  const future = await cli('restore', lab.topologyFile, '--to', 'spare', '--target-time', new Date(Date.now() + 3600_000).toISOString());
  assert.equal(future.code, 1, future.out);
  assert.match(future.out, /is in the future/);
  assert.equal((await cli('resume', 'lab-standalone', '--abort')).code, 1, 'the blocked gate is aborted');
});

test('an install with another passphrase is refused by the preflight, and no machine changes', async () => {
  const lab = currentLab();
  const right = process.env.HAFLOW_BACKUP_PASSPHRASE!;
  const fingerprints = lab.topology.hosts.map((h) => diskFingerprint(h.name, 'etc var/lib/pgbackrest'));
  process.env.HAFLOW_BACKUP_PASSPHRASE = `${right}-not`;
  try {
    const outcome = await completedOrBlocked(await startInstall(installEnv(), lab.topology)).catch((err: Error) => err.message);
    const text = JSON.stringify(outcome);
    assert.match(text, /already holds the stanza lab-standalone, and backup\.passphrase does not open it/);
    assert.ok(!text.includes(right), 'neither passphrase is in the result');
    const aborted = await cli('resume', 'lab-standalone', '--abort');
    assert.equal(aborted.code, 1, aborted.out);
  } finally {
    process.env.HAFLOW_BACKUP_PASSPHRASE = right;
  }
  assert.deepEqual(lab.topology.hosts.map((h) => diskFingerprint(h.name, 'etc var/lib/pgbackrest')), fingerprints, 'nothing changed on any machine');
});
