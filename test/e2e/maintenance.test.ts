// Planned maintenance on the standalone lab, with real `haflow worker` processes and the CLI as
// an operator runs it: coordinated switchovers back and forth (HAProxy told through its runtime
// API), and a rolling restart whose worker is killed mid-run and replaced. Every figure is checked
// against the daemons: Patroni's REST API on each node (who leads, when PostgreSQL started), the
// stats page of HAProxy, and each acknowledged probe write read back from the final leader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyWriteThroughHaproxy } from '../../activities/postgres/activities';
import { shellQuote } from '../../activities/shared/shell';
import type { DrillReport } from '../../runbooks/report';
import type { MaintenanceOutcome } from '../../workflows/maintenance';
import { clusterWorkflowId } from '../../connection/workflow-ids';
import { probeRowsOn, waitHealthy } from '../support/cluster';
import { completedOrBlocked, haflowCli, labSecrets, startInstall, waitForProgress } from '../support/install';
import { labTopology, sshRun, useLab } from '../support/lab';
import { loadTopology } from '../../topology';
import { requires } from '../support/requires';
import { longTest } from '../support/long';
import { useServerWithWorkerProcesses } from '../support/worker-process';
import { restJson } from '../support/rest';
import { certificateFacts, certificateProblem, pemCertificates } from '../../activities/tls/certificates';
import { certificateAuthority } from '../../topology/tls';

labSecrets();
process.env.XDG_DATA_HOME = mkdtempSync(join(tmpdir(), 'haflow-maintenance-data-'));
const currentLab = useLab(labTopology('standalone'));
const { env: server, workers } = useServerWithWorkerProcesses();
const cli = (...args: string[]) => haflowCli(server(), ...args);

/** Ten in the long suite (HAFLOW_LONG_TESTS=1), as the issue of planned maintenance asks; two (there and back) by default. */
const COORDINATED_ROUNDS = process.env.HAFLOW_LONG_TESTS === '1' ? 10 : 2;

function latestReport(): DrillReport {
  const dir = join(process.env.XDG_DATA_HOME!, 'haflow', 'reports', 'lab-standalone');
  const newest = readdirSync(dir).filter((f) => f.endsWith('.json')).sort().at(-1)!;
  return (JSON.parse(readFileSync(join(dir, newest), 'utf8')) as { report: DrillReport }).report;
}

/** When PostgreSQL's postmaster started on `node`, as its Patroni says. */
async function postmasterStart(node: string): Promise<string> {
  const status = (await restJson(currentLab().topology, currentLab().host(node).address, '/patroni')) as { postmaster_start_time: string };
  return status.postmaster_start_time;
}

/** The PostgreSQL major of the lab's platform (15 on Debian 12, 17 on Debian 13). */
const PG = loadTopology(labTopology('standalone')).topology.postgresql.version;
/**
 * The older of the two PostgreSQL versions of this major Debian serves (the release's, below its
 * security update's), if there are two. The box's package lists are Debian 12's: for Debian 13's
 * PostgreSQL 17 they know none, and trixie with trixie-security serves one (17.12) anyway.
 */
function olderPostgres(): { version: string; minor: string } | undefined {
  const out = spawnSync('apt-cache', ['madison', `postgresql-${PG}`], { encoding: 'utf8' }).stdout ?? '';
  const versions = [...new Set(out.split('\n').map((l) => l.split('|')[1]?.trim()).filter(Boolean))];
  if (versions.length < 2) return undefined;
  const sorted = versions.sort((a, b) => spawnSync('dpkg', ['--compare-versions', a, 'lt', b]).status === 0 ? -1 : 1);
  return { version: sorted[0], minor: sorted[0].replace(/-.*$/, '') };
}
const older = olderPostgres();
const noOlder = requires(older ? false : `the package sources this box reads offer one PostgreSQL ${PG} version at most, so no minor upgrade can be tried`);

test(`switchover --coordinated back and forth ${COORDINATED_ROUNDS} times: HAProxy told at once, exactly the leader routed after each, every acknowledged write on the final leader`, async () => {
  const lab = currentLab();
  await workers.start();
  // The DB nodes start on the older minor version, each machine with its own packages, so the
  // last test can upgrade them.
  if (older) {
    for (const node of ['node1', 'node2']) {
      const downgrade = await sshRun(lab, node, `DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades -o Dpkg::Options::=--force-confold postgresql-${PG}=${older.version} postgresql-client-${PG}=${older.version}`, { sudo: true });
      assert.equal(downgrade.code, 0, downgrade.stderr);
    }
  }
  assert.equal((await completedOrBlocked(await startInstall(server(), lab.topology))).status, 'completed');
  let health = await waitHealthy(lab);
  const reports: DrillReport[] = [];
  for (let round = 1; round <= COORDINATED_ROUNDS; round++) {
    const to = lab.topology.hosts.find((h) => h.roles.includes('db') && h.name !== health.leader)!.name;
    const run = await cli('switchover', lab.topologyFile, '--to', to, '--coordinated');
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, /phases +Patroni's demote and promote \d+\.\d s, then routing \d+\.\d s \(HAProxy told through its runtime API\)/);
    const report = latestReport();
    reports.push(report);
    assert.equal(report.figures.switchover?.coordinated, true, `round ${round} was coordinated: ${JSON.stringify(report.figures.switchover)}`);
    assert.ok(report.figures.switchover!.routingSeconds! < 1, `round ${round}: HAProxy routed within a second of the promotion (${report.figures.switchover!.routingSeconds} s)`);
    assert.ok(report.figures.writeDowntimeSeconds !== undefined && report.figures.writeDowntimeSeconds > 0, `round ${round}: the probe saw the switchover`);
    assert.equal(report.figures.lostWrites, 0, `round ${round}`);
    assert.equal(report.figures.splitBrain, false);
    // Read directly from Patroni and HAProxy's stats page: exactly the new leader is UP.
    health = await waitHealthy(lab);
    assert.equal(health.leader, to);
    assert.deepEqual(health.routesTo, [to], `round ${round}: HAProxy routes to exactly the leader`);
  }
  for (const report of reports) {
    const rows = await probeRowsOn(lab, health.leader!, report.probe.drill);
    for (const [first, last] of report.probe.acked) {
      for (let seq = first; seq <= last; seq++) assert.ok(rows.has(seq), `write ${seq} of ${report.probe.drill} is on the final leader ${health.leader}`);
    }
  }
  process.stdout.write(`# coordinated switchover write downtimes: ${reports.map((r) => r.figures.writeDowntimeSeconds).join(', ')} s\n`);
});

test("a switchover that finds HAProxy's runtime API unusable (socat gone from the HAProxy host) runs plain, routed by the checks, and says why", async () => {
  const lab = currentLab();
  const before = await waitHealthy(lab);
  const to = lab.topology.hosts.find((h) => h.roles.includes('db') && h.name !== before.leader)!.name;
  // The observer machine's own /usr: the box and the other machines keep theirs.
  await sshRun(lab, 'observer', 'mv /usr/bin/socat /usr/bin/socat.away', { sudo: true });
  try {
    const run = await cli('switchover', lab.topologyFile, '--to', to);
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, /then routing \d+\.\d s \(HAProxy's checks; not coordinated: HAProxy's runtime socket \/run\/haproxy\/admin\.sock on observer did not answer/);
    const report = latestReport();
    assert.equal(report.figures.switchover?.coordinated, false);
    assert.equal(report.figures.lostWrites, 0);
  } finally {
    await sshRun(lab, 'observer', 'mv /usr/bin/socat.away /usr/bin/socat', { sudo: true });
  }
  const after = await waitHealthy(lab);
  assert.equal(after.leader, to);
  assert.deepEqual(after.routesTo, [to]);
});

test('a rolling restart with its worker killed mid-run: a new worker finishes it, every PostgreSQL restarted, the switchover the only write pause, nothing lost', async () => {
  const lab = currentLab();
  const before = await waitHealthy(lab);
  const dbNodes = lab.topology.hosts.filter((h) => h.roles.includes('db')).map((h) => h.name);
  const startsBefore = Object.fromEntries(await Promise.all(dbNodes.map(async (n) => [n, await postmasterStart(n)] as const)));

  const plan = await cli('restart', lab.topologyFile, '--plan');
  assert.equal(plan.code, 0, plan.out);
  assert.match(plan.out, /Coordinated switchover from/);

  const started = await cli('restart', lab.topologyFile, '--detach');
  assert.equal(started.code, 0, started.out);
  const handle = server().client.workflow.getHandle(clusterWorkflowId(lab.topology.cluster));
  const replica = dbNodes.find((n) => n !== before.leader)!;
  // Killed while it restarts the replica, with the probe running beside it: the new worker runs
  // that step again (which must not restart twice), and the probe carries on. A quick restart
  // (and the streaming check after it) can end between two looks, and the coordinated switchover
  // that follows is never retried (a lost worker there blocks the run for the operator): then the
  // kill waits for the old leader's rejoin, a wait of several seconds that is retried.
  const statusOf = (p: { steps: { id: string; status: string }[] }, id: string) => p.steps.find((s) => s.id === id)?.status;
  const restartStep = `postgres.restart@${replica}`;
  const seen = await waitForProgress(handle, `the restart of ${replica}`, (p) => statusOf(p, restartStep) === 'running' || statusOf(p, restartStep) === 'done');
  if (statusOf(seen, restartStep) === 'done') {
    await waitForProgress(handle, `the rejoin of ${before.leader}`, (p) => statusOf(p, `patroni.rejoined@${before.leader}`) === 'running');
  }
  await workers.killAll();
  await workers.start();
  const outcome = (await handle.result()) as MaintenanceOutcome;
  assert.equal(outcome.status, 'completed');
  const report = outcome.report!;
  assert.ok(report, 'the restart reports what it cost the writers');
  assert.equal(report.verdict.pass, true, `${report.verdict.reasons.join("; ")}\n${JSON.stringify({ pauses: report.pauses, interruptions: report.probe.interruptions, stopped: report.probe.stoppedBecause }, null, 1)}`);
  assert.equal(report.lostWrites, 0);
  assert.ok(report.pauses.length >= 1 && report.pauses.every((p) => p.duringStep === `patroni.switchover@${replica}`), JSON.stringify(report.pauses));
  assert.equal(report.switchover?.coordinated, true);
  assert.ok(report.probe.interruptions.length >= 1, 'the probe died with its worker and carried on on the new one');

  // Against the daemons: every PostgreSQL runs since a new start, the leader moved, HAProxy follows it.
  const after = await waitHealthy(lab);
  assert.equal(after.leader, replica, 'the leader was switched over to the replica');
  for (const node of dbNodes) assert.notEqual(await postmasterStart(node), startsBefore[node], `PostgreSQL on ${node} was restarted`);
  assert.deepEqual(after.routesTo, [replica]);
  const rows = await probeRowsOn(lab, after.leader!, report.probe.drill);
  for (const [first, last] of report.probe.acked) {
    for (let seq = first; seq <= last; seq++) assert.ok(rows.has(seq), `acknowledged write ${seq} is on the leader ${after.leader}`);
  }
  // The whole restart takes about 25 s, some 10 s of it with the probe down with its worker
  // (a write every 100 ms): 89 were acknowledged in the shortest run seen.
  assert.ok(report.acknowledgedWrites > 50, `the probe wrote throughout: ${report.acknowledgedWrites} acknowledged`);
});

/**
 * After a rotation: PostgreSQL reloaded (its start time as before), the same leader, every
 * acknowledged probe write on it, and `certs status` content with every certificate. Returns the cluster's health.
 */
async function rotationKeptTheCluster(before: Awaited<ReturnType<typeof waitHealthy>>, startsBefore: string, report: NonNullable<MaintenanceOutcome['report']>) {
  const lab = currentLab();
  assert.equal(await postmasterStart(before.leader!), startsBefore, 'PostgreSQL was reloaded, not restarted');
  const after = await waitHealthy(lab);
  assert.equal(after.leader, before.leader, 'no switchover');
  const rows = await probeRowsOn(lab, after.leader!, report.probe.drill);
  for (const [first, last] of report.probe.acked) {
    for (let seq = first; seq <= last; seq++) assert.ok(rows.has(seq), `acknowledged write ${seq} is on the leader`);
  }
  const status = await cli('certs', 'status', lab.topology.cluster);
  assert.equal(status.code, 0, status.out);
  return after;
}

// The rotation of host certificates alone runs in the long suite; the CA rotation below, which renews every certificate too, always.
test('certs rotate with the write probe running: every host a new key and certificate, each port presents it, no write paused or lost', longTest(), async () => {
  const lab = currentLab();
  const before = await waitHealthy(lab);
  const serial = async (host: string) => (await sshRun(lab, host, 'openssl x509 -in /etc/haflow/tls/host.crt -noout -serial', { sudo: true })).stdout.trim();
  const key = async (host: string) => (await sshRun(lab, host, 'openssl pkey -in /etc/haflow/tls/host.key -pubout | sha256sum', { sudo: true })).stdout.trim();
  const hosts = ['observer', 'node1', 'node2'];
  const serialsBefore = Object.fromEntries(await Promise.all(hosts.map(async (h) => [h, await serial(h)] as const)));
  const keysBefore = Object.fromEntries(await Promise.all(hosts.map(async (h) => [h, await key(h)] as const)));
  const startsBefore = await postmasterStart(before.leader!);

  const plan = await cli('certs', 'rotate', lab.topology.cluster, '--plan');
  assert.equal(plan.code, 0, plan.out);
  assert.match(plan.out, /tls\.renew@observer[\s\S]*tls\.renew@node\d[\s\S]*tls\.renew@node\d/);
  const run = await cli('certs', 'rotate', lab.topology.cluster, '--json');
  assert.equal(run.code, 0, run.out);
  // --json prints a rolling operation's report alone.
  const report = JSON.parse(run.stdout) as NonNullable<MaintenanceOutcome['report']>;
  assert.equal(report.kind, 'rotate');
  assert.equal(report.verdict.pass, true, `${report.verdict.reasons.join('; ')}\n${JSON.stringify(report.pauses)}`);
  assert.equal(report.lostWrites, 0);
  assert.deepEqual(report.pauses, [], 'a rotation reloads: no write pause');
  assert.ok(report.acknowledgedWrites > 20, `the probe wrote throughout: ${report.acknowledgedWrites} acknowledged`);

  // Against the hosts and the daemons: new keys and certificates, served without a restart.
  for (const host of hosts) {
    assert.notEqual(await serial(host), serialsBefore[host], `${host} has a new certificate`);
    assert.notEqual(await key(host), keysBefore[host], `${host} has a new key`);
  }
  await rotationKeptTheCluster(before, startsBefore, report);
});

test('certs rotate --ca with the write probe running: a new CA trusted beside the old on every host, every certificate issued by it, the old CA then trusted nowhere; etcd restarted a member at a time; no write lost; status exits 1 for certificates near their end', async () => {
  const lab = currentLab();
  const before = await waitHealthy(lab);
  const ca = certificateAuthority(lab.topology)!;
  const caFile = ca.certificate.replace(/^~/, homedir());
  const caSerial = () => pemCertificates(readFileSync(caFile, 'utf8')).map((pem) => certificateFacts(pem).serial);
  const [oldSerial] = caSerial();
  const hosts = lab.topology.hosts.map((h) => h.name);
  const bundleSerials = async (host: string) => pemCertificates((await sshRun(lab, host, 'cat /etc/haflow/tls/ca.crt')).stdout).map((pem) => certificateFacts(pem).serial);
  const hostCertificate = async (host: string) => (await sshRun(lab, host, 'cat /etc/haflow/tls/host.crt')).stdout;
  // A restart gives etcd a new process.
  const etcdStarted = async (host: string) => (await sshRun(lab, host, 'systemctl show -p MainPID etcd', { sudo: true })).stdout.trim();
  const etcdHosts = lab.topology.hosts.filter((h) => h.roles.includes('etcd')).map((h) => h.name);
  const etcdBefore = Object.fromEntries(await Promise.all(etcdHosts.map(async (h) => [h, await etcdStarted(h)] as const)));
  const startsBefore = await postmasterStart(before.leader!);

  const plan = await cli('certs', 'rotate', lab.topology.cluster, '--ca', '--plan');
  assert.equal(plan.code, 0, plan.out);
  assert.match(plan.out, /tls\.ca\.new[\s\S]*tls\.trust-both@[\s\S]*tls\.renew@[\s\S]*tls\.ca\.drop[\s\S]*tls\.trust-new@/);
  assert.deepEqual(caSerial(), [oldSerial], '--plan changes nothing');
  const check = await cli('certs', 'rotate', lab.topology.cluster, '--ca', '--check');
  assert.equal(check.code, 0, check.out);
  assert.match(check.out, /would create a new CA/);
  // --json prints the check's outcome alone.
  const checkJson = await cli('certs', 'rotate', lab.topology.cluster, '--ca', '--check', '--json');
  assert.equal(checkJson.code, 0, checkJson.out);
  assert.match(JSON.stringify(JSON.parse(checkJson.stdout)), /would create a new CA/);
  assert.deepEqual(caSerial(), [oldSerial], '--check changes nothing');

  const run = await cli('certs', 'rotate', lab.topology.cluster, '--ca', '--json');
  assert.equal(run.code, 0, run.out);
  const report = JSON.parse(run.stdout) as NonNullable<MaintenanceOutcome['report']>;
  assert.equal(report.kind, 'rotate');
  assert.equal(report.verdict.pass, true, `${report.verdict.reasons.join('; ')}\n${JSON.stringify(report.pauses)}`);
  assert.equal(report.lostWrites, 0);
  assert.ok(report.acknowledgedWrites > 20, `the probe wrote throughout: ${report.acknowledgedWrites} acknowledged`);

  // On the worker: one CA, a new one; the old key kept beside the new.
  const [newSerial, ...others] = caSerial();
  assert.notEqual(newSerial, oldSerial);
  assert.deepEqual(others, [], 'the old CA left the worker\'s bundle');
  const keyFile = (ca.key as { file: string }).file.replace(/^~/, homedir());
  assert.equal(statSync(`${keyFile}.${oldSerial}`).mode & 0o777, 0o600, 'the old CA key is kept, for its owner only');
  // On the hosts: every bundle holds the new CA alone, every certificate is from it.
  const newCa = pemCertificates(readFileSync(caFile, 'utf8'))[0];
  for (const host of hosts) assert.deepEqual(await bundleSerials(host), [newSerial], `${host} trusts only the new CA`);
  for (const host of lab.topology.hosts.filter((h) => h.roles.includes('etcd') || h.roles.includes('db'))) {
    const problem = certificateProblem(await hostCertificate(host.name), { host, authorities: [newCa], now: new Date(), warningDays: 0 });
    assert.equal(problem, undefined, `${host.name}'s certificate is from the new CA`);
  }
  for (const host of etcdHosts) {
    assert.match(etcdBefore[host], /^MainPID=[1-9]\d*$/);
    assert.notEqual(await etcdStarted(host), etcdBefore[host], `etcd on ${host} was restarted to read the bundle`);
  }
  const after = await rotationKeptTheCluster(before, startsBefore, report);
  // What the new CA signed is what a client that trusts only it accepts.
  const leader = lab.host(after.leader!);
  const curl = spawnSync('curl', ['-sS', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', caFile, `https://${leader.address}:${lab.topology.patroni.rest_api_port}/patroni`], { encoding: 'utf8' });
  assert.equal(curl.stdout.trim(), '200', curl.stderr);

  // A warning window longer than what is left of every certificate: status exits 1 and says what to do.
  const near = join(mkdtempSync(join(tmpdir(), 'haflow-certs-')), 'near.yaml');
  writeFileSync(near, `${readFileSync(lab.topologyFile, 'utf8')}\ntls: { days: 800, warning_days: 400 }\n`);
  const due = await cli('certs', 'status', near, '--json');
  assert.equal(due.code, 1, due.out);
  const dueReport = JSON.parse(due.stdout) as { ok: boolean; entries: { where: string; problem?: string }[] };
  assert.equal(dueReport.ok, false);
  for (const host of ['observer', 'node1', 'node2']) assert.match(dueReport.entries.find((e) => e.where === host)!.problem!, /^it expires on \S+, within 400 days$/);
});

test(`upgrade --minor: every node from the older PostgreSQL ${PG} to the newer, replicas first, the leader after a coordinated switchover; the switchover the only write pause, nothing lost`, { skip: noOlder }, async () => {
  const lab = currentLab();
  const before = await waitHealthy(lab);
  const dbNodes = lab.topology.hosts.filter((h) => h.roles.includes('db')).map((h) => h.name);
  const running = async (node: string) => {
    const status = (await restJson(lab.topology, lab.host(node).address, '/patroni')) as { server_version: number };
    return `${Math.floor(status.server_version / 10000)}.${status.server_version % 10000}`;
  };
  for (const node of dbNodes) assert.equal(await running(node), older!.minor, `${node} runs the older version before`);

  const run = await cli('upgrade', lab.topologyFile, '--minor');
  assert.equal(run.code, 0, run.out);
  assert.match(run.out, /upgrade of cluster lab-standalone: PASS/);
  const newer = (await sshRun(lab, 'node1', '/usr/lib/postgresql/15/bin/postgres --version')).stdout.match(/\(PostgreSQL\) (\S+)/)![1];
  assert.notEqual(newer, older!.minor);
  assert.match(run.out, new RegExp(`versions +node1 ${older!.minor.replace('.', '\\.')} → ${newer.replace('.', '\\.')}, node2 ${older!.minor.replace('.', '\\.')} → ${newer.replace('.', '\\.')}`));
  assert.match(run.out, /write pauses +(at most )?\d+\.\d s during patroni\.switchover@\S+; total/);
  assert.match(run.out, /lost writes +0 of \d+ acknowledged/);

  // Against the daemons and the packages: every node runs the newer version, installed on its own disk.
  const after = await waitHealthy(lab);
  assert.notEqual(after.leader, before.leader, 'the leader was switched over');
  for (const node of dbNodes) {
    assert.equal(await running(node), newer, `${node} runs ${newer}`);
    assert.doesNotMatch((await sshRun(lab, node, `dpkg-query -W -f='\${Version}' postgresql-${PG}`)).stdout, new RegExp(`^${older!.version.replace(/[.+]/g, '\\$&')}$`));
  }
});

test('an upgrade blocked on a replica (no apt-get there) and aborted leaves the cluster serving, leader and data as before', async () => {
  const lab = currentLab();
  const before = await waitHealthy(lab);
  const replica = lab.topology.hosts.find((h) => h.roles.includes('db') && h.name !== before.leader)!.name;
  // That machine's own /usr: apt-get gone there only.
  await sshRun(lab, replica, 'mv /usr/bin/apt-get /usr/bin/apt-get.away', { sudo: true });
  try {
    const run = await cli('upgrade', lab.topologyFile, '--minor');
    assert.equal(run.code, 1, run.out);
    assert.match(run.out, new RegExp(`postgres\\.packages@${replica}`));
    assert.match(run.out, new RegExp(`${replica} has no apt-get`));
    const aborted = await cli('resume', 'lab-standalone', '--abort', '--reason', 'no package manager on the replica');
    assert.equal(aborted.code, 1, aborted.out);
    assert.match(aborted.out, /aborted/);
  } finally {
    await sshRun(lab, replica, 'mv /usr/bin/apt-get.away /usr/bin/apt-get', { sudo: true });
  }
  // Serving as before: the same leader, HAProxy on it, the replica streaming, and a write goes through.
  const after = await waitHealthy(lab);
  assert.equal(after.leader, before.leader);
  assert.deepEqual(after.routesTo, [before.leader]);
  const write = await verifyWriteThroughHaproxy({ topology: lab.topology, check: false, host: 'observer' });
  assert.match(write.summary, new RegExp(`${before.leader}`), write.summary);
});

test("tune --profile aggressive measures etcd's round trip from every DB node first: refused, naming the path and the figure, while etcd stalls; nothing changed", async () => {
  const lab = currentLab();
  await waitHealthy(lab);
  const config = async () => ((await restJson(lab.topology, lab.host('node1').address, '/config')) as { ttl: number; loop_wait: number }).ttl;
  const ttlBefore = await config();
  // etcd on the observer stalls half a second out of every 0.6 s, as under slow fsyncs: a round
  // trip then takes hundreds of ms, while Patroni (retry_timeout 4 here) and the gate still cope.
  const stall = "pid=$(pidof etcd); while kill -0 $pid 2>/dev/null; do kill -STOP $pid; sleep 0.5; kill -CONT $pid; sleep 0.1; done";
  await sshRun(lab, 'observer', `setsid nohup bash -c ${shellQuote(stall)} >/dev/null 2>&1 & echo $! > /tmp/etcd-staller.pid`, { sudo: true });
  try {
    const run = await cli('tune', lab.topologyFile, '--profile', 'aggressive');
    assert.equal(run.code, 1, run.out);
    assert.match(run.out, /tune\.headroom/);
    assert.match(run.out, /etcd's round trip from node\d to observer reached \d+ ms, over 200 ms \(a tenth of retry_timeout 2 s\)/);
    const aborted = await cli('resume', 'lab-standalone', '--abort');
    assert.equal(aborted.code, 1, aborted.out);
  } finally {
    await sshRun(lab, 'observer', 'kill $(cat /tmp/etcd-staller.pid); kill -CONT $(pidof etcd)', { sudo: true });
  }
  assert.equal(await config(), ttlBefore, "Patroni's dynamic configuration is untouched");
  await waitHealthy(lab);
});
