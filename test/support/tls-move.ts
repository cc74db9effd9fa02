// The move of a cluster installed without TLS to TLS, with `haflow install` and the lab's own
// topology (which asks for TLS), while a client writes through HAProxy the whole time. The client
// is psql, a new connection for each write with libpq's default sslmode (prefer), as an ordinary
// application connects: it must see no failed write and lose no acknowledged one. Run on a lab
// layout by test/e2e/tls-move*.test.ts.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Lab } from '../../lab';
import { dbHosts, etcdMembers, haproxyHosts, initialLeader } from '../../topology';
import { haflowCli } from './install';
import { diskFingerprint, sshRun } from './lab';


function psql(sql: string, at: { host: string; port: number } | { conninfo: string }): Promise<{ ok: boolean; out: string }> {
  const target = 'conninfo' in at ? at.conninfo : `host=${at.host} port=${at.port} user=postgres dbname=postgres connect_timeout=5`;
  return new Promise((resolve) => {
    execFile('psql', [target, '-qtAX', '-v', 'ON_ERROR_STOP=1', '-c', sql], { env: { ...process.env, PGPASSWORD: process.env.HAFLOW_PG_SUPERUSER_PASSWORD }, timeout: 15_000 }, (err, stdout, stderr) =>
      resolve({ ok: !err, out: `${stdout}${stderr}`.trim() }),
    );
  });
}

/** Writes one row every 100 ms until stopped, each over a new connection; every answer recorded. */
function writeProbe(writes: { host: string; port: number }) {
  const acknowledged: number[] = [];
  const failures: string[] = [];
  let stopped = false;
  const done = (async () => {
    for (let n = 1; !stopped; n++) {
      const at = new Date().toISOString().slice(11, 23);
      const answer = await psql(`INSERT INTO tls_move_probe VALUES (${n})`, writes);
      if (answer.ok) acknowledged.push(n);
      else failures.push(`${at} write ${n}: ${answer.out.split('\n')[0]}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return { acknowledged, failures, stop: async () => ((stopped = true), await done) };
}

export async function moveToTlsWhileWriting(t: TestContext, lab: Lab, env: TestWorkflowEnvironment): Promise<void> {
  const topology = lab.topology;
  const proxy = haproxyHosts(topology)[0];
  const writes = { host: proxy.address, port: topology.haproxy.postgres_port };
  const leader = initialLeader(topology);
  const atLeader = { host: leader.address, port: topology.postgresql.port };
  const member = etcdMembers(topology)[0];
  const etcdPort = topology.etcd.client_port;
  const restPort = topology.patroni.rest_api_port;
  const dir = mkdtempSync(join(tmpdir(), 'haflow-tls-move-'));
  const plain = join(dir, 'plain.yaml');
  writeFileSync(plain, `${readFileSync(lab.topologyFile, 'utf8')}\nsecurity: { insecure: true }\n`);
  const installedPlain = await haflowCli(env, 'install', plain);
  assert.equal(installedPlain.code, 0, installedPlain.out);
  assert.match((await sshRun(lab, member.name, 'cat /etc/default/etcd')).stdout, /^ETCD_LISTEN_CLIENT_URLS="http:\/\//m);

  // What the move would change, asked of the machines: no configuration changes on them (the
  // running daemons' data does, so /etc is what is compared).
  const before = topology.hosts.map((h) => diskFingerprint(h.name, 'etc'));
  const checked = await haflowCli(env, 'plan', '--check', lab.topologyFile);
  assert.equal(checked.code, 0, checked.out);
  assert.match(checked.out, /runs without TLS \(its latest operation's topology\)/);
  assert.match(checked.out, /tls\.pause: would pause Patroni/);
  for (const m of etcdMembers(topology)) assert.match(checked.out, new RegExp(`tls\\.etcd@${m.name}: would set ${m.name}'s peer URL to https://${m.address}:${topology.etcd.peer_port}`));
  assert.ok(checked.out.includes(`+ETCD_LISTEN_CLIENT_URLS="https://${member.address}:${etcdPort}"`), 'the diff of each file is shown');
  topology.hosts.forEach((h, i) => assert.ok(diskFingerprint(h.name, 'etc') === before[i], `${h.name}: the check changed a file in /etc`));

  const leaderStart = await psql('SELECT pg_postmaster_start_time()', atLeader);
  assert.ok(leaderStart.ok, leaderStart.out);
  assert.ok((await psql('CREATE TABLE tls_move_probe (n int PRIMARY KEY)', writes)).ok);
  const started = Date.now();
  const probe = writeProbe(writes);
  let moved: { code: number | null; out: string };
  try {
    await new Promise((r) => setTimeout(r, 2000));
    moved = await haflowCli(env, 'install', lab.topologyFile);
    await new Promise((r) => setTimeout(r, 2000));
  } finally {
    await probe.stop();
  }
  assert.equal(moved.code, 0, moved.out);
  t.diagnostic(`the move, with the install after it: ${((Date.now() - started) / 1000).toFixed(0)} s of writes, ${probe.acknowledged.length} acknowledged, ${probe.failures.length} failed`);
  assert.match(moved.out, new RegExp(`cluster ${topology.cluster} runs without TLS \\(its latest operation's topology\\): this install moves it to TLS`));
  const moveSteps = [
    'tls.pause',
    ...haproxyHosts(topology).flatMap((h) => [`tls.hold@${h.name}`, `tls.haproxy@${h.name}`, `tls.release@${h.name}`]),
    ...etcdMembers(topology).map((m) => `tls.etcd@${m.name}`),
    ...dbHosts(topology).map((h) => `tls.patroni@${h.name}`),
    'tls.resume',
  ];
  for (const step of moveSteps) {
    assert.match(moved.out, new RegExp(`changed\\s+${step.replace(/\./g, '\\.')}\\s`), `${step} changed something`);
  }
  assert.match(moved.out, new RegExp(`tls\\.patroni@${leader.name} .*PostgreSQL kept running \\(same postmaster\\)`));
  assert.match(moved.out, new RegExp(`patroni\\.config@${leader.name} .*reload patroni`), 'the install after the move turns pg_hba to hostssl by a reload');

  // The client never noticed: no write failed, and every acknowledged one is on the leader.
  assert.deepEqual(probe.failures, [], `writes failed during the move:\n${probe.failures.join('\n')}`);
  assert.ok(probe.acknowledged.length > 100, `the client wrote throughout (${probe.acknowledged.length} writes)`);
  const stored = await psql('SELECT n FROM tls_move_probe ORDER BY n', writes);
  assert.ok(stored.ok, stored.out);
  const rows = new Set(stored.out.split('\n').map(Number));
  assert.deepEqual(probe.acknowledged.filter((n) => !rows.has(n)), [], 'acknowledged writes are lost');
  const leaderAfter = await psql('SELECT pg_postmaster_start_time()', atLeader);
  assert.equal(leaderAfter.out, leaderStart.out, "the leader's PostgreSQL was not restarted");

  // Every plane speaks TLS only now, checked with ordinary clients.
  const ca = join(process.env.HOME!, '.haflow/pki', topology.cluster, 'ca.crt');
  const curl = (...args: string[]) => spawnSync('curl', ['-s', '--max-time', '5', ...args], { encoding: 'utf8' });
  for (const m of etcdMembers(topology)) {
    assert.notEqual(curl('-f', `http://${m.address}:${etcdPort}/health`).status, 0, `etcd on ${m.name} still answers plain HTTP`);
    assert.match(curl('--cacert', ca, `https://${m.address}:${etcdPort}/health`).stdout, /"health":"true"/);
  }
  assert.notEqual(curl('-f', `http://${leader.address}:${restPort}/health`).status, 0, "Patroni's REST API still answers plain HTTP");
  assert.equal(curl('-o', '/dev/null', '-w', '%{http_code}', '--cacert', ca, `https://${leader.address}:${restPort}/primary`).stdout, '200');
  const refused = await psql('SELECT 1', { conninfo: `host=${leader.address} port=${atLeader.port} user=postgres dbname=postgres sslmode=disable` });
  assert.ok(!refused.ok && /no pg_hba\.conf entry .*no encryption/.test(refused.out), `PostgreSQL takes a client without TLS: ${refused.out}`);
  const verified = await psql('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()', { conninfo: `host=${leader.address} port=${atLeader.port} user=postgres dbname=postgres sslmode=verify-full sslrootcert=${ca}` });
  assert.equal(verified.out, 't', verified.out);
  const streaming = await psql('SELECT s.state, l.ssl FROM pg_stat_replication s JOIN pg_stat_ssl l USING (pid)', atLeader);
  assert.deepEqual(streaming.out.split('\n'), dbHosts(topology).slice(1).map(() => 'streaming|t'), 'every replica streams over TLS');
  assert.match((await sshRun(lab, proxy.name, 'cat /etc/haproxy/haproxy.cfg', { sudo: true })).stdout, /check-ssl verify required ca-file/);

  // The cluster is a TLS cluster now: the next install is an ordinary one and changes nothing.
  const again = await haflowCli(env, 'install', lab.topologyFile);
  assert.equal(again.code, 0, again.out);
  assert.doesNotMatch(again.out, /tls\.pause|runs without TLS/);
  assert.match(again.out, /nothing to change: the cluster already matches the topology/, again.out.split('\n').slice(-3).join('\n'));
}
