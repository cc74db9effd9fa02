// Failover on the standalone lab, through the CLI as an operator runs it: `haflow list`, every
// fault of the drill catalog, a switchover --to, a drill refused on an unhealthy cluster and
// while an install holds the cluster, and the heal after an abort. Every figure is checked
// against the real daemons: the cluster's health through Patroni's API and HAProxy's stats,
// and every write a report counts as acknowledged read back from the new leader itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import * as activities from '../../activities';
import type { ClusterHealth } from '../../activities/cluster/health';
import { FAULTS, FAULT_NAMES } from '../../topology/faults';
import type { DrillReport } from '../../runbooks/report';
import { probeRowsOn, waitHealthy } from '../support/cluster';
import { completedOrBlocked, haflowCli, labSecrets, startInstall, useInstallEnvironment, waitForProgress } from '../support/install';
import { labTopology, sshRun, useLab } from '../support/lab';
import { longTest } from '../support/long';
import { restJson } from '../support/rest';

labSecrets();
// Reports go to a data directory of this test's own.
process.env.XDG_DATA_HOME = mkdtempSync(join(tmpdir(), 'haflow-drill-data-'));
const currentLab = useLab(labTopology('standalone'));
/** Failures the test injects into otherwise real activities, to make a step block. */
const blocking = { recovery: false, preflight: false };
const blocked = (what: string) => ApplicationFailure.create({ type: 'GuardFailed', nonRetryable: true, message: `${what} blocked by the test`, details: [{ remedy: 'abort' }] });
const installEnv = useInstallEnvironment({
  awaitRecovery: async (input) => {
    if (blocking.recovery) throw blocked('recovery');
    return activities.awaitRecovery(input);
  },
  preflightHost: async (input) => {
    if (blocking.preflight) throw blocked('preflight');
    return activities.preflightHost(input);
  },
});

const cli = (...args: string[]) => haflowCli(installEnv(), ...args);

function latestReport(): DrillReport {
  const dir = join(process.env.XDG_DATA_HOME!, 'haflow', 'reports', 'lab-standalone');
  const newest = readdirSync(dir).filter((f) => f.endsWith('.json')).sort().at(-1)!;
  return (JSON.parse(readFileSync(join(dir, newest), 'utf8')) as { report: DrillReport }).report;
}

async function installed(): Promise<void> {
  const outcome = await completedOrBlocked(await startInstall(installEnv(), currentLab().topology));
  assert.equal(outcome.status, 'completed');
  await waitHealthy(currentLab());
}

/** A healthy cluster for the test, whichever tests ran before it (installed when it is not). */
async function healthyCluster() {
  return waitHealthy(currentLab(), 5_000).catch(async () => {
    await installed();
    return waitHealthy(currentLab());
  });
}

// A long test: the health and its words are covered without the lab by test/unit/cluster-health.test.ts.
test('haflow list shows the healthy cluster and exits 0; with a replica stopped it exits 1 naming it, and a drill is refused', longTest(), async () => {
  await installed();
  const lab = currentLab();
  const healthy = await cli('list', lab.topologyFile);
  assert.equal(healthy.code, 0, healthy.out);
  assert.match(healthy.out, /\| node1 +\| 127\.0\.0\.12:5432 \| Leader +\| running/);
  assert.match(healthy.out, /\| node2 +\| 127\.0\.0\.13:5432 \| Replica \| streaming/);
  assert.match(healthy.out, /HAProxy observer \(127\.0\.0\.11:5000\) sends writes to node1/);
  const json = await cli('list', lab.topologyFile, '--json');
  assert.equal((JSON.parse(json.out.slice(json.out.indexOf('{'))) as ClusterHealth).leader, 'node1');

  await sshRun(lab, 'node2', 'systemctl stop patroni', { sudo: true });
  try {
    const sick = await cli('list', lab.topologyFile);
    assert.equal(sick.code, 1, sick.out);
    assert.match(sick.out, /NOT HEALTHY/);
    assert.match(sick.out, /node2/);
    const refused = await cli('drill', lab.topologyFile, '--fault', 'crash-leader');
    assert.equal(refused.code, 2, refused.out);
    assert.match(refused.out, /drill crash-leader refused: cluster lab-standalone is not healthy/);
  } finally {
    await sshRun(lab, 'node2', 'systemctl start patroni', { sudo: true });
  }
  await waitHealthy(lab);
});

for (const fault of FAULT_NAMES) {
  // Long tests: partition-leader takes two minutes (the old leader's rejoin after the heal);
  // crash-observer and crash-app-master strike a machine whose crash other tests cover
  // (test/e2e/app-monitor.test.ts), here through the drill's report; a switchover is covered
  // below (--to, --at), by the coordinated ones (test/e2e/maintenance.test.ts, debian13.test.ts).
  const long = ['partition-leader', 'crash-observer', 'crash-app-master', 'switchover'].includes(fault);
  test(`drill ${fault}: completes, the cluster ends healthy, the downtime is measured, and every acknowledged write is on the leader`, long ? longTest() : {}, async () => {
    const lab = currentLab();
    const before = await healthyCluster();
    // The planned switchover also switches back, as a scheduled drill would, to show --switch-back.
    const switchBack = fault === 'switchover';
    // A crash of the application master tests the application monitor: it runs for that drill.
    const appFault = FAULTS[fault].target === 'app-master';
    if (appFault) {
      const refused = await cli('drill', lab.topologyFile, '--fault', fault);
      assert.equal(refused.code, 2, refused.out);
      assert.match(refused.out, /tests the application monitor, and cluster lab-standalone has no application monitor: `haflow monitor start <topology>`/);
      const started = await cli('monitor', 'start', lab.topologyFile);
      assert.equal(started.code, 0, started.out);
    }
    const run = await cli('drill', lab.topologyFile, '--fault', fault, ...(switchBack ? ['--switch-back'] : []));
    if (appFault) {
      const monitor = await cli('monitor', 'status', 'lab-standalone');
      assert.match(monitor.out, /failover +failed the application over from node1 to node2/, monitor.out);
      assert.equal((await cli('monitor', 'stop', 'lab-standalone')).code, 0);
    }
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, new RegExp(`drill ${fault} on \\S+ on cluster lab-standalone: PASS`));
    const report = latestReport();
    assert.equal(report.fault, fault);
    if (appFault) assert.ok(report.figures.appDowntimeSeconds! > 0, `the application was down for a while: ${JSON.stringify(report.figures)}`);
    else assert.ok(report.figures.writeDowntimeSeconds! > 0, `a ${fault} makes writes fail for a while: ${report.figures.writeDowntimeSeconds}`);
    assert.equal(report.figures.lostWrites, 0);
    assert.equal(report.figures.splitBrain, false);
    // The lab's cluster has an application tier: its path through HAProxy is measured too.
    assert.ok(report.figures.appDowntimeSeconds !== undefined || report.figures.appDownAtLeastSeconds !== undefined, `the application path is measured: ${JSON.stringify(report.figures)}`);

    // Checked against the daemons themselves, not through haflow.
    const after = await waitHealthy(lab);
    if (switchBack) {
      assert.equal(after.leader, before.leader, 'switched back to the leader before the drill');
      assert.notEqual(report.figures.newLeader, before.leader, 'during the drill another member led');
    } else if (FAULTS[fault].leaderMoves) assert.notEqual(after.leader, before.leader, 'leadership moved');
    const rows = await probeRowsOn(lab, report.figures.newLeader!, report.probe.drill);
    for (const [first, last] of report.probe.acked) {
      for (let seq = first; seq <= last; seq++) assert.ok(rows.has(seq), `acknowledged write ${seq} is on the leader ${after.leader}`);
    }
    assert.ok(rows.size >= report.figures.acknowledgedWrites);
    assert.equal(currentLab().status().every((m) => m.state === 'running'), true, 'every machine is powered on again');
    assert.deepEqual((await lab.rules()).filter((r) => r.startsWith('-A HAFLOW-LAB')), [], 'no partition or power cut left in place');
  });
}

test('switchover --to a replica: the leader is the one asked for, the old one streams from it', async () => {
  const lab = currentLab();
  const before = await healthyCluster();
  const to = lab.topology.hosts.find((h) => h.roles.includes('db') && h.name !== before.leader)!.name;
  const run = await cli('switchover', lab.topologyFile, '--to', to);
  assert.equal(run.code, 0, run.out);
  const after = await waitHealthy(lab);
  assert.equal(after.leader, to);
  assert.deepEqual(after.streaming, [before.leader]);
  assert.match(run.out, /switchover from \S+ to \S+ on cluster lab-standalone: PASS/);
  assert.ok(latestReport().figures.writeDowntimeSeconds! > 0);
  const reports = await cli('reports', 'lab-standalone');
  assert.equal(reports.code, 0, reports.out);
  assert.match(reports.out, /-switchover-switchover\s+switchover\s+PASS/);
});

test('switchover --at: Patroni holds it until then and `haflow cancel` withdraws it; another happens at its time, verified and measured', async () => {
  const lab = currentLab();
  const before = await healthyCluster();
  const to = lab.topology.hosts.find((h) => h.roles.includes('db') && h.name !== before.leader)!.name;
  // Asked of Patroni itself: its /cluster shows a pending scheduled switchover.
  const pending = async () => ((await restJson(lab.topology, lab.host(before.leader!).address, '/cluster')) as { scheduled_switchover?: { at: string; to?: string } }).scheduled_switchover;

  const later = new Date(Date.now() + 90_000).toISOString();
  const scheduled = await cli('switchover', lab.topologyFile, '--to', to, '--at', later, '--detach');
  assert.equal(scheduled.code, 0, scheduled.out);
  const deadline = Date.now() + 30_000;
  while ((await pending())?.to !== to && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
  assert.equal((await pending())?.to, to, 'Patroni holds the scheduled switchover');
  const busy = await cli('drill', lab.topologyFile, '--fault', 'switchover');
  assert.notEqual(busy.code, 0, busy.out);
  assert.match(busy.out, /cluster lab-standalone is busy: switchoverWorkflow/, 'the scheduled switchover holds the cluster until it has happened');
  const cancelled = await cli('cancel', 'lab-standalone');
  assert.equal(cancelled.code, 0, cancelled.out);
  assert.equal(await pending(), undefined, 'the cancel withdrew it from Patroni');
  assert.equal((await waitHealthy(lab)).leader, before.leader);

  const at = Date.now() + 15_000;
  const run = await cli('switchover', lab.topologyFile, '--to', to, '--at', new Date(at).toISOString());
  assert.equal(run.code, 0, run.out);
  assert.equal((await waitHealthy(lab)).leader, to);
  const report = latestReport();
  assert.equal(Date.parse(report.injectedAt), at, 'the report counts from the scheduled time');
  assert.ok(report.figures.writeDowntimeSeconds! > 0, 'the probe saw the switchover');
  // Outages are in seconds from the strike, here the scheduled time.
  const outage = report.probe.outages[0]!;
  assert.ok(outage.from >= -1 && outage.from < 10, `the writes stopped at the scheduled time, not before nor long after (outage from ${outage.from} s)`);
});

test('a drill is refused while an install holds the cluster', async () => {
  const lab = currentLab();
  await healthyCluster();
  blocking.preflight = true;
  try {
    const install = await startInstall(installEnv(), lab.topology);
    await waitForProgress(install, 'the install to block', (p) => p.status === 'blocked');
    const refused = await cli('drill', lab.topologyFile, '--fault', 'switchover');
    assert.notEqual(refused.code, 0, refused.out);
    assert.match(refused.out, /cluster lab-standalone is busy: installWorkflow haflow-lab-standalone .* is still running/);
    await install.terminate('the test is done with it');
  } finally {
    blocking.preflight = false;
  }
});

test('after an abort at the blocked step that follows the fault, the heal runs: the machine is powered on and the cluster heals', async () => {
  const lab = currentLab();
  const before = await healthyCluster();
  blocking.recovery = true;
  try {
    const started = await cli('drill', lab.topologyFile, '--fault', 'crash-leader', '--detach');
    assert.equal(started.code, 0, started.out);
    const handle = installEnv().client.workflow.getHandle('haflow-lab-standalone');
    await waitForProgress(handle, 'the recovery step to block', (p) => p.steps.some((s) => s.id === 'failover.recovered' && s.status === 'blocked'));
    assert.notEqual(currentLab().status().find((m) => m.name === before.leader)!.state, 'running', 'the fault is in place while the operator decides');
    const aborted = await cli('resume', 'lab-standalone', '--abort', '--reason', 'testing the heal');
    assert.equal(aborted.code, 1, aborted.out);
    assert.match(aborted.out, /aborted/);
  } finally {
    blocking.recovery = false;
  }
  assert.equal(currentLab().status().find((m) => m.name === before.leader)!.state, 'running', 'the heal powered the old leader on before the run ended');
  // Healed within the leader key's ttl, the old leader may well lead again: either way, healthy.
  await waitHealthy(lab, 180_000);
});

test('haflow tune to the fast profile and synchronous mode: a crashed leader costs less downtime, and no acknowledged write', longTest(), async () => {
  const lab = currentLab();
  await healthyCluster();
  const drill = async () => {
    await waitHealthy(lab);
    // By name: the topology of the cluster's latest operation, so the tuned one after the tune.
    const run = await cli('drill', 'lab-standalone', '--fault', 'crash-leader');
    assert.equal(run.code, 0, run.out);
    return latestReport();
  };
  const before = await drill();
  const tuned = await cli('tune', 'lab-standalone', '--profile', 'fast', '--synchronous', 'on');
  assert.equal(tuned.code, 0, tuned.out);
  assert.match(tuned.out, /tune of cluster lab-standalone completed/);
  // Asked of Patroni and HAProxy themselves.
  const leader = (await waitHealthy(lab)).leader!;
  const config = (await restJson(lab.topology, lab.host(leader).address, '/config')) as { ttl: number; loop_wait: number; synchronous_mode: boolean };
  assert.deepEqual([config.ttl, config.loop_wait, config.synchronous_mode], [6, 1, true]);
  const cfg = await sshRun(lab, 'observer', 'cat /etc/haproxy/haproxy.cfg', { sudo: true });
  assert.match(cfg.stdout, /default-server inter 500ms fall 2 rise 1/);
  const after = await drill();
  assert.equal(after.settings.ttl, 6, 'the drill ran with the tuned timings (the topology of the latest operation)');
  assert.equal(after.settings.synchronous_mode, 'on');
  assert.equal(after.figures.lostWrites, 0, 'in synchronous mode no acknowledged write is lost');
  assert.ok(after.figures.writeDowntimeSeconds! < before.figures.writeDowntimeSeconds!, `fast ${after.figures.writeDowntimeSeconds} s, before ${before.figures.writeDowntimeSeconds} s`);
});
