// The application monitor on the standalone lab, with real `haflow worker` processes: the
// master application machine (node1, also the database leader) loses its power; the monitor
// fails the application over to node2 while Patroni fails the database over, and users reach the
// application through the observer's HAProxy again. node1 comes back fenced (slave, nginx off)
// until `haflow app switchback`. Then the same crash with the worker killed while the monitor
// watches: a new worker carries the monitor on and the failover still happens. A probe through
// HAProxy (GET /health every 250 ms: 200 only while the application writes to its database)
// measures the application-path downtime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { followRun, decide } from '../../client/api';
import { monitorStatus, startMonitor, stopMonitor, switchbackApp } from '../../client/monitor';
import type { Lab } from '../../lab';
import { waitHealthy } from '../support/cluster';
import { completedOrBlocked, labSecrets, startInstall } from '../support/install';
import { labTopology, sshRun, useLab } from '../support/lab';
import { longTest } from '../support/long';
import { waitUntil } from '../support/temporal';
import { useServerWithWorkerProcesses } from '../support/worker-process';
import { appServers as appServersAt, probeApplication } from '../support/app-probe';

labSecrets();
const currentLab = useLab(labTopology('standalone'));
const { env: server, workers } = useServerWithWorkerProcesses();
const APP_URL = 'http://127.0.0.11/health';
const appServers = () => appServersAt('http://127.0.0.11:7000/');

const nginxOn = (lab: Lab, node: string) => sshRun(lab, node, 'echo $(systemctl is-active nginx) $(systemctl is-enabled nginx)', { sudo: true }).then((r) => r.stdout.trim());

/** The application's last write on `node`'s database, as the leader sees it. */
async function heartbeatOn(lab: Lab, node: string): Promise<string> {
  const r = await sshRun(lab, node, `sudo -u postgres psql -X -At -h /var/run/postgresql -d flotomate -c "select pg_is_in_recovery(), host from app_heartbeat where at > now() - interval '20 seconds' order by host"`, { sudo: true });
  return r.stdout.trim();
}

test('the master application machine crashes: the application fails over with the database, answers through HAProxy again, the old master comes back fenced, and switchback makes it master again', async (t) => {
  const lab = currentLab();
  const worker = await workers.start();
  // The install starts the application monitor at its end (app.monitor.autostart: on by default; the lab's topologies turn it off).
  const withMonitor = { ...lab.topology, app: { ...lab.topology.app!, monitor: { ...lab.topology.app!.monitor, autostart: true } } };
  const installed = await completedOrBlocked(await startInstall(server(), withMonitor));
  assert.match(installed.steps.find((s) => s.id === 'app.monitor')!.summary!, /^started the application monitor of cluster lab-standalone \(haflow-monitor-lab-standalone\)/);
  await waitHealthy(lab);
  const cluster = lab.topology.cluster;
  await waitUntil('the first check', () => monitorStatus(server().client, cluster), (v) => v.lastCheck?.lastResult?.startsWith('HTTP 200') === true, 30_000);

  // Continuous file sync: a file written on the master after the install reaches the slave, byte for byte.
  const patch = `patch-${Date.now()}.bin`;
  await sshRun(lab, 'node1', `head -c 100000 /dev/urandom > /opt/flotomate/patches/${patch}`, { sudo: true });
  const onMaster = (await sshRun(lab, 'node1', `sha256sum /opt/flotomate/patches/${patch}`, { sudo: true })).stdout.split(' ')[0];
  await waitUntil('the patch on the slave', () => sshRun(lab, 'node2', `sha256sum /opt/flotomate/patches/${patch} 2>/dev/null`, { sudo: true }).then((r) => r.stdout.split(' ')[0]), (sum) => sum === onMaster, 60_000);
  // Its status shows the last sync (from the watch's heartbeat, sent every few seconds).
  await waitUntil('the sync in the monitor status', () => monitorStatus(server().client, cluster), (v) => /\/opt\/flotomate\/patches: \d+ file\(s\)/.test(v.lastCheck?.lastSync ?? ''), 30_000);

  const probe = probeApplication(APP_URL);
  await new Promise((r) => setTimeout(r, 1_000));
  await lab.crash('node1');
  const failedOver = await waitUntil('the application failover', () => monitorStatus(server().client, cluster), (v) => v.failovers === 1 && v.phase === 'watching', 240_000);
  await waitUntil('the application to answer 200 through HAProxy', async () => probe.downtime(), (d) => d !== undefined && d > 0, 60_000);
  await probe.stop();
  const o = lab.topology.app!.monitor;
  t.diagnostic(`application-path downtime after the master machine crashed: ${probe.downtime()} s (monitor: a check every ${o.interval_seconds} s, failover after ${o.failures} failures)`);
  const event = failedOver.events.find((e) => e.kind === 'failover')!;
  t.diagnostic(`monitor events:\n${failedOver.events.map((e) => `${e.at} ${e.kind} ${e.message}`).join('\n')}`);
  assert.deepEqual([failedOver.master, failedOver.slave, failedOver.unfenced], ['node2', 'node1', 'node1']);
  assert.match(event.message, /failed the application over from node1 to node2; node1 could not be fenced \(unreachable\)/);
  // Users reach node2's application, and its writes land on the new database leader, node2.
  assert.equal((await fetch(APP_URL)).status, 200);
  assert.match(await heartbeatOn(lab, 'node2'), /^f\|node2$/m);

  // node1 powers on with nginx enabled (it was the master): the monitor fences it.
  await lab.boot('node1');
  const fenced = await waitUntil('the late fence of node1', () => monitorStatus(server().client, cluster), (v) => v.events.some((e) => e.kind === 'fenced'), 120_000);
  assert.equal(fenced.unfenced, undefined);
  assert.equal(await nginxOn(lab, 'node1'), 'inactive disabled');
  assert.equal((await sshRun(lab, 'node1', 'cat /opt/HA/role', { sudo: true })).stdout.trim(), 'slave');
  // HAProxy takes its checks' time (fall 3, inter 3 s) to see the fenced node1 down.
  await waitUntil("HAProxy's application servers", () => appServers(), (servers) => JSON.stringify(servers) === JSON.stringify(['node1 DOWN', 'node2 UP']), 20_000);

  // An install of the topology that still says app.master node1 would stop the application where it
  // runs now: its gate blocks, naming the master the nodes recorded, and nothing on node2 changes.
  const stale = await startInstall(server(), lab.topology);
  const blocked = await followRun(stale, () => undefined);
  assert.equal(blocked.status, 'blocked');
  assert.equal(blocked.status === 'blocked' && blocked.step.id, 'app.monitor-hold');
  assert.match(blocked.status === 'blocked' ? blocked.step.error!.message : '', /the topology says app\.master node1, but node2 is recorded as the application master/);
  assert.match(blocked.status === 'blocked' ? blocked.step.error!.remedy! : '', /set app\.master: node2 in the topology .*haflow app switchback lab-standalone/);
  await decide(server().client, cluster, 'app.monitor-hold', 'abort', 'the test checks the refusal');
  await stale.result().catch(() => undefined);
  assert.equal(await nginxOn(lab, 'node2'), 'active enabled', 'nginx still serves on node2');
  assert.equal((await fetch(APP_URL)).status, 200);

  // The operator switches back once node1 is repaired (its database rejoined as a replica).
  await waitHealthy(lab, 180_000);
  const message = await switchbackApp(server().client, cluster);
  assert.match(message, /switched the application back from node2 to node1/);
  const back = await monitorStatus(server().client, cluster);
  assert.deepEqual([back.master, back.slave], ['node1', 'node2']);
  assert.equal(await nginxOn(lab, 'node2'), 'inactive disabled');
  assert.equal((await fetch(APP_URL)).status, 200);
  assert.deepEqual(await appServers(), ['node1 UP', 'node2 DOWN']);
  await workers.kill(worker);
});

test('the worker is killed while the monitor watches, the master machine crashes, a new worker starts: the failover still happens', longTest(), async () => {
  const lab = currentLab();
  const cluster = lab.topology.cluster;
  await workers.start();
  const before = await monitorStatus(server().client, cluster).catch(async () => {
    // Alone (the test above did not run): install and start the monitor here.
    assert.equal((await completedOrBlocked(await startInstall(server(), lab.topology))).status, 'completed');
    await startMonitor(server().client, lab.topology);
    return waitUntil('the first check', () => monitorStatus(server().client, cluster), (v) => v.lastCheck !== undefined, 60_000);
  });
  await workers.killAll();
  await lab.crash(before.master);
  await new Promise((r) => setTimeout(r, 5_000));
  const worker = await workers.start();
  const after = await waitUntil('the failover on the new worker', () => monitorStatus(server().client, cluster), (v) => v.failovers === before.failovers + 1 && v.phase === 'watching', 240_000);
  assert.deepEqual([after.master, after.slave], [before.slave, before.master]);
  assert.equal((await fetch(APP_URL)).status, 200);
  await lab.boot(before.master);
  await waitUntil('the late fence', () => monitorStatus(server().client, cluster), (v) => v.unfenced === undefined, 120_000);
  await workers.kill(worker);
});

test("the observer's machine (etcd and HAProxy) reboots while the monitor watches: the application, cut from its database meanwhile, is not failed over, and the monitor keeps watching", longTest(), async () => {
  const lab = currentLab();
  const cluster = lab.topology.cluster;
  const worker = await workers.start();
  const before = await monitorStatus(server().client, cluster).catch(async () => {
    assert.equal((await completedOrBlocked(await startInstall(server(), lab.topology))).status, 'completed');
    await startMonitor(server().client, lab.topology);
    return waitUntil('the first check', () => monitorStatus(server().client, cluster), (v) => v.lastCheck !== undefined, 60_000);
  });
  await waitHealthy(lab, 180_000);
  await lab.crash('observer');
  // Long enough for the master's checks to fail in a row (it cannot write without HAProxy) and for
  // the monitor to refuse the failover: a machine powered on sooner can answer the monitor's first
  // reading of the database tier, and then there is nothing to refuse.
  await waitUntil('the refused failover', () => monitorStatus(server().client, cluster), (v) => v.events.slice(before.events.length).some((e) => e.kind === 'failover-refused'), 60_000);
  await lab.boot('observer');
  const after = await waitUntil('the monitor back to watching a healthy master', () => monitorStatus(server().client, cluster), (v) => v.phase === 'watching' && v.events.at(-1)?.kind === 'master-recovered', 240_000);
  assert.equal(after.failovers, before.failovers, `no application failover:\n${after.events.map((e) => `${e.kind} ${e.message}`).join('\n')}`);
  assert.equal(after.master, before.master);
  assert.ok(after.events.slice(before.events.length).some((e) => e.kind === 'failover-refused'), `it said why it waited:\n${after.events.slice(before.events.length).map((e) => `${e.at} ${e.kind} ${e.message}`).join('\n')}`);
  await waitUntil('the application through HAProxy', () => fetch(APP_URL).then((r) => r.status, () => 0), (s) => s === 200, 120_000);
  await stopMonitor(server().client, cluster);
  await workers.kill(worker);
});
