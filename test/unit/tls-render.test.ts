// TLS in every file haflow writes for a cluster that has it: etcd's client and peer URLs and
// certificate files, Patroni's REST API, etcd3 and libpq settings, PostgreSQL's ssl parameters and
// hostssl rules, HAProxy's checks (accepted by haproxy -c against a real CA file); and a topology
// file's secure default, its rules and the one line that turns it all off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { etcdSchemeChange, renderEtcdDefaults } from '../../activities/etcd/config';
import { renderHaproxyCfg } from '../../activities/haproxy/config';
import { renderPatroniYml, type PatroniConfig } from '../../activities/patroni/config';
import { pgHbaRules } from '../../activities/postgres/hba';
import { renderStreamingConf } from '../../activities/postgres/streaming-config';
import { createAuthority } from '../../activities/tls/certificates';
import { parseTopology, TopologyError } from '../../topology';
import { certificateAuthority, certificateHosts, keyOwners, tlsPaths } from '../../topology/tls';
import { findExecutable, hostNamed, SBIN_DIRS, topologies } from '../support/topologies';
import { requires } from '../support/requires';

const { loopbackLab, generic, topology } = topologies(15);
const secure = () => loopbackLab({ tls: {} });

function envOf(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 2, -1)]),
  );
}

test('etcd with TLS: https for clients and peers, the host certificate and its etcd-owned key, peers verify each other', () => {
  const t = secure();
  const env = envOf(renderEtcdDefaults(t, hostNamed(t, 'observer')));
  assert.equal(env.ETCD_LISTEN_CLIENT_URLS, 'https://127.0.0.11:2379');
  assert.equal(env.ETCD_ADVERTISE_CLIENT_URLS, 'https://127.0.0.11:2379');
  assert.equal(env.ETCD_LISTEN_PEER_URLS, 'https://127.0.0.11:2380');
  assert.equal(env.ETCD_INITIAL_CLUSTER, 'observer=https://127.0.0.11:2380');
  assert.equal(env.ETCD_CERT_FILE, '/etc/haflow/tls/host.crt');
  assert.equal(env.ETCD_KEY_FILE, '/etc/haflow/tls/etcd.key');
  assert.ok(!('ETCD_TRUSTED_CA_FILE' in env), 'clients log in with passwords: etcd 3.4 would ask them for certificates');
  assert.equal(env.ETCD_PEER_TRUSTED_CA_FILE, '/etc/haflow/tls/ca.crt');
  assert.equal(env.ETCD_PEER_CLIENT_CERT_AUTH, 'true');
  assert.equal(env.ETCD_PEER_KEY_FILE, '/etc/haflow/tls/etcd.key');
  const plain = envOf(renderEtcdDefaults(loopbackLab(), hostNamed(loopbackLab(), 'observer')));
  assert.equal(plain.ETCD_LISTEN_CLIENT_URLS, 'http://127.0.0.11:2379');
  assert.ok(!('ETCD_CERT_FILE' in plain), 'a cluster without tls stays as it was');
});

test('Patroni with TLS: HTTPS REST API (its peers and patronictl verify with the CA), etcd3 over https, PostgreSQL ssl on, verify-full logins, hostssl rules it keeps written', () => {
  const t = secure();
  const yml = parse(renderPatroniYml(t, hostNamed(t, 'node1'), { superuser: 's', replication: 'r', rewind: 'w' }), { version: '1.1' }) as PatroniConfig;
  assert.deepEqual(yml.restapi, { listen: '127.0.0.12:8008', connect_address: '127.0.0.12:8008', certfile: '/etc/haflow/tls/host.crt', keyfile: '/etc/haflow/tls/postgres.key', cafile: '/etc/haflow/tls/ca.crt' });
  assert.deepEqual(yml.ctl, { cacert: '/etc/haflow/tls/ca.crt' });
  assert.deepEqual(yml.etcd3, { hosts: ['127.0.0.11:2379'], protocol: 'https', cacert: '/etc/haflow/tls/ca.crt' });
  assert.deepEqual(yml.postgresql.parameters, {
    unix_socket_directories: '/var/run/postgresql',
    ssl: 'on',
    ssl_cert_file: '/etc/haflow/tls/host.crt',
    ssl_key_file: '/etc/haflow/tls/postgres.key',
    ssl_min_protocol_version: 'TLSv1.2',
  });
  for (const user of ['superuser', 'replication', 'rewind'] as const) {
    assert.equal(yml.postgresql.authentication[user].sslmode, 'verify-full', user);
    assert.equal(yml.postgresql.authentication[user].sslrootcert, '/etc/haflow/tls/ca.crt', user);
  }
  assert.deepEqual(yml.postgresql.pg_hba, yml.bootstrap.pg_hba, 'written by Patroni on every node, not only at bootstrap');
  assert.deepEqual(yml.postgresql.pg_hba, ['local all all peer', 'hostssl replication replicator 127.0.0.0/8 scram-sha-256', 'hostssl all all 127.0.0.0/8 scram-sha-256']);
});

test('PostgreSQL without TLS keeps host rules; the classic layout gets the same ssl settings in its conf.d file', () => {
  assert.deepEqual(pgHbaRules(loopbackLab(), 'f').slice(1), ['host replication replicator 127.0.0.0/8 scram-sha-256', 'host all all 127.0.0.0/8 scram-sha-256']);
  const classic = topology({
    cluster: 'c',
    layout: 'classic',
    hosts: [
      { name: 'proxy', address: '127.0.0.31', roles: ['haproxy'] },
      { name: 'm', address: '127.0.0.32', roles: ['app', 'db'] },
      { name: 's', address: '127.0.0.33', roles: ['app', 'db'] },
    ],
    app: { db_password: { env: 'X' } },
    haproxy: { stats_auth: { password: { env: 'Y' } } },
    tls: {},
  });
  const conf = renderStreamingConf(classic, hostNamed(classic, 'm'));
  assert.match(conf, /^ssl = 'on'$/m);
  assert.match(conf, /^ssl_key_file = '\/etc\/haflow\/tls\/postgres.key'$/m);
});

test('the paths, owners and hosts of TLS: a key per service user, certificates for the hosts that serve TLS', () => {
  const t = generic({ tls: { dir: '/srv/tls' } });
  assert.equal(tlsPaths(t)!.caBundle, '/srv/tls/ca.crt');
  assert.deepEqual(certificateHosts(t).map((h) => h.name), ['node-1', 'node-2', 'node-3'], 'the HAProxy host serves no TLS of its own');
  assert.deepEqual(keyOwners(t, hostNamed(t, 'node-1')), [
    { user: 'etcd', path: '/srv/tls/etcd.key' },
    { user: 'postgres', path: '/srv/tls/postgres.key' },
  ]);
  assert.deepEqual(certificateAuthority(t), { certificate: '~/.haflow/pki/postgres/ca.crt', key: { file: '~/.haflow/pki/postgres/ca.key' }, field: 'tls.ca.key (default ~/.haflow/pki/postgres/ca.key)' });
  assert.equal(tlsPaths(generic()), undefined);
});

const haproxyBin = findExecutable('haproxy', SBIN_DIRS);

test('HAProxy with TLS checks Patroni over HTTPS against the CA file, and haproxy -c accepts it', { skip: requires(haproxyBin ? false : 'haproxy is not installed') }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'haflow-haproxy-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ca.crt'), (await createAuthority('lab', new Date())).certificate);
  const topo = generic({ tls: { dir }, haproxy: { stats_auth: { password: { env: 'X' } } } });
  const cfg = renderHaproxyCfg(topo, hostNamed(topo, 'node-5'), 'stats-password');
  assert.match(cfg, new RegExp(`server node-1 10\\.0\\.0\\.1:5432 maxconn 100 check port 8008 check-ssl verify required ca-file ${dir}/ca\\.crt$`, 'm'));
  writeFileSync(join(dir, 'haproxy.cfg'), cfg.replace('chroot /var/lib/haproxy', '').replace(/^\s*(user|group) haproxy$/gm, '').replace(/stats socket \S+/, `stats socket ${dir}/admin.sock`));
  const run = spawnSync(haproxyBin!, ['-c', '-f', join(dir, 'haproxy.cfg')], { encoding: 'utf8' });
  assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
});

// ---- a topology file: secure by default

const FILE = `cluster: c
layout: patroni
hosts:
  - { name: n1, address: 10.0.0.1, roles: [db, etcd] }
  - { name: n2, address: 10.0.0.2, roles: [db, etcd] }
  - { name: n3, address: 10.0.0.3, roles: [db, etcd] }
  - { name: p, address: 10.0.0.5, roles: [haproxy] }
postgresql:
  version: 16
  superuser: { password: { env: A } }
  replication: { password: { env: B } }
  rewind: { password: { env: C } }
haproxy:
  stats_auth: { password: { env: D } }
`;
const AUTH = `etcd:
  auth: { root_password: { env: E }, password: { env: F } }
patroni:
  rest_api_auth: { username: haflow, password: { env: G } }
`;

function problems(text: string): string[] {
  try {
    return parseTopology(text, 't.yaml').warnings.map((w) => `${w.line}: warning: ${w.path}: ${w.message}`);
  } catch (err) {
    assert.ok(err instanceof TopologyError, String(err));
    return err.issues.map((i) => `${i.line}: ${i.severity === 'warning' ? 'warning: ' : ''}${i.path}: ${i.message}`);
  }
}

test('a topology file has TLS unless it says security: { insecure: true }, and then it needs etcd and REST API passwords', () => {
  const secureFile = parseTopology(FILE + AUTH, 't.yaml').topology;
  assert.ok(secureFile.tls, 'no tls section: TLS with the cluster CA');
  assert.equal(secureFile.tls!.dir, '/etc/haflow/tls');
  const missing = problems(FILE);
  assert.equal(missing.length, 2, missing.join('\n'));
  assert.match(missing[0], /^1: etcd\.auth: etcd\.auth is not set: etcd would answer anyone who reaches port 2379.*or set security: \{ insecure: true \}/);
  assert.match(missing[1], /^1: patroni\.rest_api_auth: patroni\.rest_api_auth is not set: anyone who reaches port 8008 could switch over/);

  const insecure = problems(`${FILE}security: { insecure: true }\n`);
  assert.deepEqual(insecure.length, 1, insecure.join('\n'));
  assert.match(insecure[0], /^15: warning: security\.insecure: the cluster's control planes speak plain text: etcd \(port 2379, no password\); Patroni's REST API \(port 8008, switchover and restart open to anyone\); PostgreSQL's replication and clients \(port 5432\)/);
  assert.equal(parseTopology(`${FILE}security: { insecure: true }\n`, 't.yaml').topology.tls, undefined);

  assert.match(problems(`${FILE}${AUTH}security: { insecure: true }\ntls: {}\n`)[0], /^19: security\.insecure: security\.insecure is true but the tls section is set; remove one/);
  assert.match(problems(`${FILE}${AUTH}tls: { days: 30, warning_days: 30 }\n`)[0], /tls\.warning_days: tls\.warning_days \(30\) must be less than tls\.days \(30\)/);
});

test("a site's own PKI names a certificate and key for each host that serves TLS, and no other", () => {
  const site = (hosts: string) => `${FILE}${AUTH}tls:\n  site:\n    ca_bundle: /etc/site/ca.pem\n    hosts:\n${hosts}`;
  const entry = (name: string) => `      ${name}: { certificate: /etc/site/${name}.pem, key: { file: /etc/site/${name}.key } }\n`;
  assert.deepEqual(problems(site(entry('n1') + entry('n2') + entry('n3'))), []);
  const wrong = problems(site(entry('n1') + entry('n2') + entry('p') + entry('zz')));
  assert.deepEqual(
    wrong.map((w) => w.replace(/^\d+: /, '')),
    [
      'tls.site.hosts: tls.site.hosts has no certificate for n3; every host that runs etcd or PostgreSQL needs one (n1, n2, n3)',
      'tls.site.hosts.p: host p runs neither etcd nor PostgreSQL, so it serves no TLS; remove its certificate',
      'tls.site.hosts.zz: no host is named zz; the hosts that need a certificate are n1, n2, n3',
    ],
  );
  assert.match(problems(`${FILE}${AUTH}tls:\n  ca: {}\n  site: { ca_bundle: /x, hosts: {} }\n`)[0], /give ca \(haflow issues the certificates\) or site/);
});

test('an install refuses to move a running etcd between plain text and TLS in place, either way, naming what it found; a first install, the same scheme and the move to TLS pass', () => {
  const plain = loopbackLab();
  const tls = secure();
  const member = hostNamed(plain, 'observer');
  const installedPlain = renderEtcdDefaults(plain, member);
  const installedTls = renderEtcdDefaults(tls, member);
  assert.equal(etcdSchemeChange('', tls), undefined, 'no settings yet: a first install');
  assert.equal(etcdSchemeChange('ETCD_LISTEN_CLIENT_URLS="http://127.0.0.11:2379"\n', tls), undefined, "settings haflow did not write are the preflight's backup's business");
  assert.equal(etcdSchemeChange(installedPlain, plain), undefined);
  assert.equal(etcdSchemeChange(installedTls, tls), undefined);
  const up = etcdSchemeChange(installedPlain, tls);
  assert.match(up!.found, /installed without TLS \(http:\/\/\)/);
  assert.match(up!.remedy, /haflow install <topology> --to-tls/);
  assert.equal(etcdSchemeChange(installedPlain, tls, { movingToTls: true }), undefined, 'the move to TLS expects etcd on http');
  const down = etcdSchemeChange(installedTls, plain);
  assert.match(down!.found, /installed with TLS/);
  assert.match(down!.remedy, /remove `security: \{ insecure: true \}`/);
  assert.ok(etcdSchemeChange(installedTls, plain, { movingToTls: true }), 'there is no move back to plain text');
});

test('while a cluster moves to TLS, pg_hba accepts clients with and without TLS; after it, TLS only', () => {
  const t = secure();
  const during = pgHbaRules(t, 'pg_hba.conf', { plainTextToo: true });
  const after = pgHbaRules(t, 'pg_hba.conf');
  assert.deepEqual(during, after.map((l) => l.replace(/^hostssl /, 'host ')));
  assert.ok(after.some((l) => l.startsWith('hostssl replication')) && !during.some((l) => l.startsWith('hostssl')));
  const yml = parse(renderPatroniYml(t, hostNamed(t, 'node1'), { superuser: 's', replication: 'r', rewind: 'w' }, { plainTextToo: true })) as PatroniConfig;
  assert.deepEqual(yml.postgresql.pg_hba, during, "Patroni writes the move's rules on every node");
  assert.equal(yml.postgresql.parameters.ssl, 'on', 'with ssl on: a client that asks for TLS gets it');
  // Patroni 4 logs in to its own PostgreSQL before it turns ssl on: it must not require TLS then.
  assert.equal(yml.postgresql.authentication.superuser.sslmode, 'prefer');
  assert.equal(yml.postgresql.authentication.replication.sslmode, 'verify-full', "a replica's stream: the leader moves first and serves TLS by then");
  const settled = parse(renderPatroniYml(t, hostNamed(t, 'node1'), { superuser: 's', replication: 'r', rewind: 'w' })) as PatroniConfig;
  assert.equal(settled.postgresql.authentication.superuser.sslmode, 'verify-full', 'after the move, verified');
});
