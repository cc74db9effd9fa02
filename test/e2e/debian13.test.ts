// The guide's own platform: the standalone layout on Debian 13 machines with PostgreSQL 17,
// Patroni 4, etcd 3.5 and HAProxy 3.0, each machine booted from a root file system built from
// Debian's archive. Installed from bare through the CLI, then a coordinated switchover and a
// crashed leader, each checked against the daemons: the versions they report, the leader Patroni
// names, HAProxy's servers, and every acknowledged write read back from the new leader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DrillReport } from '../../runbooks/report';
import { probeRowsOn, waitHealthy } from '../support/cluster';
import { haflowCli, labSecrets, useInstallEnvironment } from '../support/install';
import { labTopology, sshRun, useLab } from '../support/lab';
import { longTest } from '../support/long';
import { restJson } from '../support/rest';

labSecrets();
process.env.XDG_DATA_HOME = mkdtempSync(join(tmpdir(), 'haflow-debian13-data-'));
const currentLab = useLab(labTopology('standalone-debian13'));
const installEnv = useInstallEnvironment();
const cli = (...args: string[]) => haflowCli(installEnv(), ...args);

function latestReport(): DrillReport {
  const dir = join(process.env.XDG_DATA_HOME!, 'haflow', 'reports', currentLab().topology.cluster);
  const newest = readdirSync(dir).filter((f) => f.endsWith('.json')).sort().at(-1)!;
  return (JSON.parse(readFileSync(join(dir, newest), 'utf8')) as { report: DrillReport }).report;
}

/** Every write the report counts as acknowledged is on the leader, read there with psql's own client. */
async function everyAcknowledgedWriteOn(report: DrillReport, leader: string): Promise<void> {
  const rows = await probeRowsOn(currentLab(), leader, report.probe.drill);
  for (const [first, last] of report.probe.acked) {
    for (let seq = first; seq <= last; seq++) assert.ok(rows.has(seq), `acknowledged write ${seq} is on the leader ${leader}`);
  }
}

test('the machines run Debian 13 with the packages of its archive: PostgreSQL 17, Patroni 4, etcd 3.5, HAProxy 3.0', async () => {
  const lab = currentLab();
  const versions = async (host: string, command: string) => (await sshRun(lab, host, command)).stdout.trim();
  assert.equal(await versions('node1', '. /etc/os-release; echo "$ID $VERSION_ID"'), 'debian 13');
  assert.match(await versions('node1', '/usr/lib/postgresql/17/bin/postgres --version'), /^postgres \(PostgreSQL\) 17\.\d+/);
  assert.match(await versions('node2', 'patroni --version'), /^patroni 4\.\d+\.\d+/);
  assert.match(await versions('observer', 'etcd --version | head -1'), /^etcd Version: 3\.5\.\d+/);
  assert.match(await versions('observer', '/usr/sbin/haproxy -v | head -1'), /^HAProxy version 3\.0\.\d+/);
  // Its own /usr: what the box runs is not what the machine runs.
  assert.doesNotMatch(await versions('node1', 'ls /usr/lib/postgresql'), /15/);
});

test('haflow install from bare: the cluster runs PostgreSQL 17 under Patroni 4, a write through HAProxy reaches the leader and the replica', async () => {
  const lab = currentLab();
  const run = await cli('install', lab.topologyFile);
  assert.equal(run.code, 0, run.out);
  assert.match(run.out, /install of cluster lab-standalone completed/);
  assert.match(run.out, /passed +verify\.write@observer +a write through observer:5000 landed on the leader node1 and is readable on node2/);
  const view = await waitHealthy(lab);
  assert.equal(view.leader, 'node1');
  assert.deepEqual(view.routesTo, ['node1']);
  const served = await sshRun(lab, 'node1', 'sudo -u postgres psql -X -At -h /var/run/postgresql -c "show server_version_num"', { sudo: true });
  assert.match(served.stdout.trim(), /^17\d{4}$/, 'the leader serves PostgreSQL 17');
  // Patroni 4 speaks of a primary, not a master.
  const role = await sshRun(lab, 'node1', 'curl -s --cacert /etc/haflow/tls/ca.crt https://127.0.0.12:8008/patroni');
  assert.equal((JSON.parse(role.stdout) as { role: string }).role, 'primary');
});

test('a coordinated switchover on Patroni 4: HAProxy told at once, the leader asked for leads, no acknowledged write is lost', async () => {
  const lab = currentLab();
  const before = await waitHealthy(lab);
  const to = before.streaming[0];
  const run = await cli('switchover', lab.topologyFile, '--to', to, '--coordinated');
  assert.equal(run.code, 0, run.out);
  const report = latestReport();
  assert.equal(report.verdict.pass, true, report.verdict.reasons.join('; '));
  assert.equal(report.figures.switchover?.coordinated, true, JSON.stringify(report.figures.switchover));
  assert.equal(report.figures.lostWrites, 0);
  const after = await waitHealthy(lab);
  assert.equal(after.leader, to);
  assert.deepEqual(after.routesTo, [to]);
  await everyAcknowledgedWriteOn(report, to);
});

// After the switchover the leader is not the application's master: its crash is the database's alone.
test('a crashed leader on Patroni 4: the replica takes over, no acknowledged write is lost, the prediction uses the ttl Patroni runs with', async () => {
  const lab = currentLab();
  const before = await waitHealthy(lab);
  const run = await cli('drill', lab.topologyFile, '--fault', 'crash-leader');
  assert.equal(run.code, 0, run.out);
  const report = latestReport();
  assert.equal(report.fault, 'crash-leader');
  assert.equal(report.verdict.pass, true, report.verdict.reasons.join('; '));
  assert.equal(report.figures.lostWrites, 0);
  assert.equal(report.figures.splitBrain, false);
  assert.ok(report.figures.writeDowntimeSeconds! > 0);
  const after = await waitHealthy(lab);
  assert.notEqual(after.leader, before.leader, 'leadership moved');
  assert.equal(report.figures.newLeader, after.leader);
  await everyAcknowledgedWriteOn(report, after.leader!);
  // The topology writes ttl 20, what Patroni 4 takes at the least: the detection it predicts is that long.
  assert.ok(report.predicted.expectedSeconds >= 20, `predicted ${report.predicted.expectedSeconds} s with ttl 20`);
  assert.equal(currentLab().status().every((m) => m.state === 'running'), true, 'the crashed machine is powered on again');
});

// A long test: Patroni 4's quorum mode, which `validate` refuses for Debian 12 (test/unit/platforms.test.ts).
test('haflow tune --synchronous quorum: Patroni 4 runs quorum commit, the replica is a quorum standby, a switchover loses nothing; back to off', longTest(), async () => {
  const lab = currentLab();
  const tuned = await cli('tune', lab.topologyFile, '--synchronous', 'quorum');
  assert.equal(tuned.code, 0, tuned.out);
  const config = await restJson<{ synchronous_mode?: unknown }>(lab.topology, lab.host('node1').address, '/config');
  assert.equal(config.synchronous_mode, 'quorum');
  const deadline = Date.now() + 60_000;
  let roles: string[] = [];
  while (Date.now() < deadline) {
    roles = (await restJson<{ members: { role: string }[] }>(lab.topology, lab.host('node1').address, '/cluster')).members.map((m) => m.role).sort();
    if (roles.includes('quorum_standby')) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  assert.deepEqual(roles, ['leader', 'quorum_standby']);
  const before = await waitHealthy(lab);
  const run = await cli('switchover', lab.topologyFile, '--to', before.streaming[0], '--coordinated');
  assert.equal(run.code, 0, run.out);
  const report = latestReport();
  assert.equal(report.figures.lostWrites, 0);
  await everyAcknowledgedWriteOn(report, before.streaming[0]);
  const back = await cli('tune', lab.topologyFile, '--synchronous', 'off');
  assert.equal(back.code, 0, back.out);
});
