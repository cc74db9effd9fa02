// The Patroni guide's standalone layout (3 machines) installed on the lab: real dev server,
// real worker, real SSH, real etcd, Patroni, PostgreSQL and HAProxy.
import { test } from 'node:test';
import { labStatsHeaders } from '../support/app-probe';
import { longTest } from '../support/long';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { WorkflowHandle } from '@temporalio/client';
import { Client } from 'pg';
import { postgresTls } from '../../activities/postgres/superuser';
import { loadTopology } from '../../topology';
import type { RunbookOutcome } from '../../workflows/protocol';
import { completedOrBlocked, haflowCli, labSecrets, startInstall, useInstallEnvironment, waitForProgress } from '../support/install';
import { diskFingerprint, labTopology, sshRun, useLab } from '../support/lab';
import { filesHoldingSecrets, readableByOthers } from '../support/secret-files';
import { assertHostsHoldRendered, haflowRender } from '../support/rendered';
import { rest } from '../support/rest';

labSecrets();
const currentLab = useLab(labTopology('standalone'));
const installEnv = useInstallEnvironment();

const MAIN_PROPERTIES = '/opt/flotomate/main-server/config/application-saas.properties';
const EARLIER_SCRIPT = 'MotadataAppHASetup';

const stepsOf = (outcome: RunbookOutcome) => Object.fromEntries(outcome.steps.map((s) => [s.id, s]));

test('check mode on bare machines lists every change and changes nothing on any machine', async () => {
  const lab = currentLab();
  // An earlier, hand-made HA setup on the master, as the guide's scripts left it.
  await sshRun(lab, 'node1', `mkdir -p /opt/HA/logs && echo '#!/bin/sh' > /opt/HA/${EARLIER_SCRIPT}`, { sudo: true });
  // nginx started by hand on the slave, as the application's installer leaves it.
  await sshRun(lab, 'node2', 'systemctl start nginx', { sudo: true });
  const appPassword = (await sshRun(lab, 'node1', `sed -n 's/^spring.datasource.password=//p' ${MAIN_PROPERTIES}`, { sudo: true })).stdout.trim();
  assert.ok(appPassword.length > 8, 'the application installer left a password of its own');
  const before = lab.topology.hosts.map((h) => diskFingerprint(h.name));
  const outcome = await completedOrBlocked(await startInstall(installEnv(), lab.topology, { check: true }));
  const steps = stepsOf(outcome);
  assert.match(steps['app.ha-dir@node1'].summary!, /would back up the earlier HA configuration \/opt\/HA to \/var\/backups\/haflow\/ha-dir-\S+\.tar\.gz, then remove it/);
  // A mismatch on a host is a diff, the password redacted.
  const appDiff = steps['app.config@node1'].details!.join('\n');
  assert.match(appDiff, /\+spring\.datasource\.url=jdbc:postgresql:\/\/127\.0\.0\.11:5000\/flotomate/);
  assert.match(appDiff, /\+spring\.datasource\.password=<redacted, changed>/);
  assert.match(appDiff, /JAVA_OPTS=.*-Dspring\.datasource\.password=<redacted/);
  assert.ok(!JSON.stringify(outcome).includes(appPassword), 'the password found on the host is not in the result');
  assert.ok(!JSON.stringify(outcome).includes(process.env.HAFLOW_APP_DB_PASSWORD!), 'nor the one from the topology');
  assert.match(steps['app.slave-nginx@node2'].summary!, /would stop nginx.*would disable nginx|would disable nginx.*would stop nginx/);
  assert.match(steps['packages.install@node2'].summary!, new RegExp(`would disable patroni.*would drop Debian's default cluster ${lab.topology.postgresql.version}/main`));
  assert.match(steps['etcd.member@observer'].summary!, /would rewrite \/etc\/default\/etcd.*would start etcd/);
  assert.match(steps['etcd.auth@observer'].summary!, /would create etcd user root.*would turn etcd authentication on/);
  assert.match(steps['haproxy.config@observer'].summary!, /would rewrite \/etc\/haproxy\/haproxy\.cfg/);
  assert.match(steps['haproxy.config@observer'].details!.join('\n'), /\+listen postgres/);
  assert.match(steps['patroni.config@node1'].summary!, /would create \/etc\/patroni\/config\.yml/);
  assert.match(steps['patroni.start@node1'].summary!, /would start patroni/);
  assert.match(steps['db.config@node1'].summary!, /would create or update database user flotomate/);
  assert.doesNotMatch(JSON.stringify(outcome), new RegExp(process.env.HAFLOW_PG_SUPERUSER_PASSWORD!), 'no password in the result');
  // The operator's view of the same: `haflow plan --check`.
  const cli = await haflowCli(installEnv(), 'plan', '--check', lab.topologyFile);
  assert.equal(cli.code, 0, cli.out);
  assert.match(cli.out, /~ patroni\.config@node1: .*would create \/etc\/patroni\/config\.yml/);
  assert.match(cli.out, /\+listen postgres/, 'file diffs are shown');
  assert.match(cli.out, /\d+ steps would change something, \d+ would not/);
  assert.doesNotMatch(cli.out, new RegExp(process.env.HAFLOW_PG_SUPERUSER_PASSWORD!));
  const afterCheck = lab.topology.hosts.map((h) => diskFingerprint(h.name));
  lab.topology.hosts.forEach((h, i) => assert.ok(before[i] === afterCheck[i], `${h.name}: check mode changed a file`));
  for (const host of ['observer', 'node1', 'node2']) {
    const services = await sshRun(lab, host, 'systemctl is-active etcd haproxy patroni', { sudo: true });
    assert.deepEqual(services.stdout.trim().split('\n'), ['inactive', 'inactive', 'inactive'], `${host}: nothing started`);
  }
});

test('a bare standalone lab installs: every step done, a write through HAProxy reaches the leader and the replica', async () => {
  const lab = currentLab();
  const outcome = await completedOrBlocked(await startInstall(installEnv(), lab.topology));
  assert.equal(outcome.status, 'completed');
  assert.deepEqual(outcome.steps.filter((s) => s.status !== 'done').map((s) => s.id), []);
  const steps = stepsOf(outcome);
  assert.match(steps['patroni.replica-inactive@node2'].summary!, /Patroni is inactive on node2/);
  assert.match(steps['verify.haproxy@observer'].summary!, /exactly the leader node1 is UP/);

  // Checked here too, independently of haflow's own verify steps.
  const client = new Client({ host: '127.0.0.11', port: 5000, user: 'postgres', password: process.env.HAFLOW_PG_SUPERUSER_PASSWORD, database: 'postgres', ssl: postgresTls(lab.topology, { host: '127.0.0.11', port: 5000 }) });
  await client.connect();
  try {
    await client.query('CREATE TABLE IF NOT EXISTS e2e_probe (id int PRIMARY KEY)');
    await client.query('INSERT INTO e2e_probe VALUES (42) ON CONFLICT DO NOTHING');
    const where = await client.query<{ addr: string }>('SELECT host(inet_server_addr()) AS addr');
    assert.equal(where.rows[0].addr, '127.0.0.12', 'writes go to node1, the leader');
  } finally {
    await client.end();
  }
  let onReplica = '';
  for (let i = 0; i < 50 && onReplica !== 't|1'; i++) {
    const r = await sshRun(lab, 'node2', `sudo -u postgres psql -X -At -h /var/run/postgresql -c 'select pg_is_in_recovery(), count(*) from e2e_probe'`, { sudo: true });
    onReplica = r.stdout.trim();
    if (onReplica !== 't|1') await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.equal(onReplica, 't|1', 'the row is readable on node2, a replica');
  const list = await sshRun(lab, 'node1', 'patronictl -c /etc/patroni/config.yml list -f json', { sudo: true });
  const members = JSON.parse(list.stdout) as { Member: string; Role: string; State: string }[];
  assert.deepEqual(members.map((m) => [m.Member, m.Role]).sort(), [['node1', 'Leader'], ['node2', 'Replica']]);
  await assertHostsHoldRendered(lab, haflowRender(lab.topologyFile));
  // patroni.rest_api_auth: an unsafe request without the password is refused; reads stay open for HAProxy.
  const unauthenticated = await rest(lab.topology, '127.0.0.12', '/restart', { method: 'POST', body: '{}' });
  assert.equal(unauthenticated.status, 401, 'Patroni refuses a restart without the REST API password');
  const wrong = await rest(lab.topology, '127.0.0.12', '/switchover', { method: 'POST', body: '{"leader":"node1","candidate":"node2"}', headers: { authorization: `Basic ${Buffer.from('haflow:wrong').toString('base64')}` } });
  assert.equal(wrong.status, 401, 'and with a wrong one');
  assert.equal((await rest(lab.topology, '127.0.0.12', '/primary')).status, 200, 'the leader check HAProxy uses needs no password');
  // etcd.auth: an anonymous client is refused; Patroni's user (the one patronictl just used) reads its namespace.
  const etcdGet = (user: string) =>
    sshRun(lab, 'observer', `ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.11:2379 --cacert /etc/haflow/tls/ca.crt --command-timeout=5s ${user} get /service/ --prefix --keys-only 2>&1; echo "exit $?"`, {
      sudo: true,
    }).then((r) => r.stdout);
  assert.match(await etcdGet(''), /user name is empty[\s\S]*exit 1/, 'etcd refuses an anonymous client');
  assert.match(await etcdGet(`--user patroni:${process.env.HAFLOW_ETCD_PATRONI_PASSWORD}`), /\/service\/lab-standalone\/leader[\s\S]*exit 0/);
});

/** GET over HTTPS with a real TLS client; the lab's certificate is self-signed, so it is pinned. */
function httpsGet(url: string): Promise<{ status: number; body: string; protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: readFileSync('/var/lib/haflow-lab/tls/app.crt'), checkServerIdentity: () => undefined, timeout: 5_000 }, (res) => {
      const protocol = (res.socket as TLSSocket).getProtocol() ?? '';
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, protocol }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the application tier: it answers through HAProxy on 80 and 443, writes through it land on the leader, and the guide\'s rules hold on every app node', async () => {
  const lab = currentLab();
  // A file in a synced directory of the master, with every byte value in it.
  const attachment = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) % 256));
  await sshRun(lab, 'node1', `mkdir -p /opt/flotomate/attachments/2026 && printf '%s' ${attachment.toString('base64')} | base64 -d > /opt/flotomate/attachments/2026/report.bin`, { sudo: true });
  // nginx started by hand on the slave, outside its unit: systemctl knows nothing of it.
  await sshRun(lab, 'node2', '/usr/sbin/nginx', { sudo: true });
  assert.ok((await fetch('http://127.0.0.13/').catch(() => undefined))?.status, 'the hand-started nginx answers');
  const outcome = await completedOrBlocked(await startInstall(installEnv(), lab.topology));
  assert.equal(outcome.status, 'completed');
  const steps = stepsOf(outcome);
  // Whether the service manager knows it (the lab's reads nginx's pid file) or not (then it is found listening), it is stopped.
  assert.match(steps['app.slave-nginx@node2'].summary!, /stop nginx|stopped what still listened on 127\.0\.0\.13:80 outside its unit: .*nginx/);
  assert.equal(await fetch('http://127.0.0.13/', { signal: AbortSignal.timeout(2000) }).then(() => 'answers', () => 'nothing listens'), 'nothing listens');
  assert.match(steps['verify.app@observer'].summary!, /answer 200 from the master node1/);
  assert.match(steps['app.sync@node2'].summary!, /\/opt\/flotomate\/attachments: \d+ file\(s\) with the same SHA-256 on both/);
  const synced = await sshRun(lab, 'node2', 'base64 -w0 /opt/flotomate/attachments/2026/report.bin', { sudo: true });
  assert.equal(synced.stdout, attachment.toString('base64'), 'the file is on the slave, byte for byte');

  // Through the observer's HAProxy, as users reach it: plain HTTP, then a real TLS handshake.
  const plain = await fetch('http://127.0.0.11/health');
  assert.equal(plain.status, 200, await plain.text());
  const secure = await httpsGet('https://127.0.0.11/health');
  assert.equal(secure.status, 200, secure.body);
  assert.match(secure.protocol, /^TLSv1\.[23]$/);
  // The write the application made to answer lands on the leader (node1), under node1's name.
  const heartbeat = await sshRun(lab, 'node1', `sudo -u postgres psql -X -At -h /var/run/postgresql -d flotomate -c "select pg_is_in_recovery(), host from app_heartbeat where at > now() - interval '30 seconds' order by host"`, { sudo: true });
  assert.match(heartbeat.stdout, /^f\|node1$/m, heartbeat.stdout + heartbeat.stderr);

  const password = process.env.HAFLOW_APP_DB_PASSWORD!;
  for (const node of ['node1', 'node2']) {
    // Every file the classic guide lists: the observer's HAProxy and the one password, owner and mode as the installer left them.
    for (const file of lab.topology.app!.config_files) {
      const seen = await sshRun(lab, node, `stat -c '%U:%G %a' ${file.path} && cat ${file.path}`, { sudo: true });
      const [meta, ...content] = seen.stdout.split('\n');
      assert.equal(meta, 'root:root 600', `${node}:${file.path} keeps its owner and mode`);
      assert.ok(content.join('\n').includes('jdbc:postgresql://127.0.0.11:5000/flotomate'), `${node}:${file.path} points at HAProxy`);
      assert.ok(content.join('\n').includes(`${file.password_key}=${password}`), `${node}:${file.path} carries the password`);
    }
    const ha = await sshRun(lab, node, `stat -c '%U:%G' /opt/HA /opt/HA/role && cat /opt/HA/role && ls -A /opt/HA`, { sudo: true });
    assert.deepEqual(ha.stdout.trim().split('\n'), ['labadmin:labadmin', 'labadmin:labadmin', node === 'node1' ? 'master' : 'slave', '.haflow', 'role']);
  }
  // The earlier HA setup was archived before it was removed.
  const archived = await sshRun(lab, 'node1', 'for f in /var/backups/haflow/ha-dir-*.tar.gz; do tar -tzf "$f"; done', { sudo: true });
  assert.match(archived.stdout, new RegExp(`opt/HA/${EARLIER_SCRIPT}`));
  // nginx: serving on the master, inactive and disabled on the slave (the lab's boot had started it there).
  const nginx = (node: string) => sshRun(lab, node, 'echo $(systemctl is-active nginx) $(systemctl is-enabled nginx)', { sudo: true }).then((r) => r.stdout.trim());
  assert.equal(await nginx('node1'), 'active enabled');
  assert.equal(await nginx('node2'), 'inactive disabled');
  const stats = await (await fetch('http://127.0.0.11:7000/;csv', { headers: labStatsHeaders() })).text();
  const appServers = stats.split('\n').filter((l) => l.startsWith('backend,node')).map((l) => `${l.split(',')[1]} ${l.split(',')[17]}`);
  assert.deepEqual(appServers.sort(), ['node1 UP', 'node2 DOWN'], 'HAProxy sends users to the master application only');
});

test('every file on any machine that holds a secret is readable by its owner and service only: found by content, not from a list', async () => {
  const lab = currentLab();
  assert.equal((await completedOrBlocked(await startInstall(installEnv(), lab.topology))).status, 'completed');
  const found = await filesHoldingSecrets(lab);
  assert.deepEqual(readableByOthers(found), [], `files holding a secret that others can read:\n${found.join('\n')}`);
  // The ones the install writes are among them (so the search did find files).
  for (const expected of [
    /^node1 640 root postgres \/etc\/patroni\/config\.yml$/,
    /^node2 640 root postgres \/etc\/patroni\/config\.yml$/,
    /^node\d 600 postgres postgres \/var\/lib\/postgresql\/\.pgpass_patroni$/, // Patroni writes it when it needs it: on a replica
    /^node1 600 root root \/etc\/flotomate_env$/,
    /^observer 600 root root \/etc\/haproxy\/certs\/haflow\.pem$/,
    /^observer 640 root pgbackrest \/etc\/pgbackrest\.conf$/, // the repository's passphrase
  ]) {
    assert.ok(found.some((line) => expected.test(line)), `${expected} among:\n${found.join('\n')}`);
  }
});

/** A real client on this machine (curl, openssl, psql): its exit code and output. */
function client(command: string, args: string[], env: Record<string, string> = {}): { code: number; out: string } {
  const run = spawnSync(command, args, { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...env }, input: '' });
  return { code: run.status ?? -1, out: `${run.stdout}${run.stderr}` };
}

test('every plane refuses plain text and requests without a password, and accepts them with TLS and one: checked with curl, openssl and psql', async () => {
  const lab = currentLab();
  assert.equal((await completedOrBlocked(await startInstall(installEnv(), lab.topology))).status, 'completed');
  const ca = join(process.env.HOME!, '.haflow/pki', lab.topology.cluster, 'ca.crt');
  const env = process.env;

  // etcd, clients: no plain HTTP; HTTPS verified with the cluster's CA; no data without a login.
  assert.notEqual(client('curl', ['-sf', '--max-time', '5', 'http://127.0.0.11:2379/health']).code, 0, 'etcd answers plain HTTP');
  assert.notEqual(client('curl', ['-sf', '--max-time', '5', 'https://127.0.0.11:2379/health']).code, 0, 'curl trusts etcd without the CA');
  assert.match(client('curl', ['-sf', '--max-time', '5', '--cacert', ca, 'https://127.0.0.11:2379/health']).out, /"health":"true"/);
  const etcdctl = (...args: string[]) => client('etcdctl', ['--endpoints=https://127.0.0.11:2379', `--cacert=${ca}`, '--command-timeout=5s', ...args], { ETCDCTL_API: '3' });
  assert.match(etcdctl('get', '/service/', '--prefix', '--keys-only').out, /user name is empty|authentication|permission denied/i, 'etcd gives its keys to anonymous clients');
  const patroniKeys = etcdctl(`--user=patroni:${env.HAFLOW_ETCD_PATRONI_PASSWORD}`, 'get', '/service/', '--prefix', '--keys-only');
  assert.equal(patroniKeys.code, 0, patroniKeys.out);
  assert.match(patroniKeys.out, /\/service\/lab-standalone\/leader/);

  // etcd, peers: only a holder of a certificate from the CA completes the handshake.
  const peerWithout = client('openssl', ['s_client', '-connect', '127.0.0.11:2380', '-CAfile', ca, '-verify_return_error', '-brief']);
  assert.match(peerWithout.out, /alert|certificate required|handshake failure/i, `a peer without a certificate: ${peerWithout.out}`);
  const hostKey = (await sshRun(lab, 'observer', 'cat /etc/haflow/tls/host.key', { sudo: true })).stdout;
  const dir = mkdtempSync(join(tmpdir(), 'haflow-peer-'));
  try {
    writeFileSync(join(dir, 'key'), hostKey, { mode: 0o600 });
    writeFileSync(join(dir, 'crt'), (await sshRun(lab, 'observer', 'cat /etc/haflow/tls/host.crt')).stdout);
    const peerWith = client('openssl', ['s_client', '-connect', '127.0.0.11:2380', '-CAfile', ca, '-cert', join(dir, 'crt'), '-key', join(dir, 'key'), '-verify_return_error', '-brief']);
    assert.match(peerWith.out, /Verification: OK/, peerWith.out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // Patroni's REST API: HTTPS only, verified; reads open (HAProxy's checks), unsafe requests need the password.
  assert.notEqual(client('curl', ['-sf', '--max-time', '5', 'http://127.0.0.12:8008/patroni']).code, 0, 'Patroni answers plain HTTP');
  const verify = client('openssl', ['s_client', '-connect', '127.0.0.12:8008', '-CAfile', ca, '-verify_return_error', '-verify_ip', '127.0.0.12', '-brief']);
  assert.match(verify.out, /Verification: OK/, verify.out);
  assert.match(client('curl', ['-s', '--max-time', '5', '--cacert', ca, 'https://127.0.0.12:8008/patroni']).out, /"role": ?"(primary|master|replica)"/);
  assert.match(client('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', '--cacert', ca, '-X', 'POST', 'https://127.0.0.12:8008/reload']).out, /^401$/);
  assert.match(client('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', '--cacert', ca, '-u', `haflow:${env.HAFLOW_PATRONI_API_PASSWORD}`, '-X', 'POST', 'https://127.0.0.12:8008/reload']).out, /^20[02]$/);

  // PostgreSQL: no connection without TLS, directly or through HAProxy; verify-full with the CA works.
  const psql = (conninfo: string) => client('psql', ['-X', '-At', '-c', 'select ssl from pg_stat_ssl where pid = pg_backend_pid()', conninfo], { PGPASSWORD: env.HAFLOW_PG_SUPERUSER_PASSWORD!, PGCONNECT_TIMEOUT: '5' });
  assert.match(psql('host=127.0.0.12 user=postgres dbname=postgres sslmode=disable').out, /no pg_hba\.conf entry .*no encryption/);
  assert.match(psql('host=127.0.0.11 port=5000 user=postgres dbname=postgres sslmode=disable').out, /no pg_hba\.conf entry .*no encryption/);
  assert.equal(psql(`host=127.0.0.12 user=postgres dbname=postgres sslmode=verify-full sslrootcert=${ca}`).out.trim(), 't');
  assert.equal(psql(`host=127.0.0.11 port=5000 user=postgres dbname=postgres sslmode=verify-ca sslrootcert=${ca}`).out.trim(), 't');
  assert.match(psql(`host=127.0.0.11 port=5000 user=postgres dbname=postgres sslmode=verify-full sslrootcert=${ca}`).out, /server certificate for "node1" does not match host name "127\.0\.0\.11"|does not match/, 'through HAProxy the certificate names the DB node');
  // Replication: the replica streams over TLS, having verified the primary.
  const replication = await sshRun(lab, 'node1', `sudo -u postgres psql -X -At -h /var/run/postgresql -c "select s.ssl from pg_stat_replication r join pg_stat_ssl s using (pid)"`, { sudo: true });
  assert.equal(replication.stdout.trim(), 't', `replication over TLS: ${replication.stdout}${replication.stderr}`);
  const conninfo = await sshRun(lab, 'node2', `sudo -u postgres psql -X -At -h /var/run/postgresql -c "select conninfo from pg_stat_wal_receiver"`, { sudo: true });
  assert.match(conninfo.stdout, /sslmode=verify-full/);

  // HAProxy's stats page: a password; its checks of Patroni verify the CA (both servers are checked, one UP).
  assert.match(client('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', 'http://127.0.0.11:7000/']).out, /^401$/);
  const stats = client('curl', ['-s', '--max-time', '5', '-u', `haflow:${env.HAFLOW_HAPROXY_STATS_PASSWORD}`, 'http://127.0.0.11:7000/;csv']).out;
  assert.match(stats, /^postgres,node1,.*,UP,/m);
  assert.match(stats, /^postgres,node2,.*,DOWN,/m);

  // haflow's own view: the status of the certificates.
  const status = await haflowCli(installEnv(), 'certs', 'status', lab.topology.cluster);
  assert.equal(status.code, 0, status.out);
  assert.match(status.out, /^CA\s+CN=haflow CA for lab-standalone, O=haflow\s+\(itself\)/m);
  for (const host of ['observer', 'node1', 'node2']) assert.match(status.out, new RegExp(`^${host}\\s+CN=${host}, O=haflow cluster lab-standalone\\s+CN=haflow CA for lab-standalone.*\\s36[45]\\s+ok$`, 'm'));

  // The same cluster asked to speak plain text: refused at preflight, before anything changes.
  const insecure = join(mkdtempSync(join(tmpdir(), 'haflow-insecure-')), 'insecure.yaml');
  writeFileSync(insecure, `${readFileSync(lab.topologyFile, 'utf8')}\nsecurity: { insecure: true }\n`);
  const downgrade = await haflowCli(installEnv(), 'plan', '--check', insecure);
  assert.notEqual(downgrade.code, 0, downgrade.out);
  assert.match(downgrade.out, /observer: etcd was installed with TLS \(https:\/\/\), and the topology now asks for plain text/);
  assert.match(downgrade.out, /remove `security: \{ insecure: true \}` from the topology/);
});

/** The lab topology with the rewind password read from a file, as a topology file of its own. */
function withRewindPasswordFile(lab: { topologyFile: string }, dir: string, secretFile: string): string {
  const text = readFileSync(lab.topologyFile, 'utf8').replace(
    'rewind: { password: { env: HAFLOW_PG_REWIND_PASSWORD } }',
    `rewind: { password: { file: ${secretFile} } }`,
  );
  assert.ok(text.includes(secretFile));
  const file = join(dir, 'standalone-file-secret.yaml');
  writeFileSync(file, text);
  return file;
}

/** A history as text, payloads decoded, so a value inside any input, result or failure would show. */
async function decodedHistory(handle: WorkflowHandle): Promise<string> {
  const decode = (v: unknown): unknown =>
    v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : Array.isArray(v) ? v.map(decode) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)])) : v;
  return JSON.stringify(decode(await handle.fetchHistory()));
}

// A long test: the secret reference's parsing is covered without the lab by test/unit/secrets.test.ts.
test('a password file with a line break inside blocks preflight, before anything changes, and names the file; one ending in a blank line works; no line of either reaches the history', longTest(), async () => {
  const lab = currentLab();
  // Independent of the tests above: installs first when they did not.
  assert.equal((await completedOrBlocked(await startInstall(installEnv(), lab.topology))).status, 'completed');
  const dir = mkdtempSync(join(tmpdir(), 'haflow-secret-'));
  try {
    const secretFile = join(dir, 'rewind-password');
    const topologyFile = withRewindPasswordFile(lab, dir, secretFile);
    const { topology } = loadTopology(topologyFile);
    const oldValue = process.env.HAFLOW_PG_REWIND_PASSWORD!;
    const brokenLines = [`first-${randomBytes(6).toString('hex')}`, `second-${randomBytes(6).toString('hex')}`];
    const newValue = `new-${randomBytes(9).toString('base64url')}`;

    writeFileSync(secretFile, `${brokenLines.join('\n')}\n`, { mode: 0o600 });
    const broken = await startInstall(installEnv(), topology);
    const blocked = await waitForProgress(broken, 'preflight to block on the password', (p) => p.status === 'blocked');
    const step = blocked.steps.find((s) => s.status === 'blocked')!;
    assert.equal(step.id, 'preflight.cluster');
    assert.equal(step.error!.type, 'SecretMissing');
    assert.match(step.error!.message, new RegExp(`postgresql\\.rewind\\.password: the value of file ${secretFile} contains a line break`));
    await broken.executeUpdate('decide', { args: [{ stepId: step.id, decision: 'abort', reason: 'test' }] });
    await assert.rejects(broken.result());

    writeFileSync(secretFile, `${newValue}\n\n`, { mode: 0o600 });
    const changed = await startInstall(installEnv(), topology);
    const outcome = await completedOrBlocked(changed);
    const configs = outcome.steps.filter((s) => s.id.startsWith('patroni.config@'));
    assert.ok(configs.every((s) => s.changed && (s.details ?? []).join('\n').includes('<redacted>')), 'config.yml changed on both nodes, its diff redacted');
    await assertHostsHoldRendered(lab, haflowRender(topologyFile), { ...process.env, HAFLOW_PG_REWIND_PASSWORD: newValue }, { [secretFile]: newValue });

    const again = await startInstall(installEnv(), topology);
    const second = await completedOrBlocked(again);
    assert.equal(second.changed, 0, second.steps.filter((s) => s.changed).map((s) => `${s.id}: ${s.summary}`).join('\n'));
    assert.equal(second.unchanged + second.passed, second.steps.length);

    const histories = (await Promise.all([broken, changed, again].map(decodedHistory))).join('\n');
    assert.match(histories, /patroni\.replica-inactive@node2/, 'the decoded histories hold the step inputs');
    const secrets: Record<string, string> = { oldRewind: oldValue, newRewind: newValue, brokenLine1: brokenLines[0], brokenLine2: brokenLines[1] };
    for (const name of ['HAFLOW_PG_SUPERUSER_PASSWORD', 'HAFLOW_PG_REPLICATION_PASSWORD', 'HAFLOW_APP_DB_PASSWORD']) secrets[name] = process.env[name]!;
    for (const [name, value] of Object.entries(secrets)) assert.equal(histories.includes(value), false, `${name}'s value is in a history`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
