// A standalone lab installed without TLS (security.insecure), then `haflow install` with the lab's
// own topology, which asks for TLS: the install finds the cluster ran in plain text and moves every
// plane to TLS while a client writes through HAProxy the whole time. The client is psql, a new
// connection for each write with libpq's default sslmode (prefer), as an ordinary application
// connects: it must see no failed write and lose no acknowledged one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { haflowCli, labSecrets, useInstallEnvironment } from '../support/install';
import { diskFingerprint, labTopology, sshRun, useLab } from '../support/lab';

labSecrets();
const currentLab = useLab(labTopology('standalone'));
const installEnv = useInstallEnvironment();

const WRITES = { host: '127.0.0.11', port: '5000' };

function psql(sql: string, options: { host?: string; port?: string; conninfo?: string } = {}): Promise<{ ok: boolean; out: string }> {
  const target = options.conninfo ?? `host=${options.host ?? WRITES.host} port=${options.port ?? WRITES.port} user=postgres dbname=postgres connect_timeout=5`;
  return new Promise((resolve) => {
    execFile('psql', [target, '-qtAX', '-v', 'ON_ERROR_STOP=1', '-c', sql], { env: { ...process.env, PGPASSWORD: process.env.HAFLOW_PG_SUPERUSER_PASSWORD }, timeout: 15_000 }, (err, stdout, stderr) =>
      resolve({ ok: !err, out: `${stdout}${stderr}`.trim() }),
    );
  });
}

/** Writes one row every 100 ms until stopped, each over a new connection; every answer recorded. */
function writeProbe() {
  const acknowledged: number[] = [];
  const failures: string[] = [];
  let stopped = false;
  const done = (async () => {
    for (let n = 1; !stopped; n++) {
      const at = new Date().toISOString().slice(11, 23);
      const answer = await psql(`INSERT INTO tls_move_probe VALUES (${n})`);
      if (answer.ok) acknowledged.push(n);
      else failures.push(`${at} write ${n}: ${answer.out.split('\n')[0]}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return { acknowledged, failures, stop: async () => ((stopped = true), await done) };
}

test('a cluster installed without TLS moves to TLS on every plane with `haflow install`, a client writing throughout without one failed or lost write', async () => {
  const lab = currentLab();
  const dir = mkdtempSync(join(tmpdir(), 'haflow-tls-move-'));
  const plain = join(dir, 'plain.yaml');
  writeFileSync(plain, `${readFileSync(lab.topologyFile, 'utf8')}\nsecurity: { insecure: true }\n`);
  const installedPlain = await haflowCli(installEnv(), 'install', plain);
  assert.equal(installedPlain.code, 0, installedPlain.out);
  assert.match((await sshRun(lab, 'observer', 'cat /etc/default/etcd')).stdout, /^ETCD_LISTEN_CLIENT_URLS="http:\/\//m);

  // What the move would change, asked of the machines: no configuration changes on them (the
  // running daemons' data does, so /etc is what is compared).
  const before = lab.topology.hosts.map((h) => diskFingerprint(h.name, 'etc'));
  const checked = await haflowCli(installEnv(), 'plan', '--check', lab.topologyFile);
  assert.equal(checked.code, 0, checked.out);
  assert.match(checked.out, /runs without TLS \(its latest operation's topology\)/);
  assert.match(checked.out, /tls\.pause: would pause Patroni/);
  assert.match(checked.out, /tls\.etcd@observer: would set observer's peer URL to https:\/\/127\.0\.0\.11:2380/);
  assert.match(checked.out, /\+ETCD_LISTEN_CLIENT_URLS="https:\/\/127\.0\.0\.11:2379"/, 'the diff of each file is shown');
  lab.topology.hosts.forEach((h, i) => assert.ok(diskFingerprint(h.name, 'etc') === before[i], `${h.name}: the check changed a file in /etc`));

  const leaderStart = await psql('SELECT pg_postmaster_start_time()', { host: '127.0.0.12', port: '5432' });
  assert.ok(leaderStart.ok, leaderStart.out);
  assert.ok((await psql('CREATE TABLE tls_move_probe (n int PRIMARY KEY)')).ok);
  const probe = writeProbe();
  let moved: { code: number | null; out: string };
  try {
    await new Promise((r) => setTimeout(r, 2000));
    moved = await haflowCli(installEnv(), 'install', lab.topologyFile);
    await new Promise((r) => setTimeout(r, 2000));
  } finally {
    await probe.stop();
  }
  assert.equal(moved.code, 0, moved.out);
  assert.match(moved.out, /cluster lab-standalone runs without TLS \(its latest operation's topology\): this install moves it to TLS/);
  for (const step of ['tls.pause', 'tls.hold@observer', 'tls.etcd@observer', 'tls.patroni@node1', 'tls.patroni@node2', 'tls.haproxy@observer', 'tls.release@observer', 'tls.resume']) {
    assert.match(moved.out, new RegExp(`changed\\s+${step.replace(/\./g, '\\.')}\\s`), `${step} changed something`);
  }
  assert.match(moved.out, /tls\.patroni@node1 .*PostgreSQL kept running \(same postmaster\)/);
  assert.match(moved.out, /patroni\.config@node1 .*reload patroni/, 'the install after the move turns pg_hba to hostssl by a reload');

  // The client never noticed: no write failed, and every acknowledged one is on the leader.
  assert.deepEqual(probe.failures, [], `writes failed during the move:\n${probe.failures.join('\n')}`);
  assert.ok(probe.acknowledged.length > 100, `the client wrote throughout (${probe.acknowledged.length} writes)`);
  const stored = await psql('SELECT n FROM tls_move_probe ORDER BY n');
  assert.ok(stored.ok, stored.out);
  const rows = new Set(stored.out.split('\n').map(Number));
  assert.deepEqual(probe.acknowledged.filter((n) => !rows.has(n)), [], 'acknowledged writes are lost');
  const leaderAfter = await psql('SELECT pg_postmaster_start_time()', { host: '127.0.0.12', port: '5432' });
  assert.equal(leaderAfter.out, leaderStart.out, "the leader's PostgreSQL was not restarted");

  // Every plane speaks TLS only now, checked with ordinary clients.
  const ca = join(process.env.HOME!, '.haflow/pki', lab.topology.cluster, 'ca.crt');
  const curl = (...args: string[]) => spawnSync('curl', ['-s', '--max-time', '5', ...args], { encoding: 'utf8' });
  assert.notEqual(curl('-f', 'http://127.0.0.11:2379/health').status, 0, 'etcd still answers plain HTTP');
  assert.match(curl('--cacert', ca, 'https://127.0.0.11:2379/health').stdout, /"health":"true"/);
  assert.notEqual(curl('-f', 'http://127.0.0.12:8008/health').status, 0, "Patroni's REST API still answers plain HTTP");
  assert.equal(curl('-o', '/dev/null', '-w', '%{http_code}', '--cacert', ca, 'https://127.0.0.12:8008/primary').stdout, '200');
  const refused = await psql('SELECT 1', { conninfo: `host=127.0.0.12 port=5432 user=postgres dbname=postgres sslmode=disable` });
  assert.ok(!refused.ok && /no pg_hba\.conf entry .*no encryption/.test(refused.out), `PostgreSQL takes a client without TLS: ${refused.out}`);
  const verified = await psql('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()', { conninfo: `host=127.0.0.12 port=5432 user=postgres dbname=postgres sslmode=verify-full sslrootcert=${ca}` });
  assert.equal(verified.out, 't', verified.out);
  const streaming = await psql("SELECT s.state, l.ssl FROM pg_stat_replication s JOIN pg_stat_ssl l USING (pid)", { host: '127.0.0.12', port: '5432' });
  assert.equal(streaming.out, 'streaming|t', 'the replica streams over TLS');
  assert.match((await sshRun(lab, 'observer', 'cat /etc/haproxy/haproxy.cfg', { sudo: true })).stdout, /check-ssl verify required ca-file/);

  // The cluster is a TLS cluster now: the next install is an ordinary one and changes nothing.
  const again = await haflowCli(installEnv(), 'install', lab.topologyFile);
  assert.equal(again.code, 0, again.out);
  assert.doesNotMatch(again.out, /tls\.pause|runs without TLS/);
  assert.match(again.out, /nothing to change: the cluster already matches the topology/, again.out.split('\n').slice(-3).join('\n'));
});
