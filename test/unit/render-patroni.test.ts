// patroni.yml renderer, parsed back with yaml and checked against the five-node tutorial's shape
// (Step 7) and the config proven on the lab's machines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { Topology } from '../../topology/schema';
import { renderEtcdDefaults } from '../../activities/etcd/config';
import { renderEtcdUnit } from '../../activities/etcd/unit';
import { renderHaproxyCfg } from '../../activities/haproxy/config';
import { patroniConfigPath, renderPatroniYml, type PatroniConfig, type PatroniSecrets } from '../../activities/patroni/config';
import { renderPatroniUnit } from '../../activities/patroni/unit';
import { findExecutable, hostNamed, topologies } from '../support/topologies';
import { requires } from '../support/requires';

// ---- topologies ----

// The lab runs Debian's PostgreSQL 15, so these fixtures default to it.
const { loopbackLab, distributed, generic } = topologies(15);

const secrets: PatroniSecrets = { superuser: 'pg-secret', replication: 'rep-secret', rewind: 'rewind-secret' };

// The parsed file, in the renderer's declared shape: the assertions below check it really is.
type Yml = PatroniConfig;

/** The rendered patroni.yml of the named DB node, as text. */
function renderText(t: Topology, name: string, s: PatroniSecrets = secrets): string {
  return renderPatroniYml(t, hostNamed(t, name), s);
}

function render(t: Topology, name: string, s: PatroniSecrets = secrets): Yml {
  return parse(renderText(t, name, s), { version: '1.1' }) as Yml;
}

// ---- the lab's working config ----

test('loopback lab: the config proven on the lab, section by section', () => {
  const yml = render(loopbackLab(), 'node1');

  assert.equal(yml.scope, 'pgha');
  assert.equal(yml.namespace, '/service/');
  assert.equal(yml.name, 'node1');
  assert.deepEqual(yml.restapi, { listen: '127.0.0.12:8008', connect_address: '127.0.0.12:8008' });
  assert.deepEqual(yml.etcd3, { hosts: ['127.0.0.11:2379'] });
  assert.ok(!('etcd' in yml), 'the v2 `etcd:` section fails against etcd 3.4 (404 on /v2, forever)');

  assert.deepEqual(yml.bootstrap.dcs, {
    ttl: 30,
    loop_wait: 10,
    retry_timeout: 10,
    maximum_lag_on_failover: 1048576,
    synchronous_mode: false,
    synchronous_mode_strict: false,
    postgresql: {
      use_pg_rewind: true,
      use_slots: true,
      parameters: { wal_level: 'replica', hot_standby: 'on', wal_log_hints: 'on', max_wal_senders: 10, max_replication_slots: 10 },
    },
  });
  assert.deepEqual(yml.bootstrap.initdb, [{ encoding: 'UTF8' }, 'data-checksums']);
  // Gotcha 1: on loopback every client connects from 127.0.0.1, so allow the whole 127.0.0.0/8.
  assert.deepEqual(yml.bootstrap.pg_hba, [
    'local all all peer',
    'host replication replicator 127.0.0.0/8 scram-sha-256',
    'host all all 127.0.0.0/8 scram-sha-256',
  ]);

  assert.deepEqual(yml.postgresql, {
    listen: '127.0.0.12:5432',
    connect_address: '127.0.0.12:5432',
    data_dir: '/var/lib/postgresql/patroni-data',
    bin_dir: '/usr/lib/postgresql/15/bin',
    pgpass: '/var/lib/postgresql/.pgpass_patroni',
    basebackup: [{ checkpoint: 'fast' }],
    authentication: {
      superuser: { username: 'postgres', password: 'pg-secret' },
      replication: { username: 'replicator', password: 'rep-secret' },
      rewind: { username: 'rewind_user', password: 'rewind-secret' },
    },
    parameters: { unix_socket_directories: '/var/run/postgresql' },
  });
  assert.deepEqual(yml.tags, { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false });
});

test('each DB node gets its own name and addresses; the rest is identical', () => {
  const t = loopbackLab();
  const node1 = render(t, 'node1');
  const node2 = render(t, 'node2');
  assert.equal(node2.name, 'node2');
  assert.deepEqual(node2.restapi, { listen: '127.0.0.13:8008', connect_address: '127.0.0.13:8008' });
  assert.equal(node2.postgresql.listen, '127.0.0.13:5432');
  assert.equal(node2.postgresql.connect_address, '127.0.0.13:5432');
  const shared = (y: Yml) => ({ scope: y.scope, namespace: y.namespace, etcd3: y.etcd3, bootstrap: y.bootstrap, tags: y.tags });
  assert.deepEqual(shared(node2), shared(node1));
});

// ---- pg_hba ----

test('distributed: replication from the DB nodes, clients also from HAProxy and the app machines', () => {
  const yml = render(distributed(), 'db1');
  assert.deepEqual(yml.bootstrap.pg_hba, [
    'local all all peer',
    'host replication replicator 172.16.12.202/32 scram-sha-256',
    'host replication replicator 172.16.12.216/32 scram-sha-256',
    'host replication replicator 127.0.0.1/32 scram-sha-256',
    'host all all 172.16.12.202/32 scram-sha-256',
    'host all all 172.16.12.216/32 scram-sha-256',
    // HAProxy forwards TCP: PostgreSQL sees the observer as the client of every :5000 session.
    'host all all 172.16.13.42/32 scram-sha-256',
    'host all all 172.16.12.171/32 scram-sha-256',
    'host all all 172.16.12.177/32 scram-sha-256',
    'host all all 127.0.0.1/32 scram-sha-256',
  ]);
});

test('postgresql.allowed_networks replaces the computed networks, and the replication user name flows through', () => {
  const t = generic({
    postgresql: { allowed_networks: ['10.0.0.0/24', '192.168.1.0/24'], replication: { username: 'repl', password: { env: 'R' } } },
  });
  assert.deepEqual(render(t, 'node-1').bootstrap.pg_hba, [
    'local all all peer',
    'host replication repl 10.0.0.0/24 scram-sha-256',
    'host replication repl 192.168.1.0/24 scram-sha-256',
    'host all all 10.0.0.0/24 scram-sha-256',
    'host all all 192.168.1.0/24 scram-sha-256',
  ]);
});

test('a DB node known by DNS name appears by name in pg_hba (a mask only fits an IP)', () => {
  const t = generic({
    hosts: [
      { name: 'db-a', address: 'db-a.example.com', roles: ['db', 'etcd', 'haproxy'] },
      { name: 'db-b', address: 'db-b.example.com', roles: ['db'] },
    ],
  });
  const hba = render(t, 'db-a').bootstrap.pg_hba as string[];
  assert.ok(hba.includes('host replication replicator db-b.example.com scram-sha-256'));
  assert.ok(hba.includes('host all all 127.0.0.1/32 scram-sha-256'));
});

// ---- generic cluster and settings ----

test('generic: three DB nodes and a 3-member etcd; etcd3 lists every member', () => {
  const t = generic({ etcd: { client_port: 2479 } });
  const yml = render(t, 'node-3');
  assert.equal(yml.scope, 'postgres');
  assert.deepEqual(yml.etcd3.hosts, ['10.0.0.1:2479', '10.0.0.2:2479', '10.0.0.3:2479']);
  assert.deepEqual(yml.restapi, { listen: '10.0.0.3:8008', connect_address: '10.0.0.3:8008' });
});

test('synchronous_mode, timings, ports, paths, scope and namespace come from the topology', () => {
  const t = generic({
    patroni: {
      scope: 'billing',
      namespace: '/db/',
      ttl: 10,
      loop_wait: 2,
      retry_timeout: 4,
      maximum_lag_on_failover: 0,
      synchronous_mode: true,
      rest_api_port: 8009,
    },
    postgresql: {
      version: 17,
      port: 5433,
      data_dir: '/data/patroni',
      superuser: { username: 'admin', password: { env: 'S' } },
    },
  });
  const yml = render(t, 'node-1');
  assert.equal(yml.scope, 'billing');
  assert.equal(yml.namespace, '/db/');
  const { postgresql: _dcsPostgresql, ...timings } = yml.bootstrap.dcs;
  assert.deepEqual(timings, { ttl: 10, loop_wait: 2, retry_timeout: 4, maximum_lag_on_failover: 0, synchronous_mode: true, synchronous_mode_strict: false });
  const strict = render(generic({ patroni: { synchronous_mode: 'strict' } }), 'node-1').bootstrap.dcs;
  assert.deepEqual([strict.synchronous_mode, strict.synchronous_mode_strict], [true, true]);
  assert.equal(yml.restapi.listen, '10.0.0.1:8009');
  assert.equal(yml.postgresql.listen, '10.0.0.1:5433');
  assert.equal(yml.postgresql.data_dir, '/data/patroni');
  assert.equal(yml.postgresql.bin_dir, '/usr/lib/postgresql/17/bin');
  assert.equal(yml.postgresql.authentication.superuser.username, 'admin');
});

test('patroni.rest_api_auth puts basic authentication on the REST API (Patroni and patronictl read it from restapi.authentication)', () => {
  const t = loopbackLab({ patroni: { rest_api_auth: { username: 'haflow', password: { env: 'HAFLOW_PATRONI_API_PASSWORD' } } } });
  assert.deepEqual(render(t, 'node1', { ...secrets, restApi: 'api: secret' }).restapi, {
    listen: '127.0.0.12:8008',
    connect_address: '127.0.0.12:8008',
    authentication: { username: 'haflow', password: 'api: secret' },
  });
  assert.equal(render(loopbackLab(), 'node1').restapi.authentication, undefined, 'without it, no authentication section');
});

test('etcd.auth gives Patroni its etcd user and password under etcd3', () => {
  const t = loopbackLab({ etcd: { auth: { root_password: { env: 'R' }, username: 'patroni', password: { env: 'P' } } } } as never);
  assert.deepEqual(render(t, 'node1', { ...secrets, etcd: 'etcd-pw' }).etcd3, { hosts: ['127.0.0.11:2379'], username: 'patroni', password: 'etcd-pw' });
});

test('explicit bin_dir wins over the Debian default', () => {
  const t = generic({ postgresql: { bin_dir: '/usr/pgsql-16/bin' } });
  assert.equal(render(t, 'node-1').postgresql.bin_dir, '/usr/pgsql-16/bin');
});

test("the operator's PostgreSQL parameters join the DCS parameters; booleans become on/off", () => {
  const t = generic({ postgresql: { parameters: { max_wal_senders: 20, shared_buffers: '32MB', archive_mode: true, fsync: false } } });
  assert.deepEqual(render(t, 'node-1').bootstrap.dcs.postgresql.parameters, {
    wal_level: 'replica',
    hot_standby: 'on',
    wal_log_hints: 'on',
    max_wal_senders: 20,
    max_replication_slots: 10,
    shared_buffers: '32MB',
    archive_mode: 'on',
    fsync: 'off',
  });
});

// ---- secrets and quoting ----

test('passwords that YAML 1.1 would read as something else stay strings', () => {
  const tricky: PatroniSecrets = { superuser: 'yes', replication: '1:20', rewind: 'a "b" #c: \'d\' \\e' };
  const text = renderText(loopbackLab(), 'node1', tricky);
  for (const version of ['1.1', '1.2'] as const) {
    const auth = (parse(text, { version }) as Yml).postgresql.authentication;
    assert.deepEqual(
      [auth.superuser.password, auth.replication.password, auth.rewind.password],
      [tricky.superuser, tricky.replication, tricky.rewind],
      `YAML ${version}`,
    );
  }
  assert.match(text, /hot_standby: "on"/);
});

test('PyYAML (what Patroni reads with) sees the same passwords', { skip: requires(pyyamlSkip()) }, () => {
  const tricky: PatroniSecrets = { superuser: 'on', replication: '0x1F', rewind: 'n~ 2020-01-01 :x' };
  const text = renderText(loopbackLab(), 'node1', tricky);
  const run = spawnSync('python3', ['-c', 'import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'], {
    input: text,
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  const yml = JSON.parse(run.stdout) as Yml;
  assert.deepEqual(yml.postgresql.authentication, {
    superuser: { username: 'postgres', password: 'on' },
    replication: { username: 'replicator', password: '0x1F' },
    rewind: { username: 'rewind_user', password: 'n~ 2020-01-01 :x' },
  });
  assert.equal(yml.bootstrap.dcs.postgresql.parameters.hot_standby, 'on');
});

test('secrets appear in patroni.yml and in no other rendered file', () => {
  const t = loopbackLab();
  const unique: PatroniSecrets = { superuser: 'S3cret-super-7f2a', replication: 'S3cret-repl-91bc', rewind: 'S3cret-rewind-c4d0' };
  const patroniYml = renderText(t, 'node1', unique);
  for (const password of Object.values(unique)) {
    assert.equal(patroniYml.split(password).length - 1, 1, `${password} appears once in patroni.yml`);
  }
  const others = [
    renderHaproxyCfg(t, hostNamed(t, 'observer')),
    renderEtcdDefaults(t, hostNamed(t, 'observer')),
    renderPatroniUnit(t),
    renderEtcdUnit(t),
  ];
  for (const text of others) {
    for (const password of Object.values(unique)) assert.ok(!text.includes(password));
  }
});

// ---- file-level properties ----

test('the file starts with the haflow header comment and rendering is deterministic', () => {
  const text = renderText(loopbackLab(), 'node1');
  assert.match(text.split('\n')[0], /^# Managed by haflow \(cluster pgha\): Patroni on node1\./);
  assert.match(text, /^# Holds passwords: keep it root:postgres, mode 0640\.$/m);
  assert.equal(renderText(loopbackLab(), 'node1'), text);
});

test("patroniConfigPath is where Debian's patroni.service reads it", () => {
  assert.equal(patroniConfigPath, '/etc/patroni/config.yml');
  const debianUnit = '/lib/systemd/system/patroni.service';
  if (existsSync(debianUnit)) {
    assert.match(readFileSync(debianUnit, 'utf8'), /^ExecStart=\/usr\/bin\/patroni \/etc\/patroni\/config\.yml$/m);
  }
});

test('refuses a host without the db role', () => {
  assert.throws(() => renderText(loopbackLab(), 'observer'), /observer: it does not have the db role/);
});

// ---- the real patroni binary ----

function pyyamlSkip(): string | false {
  if (!findExecutable('python3')) return 'python3 not found';
  const run = spawnSync('python3', ['-c', 'import yaml'], { encoding: 'utf8' });
  return run.status === 0 ? false : 'python3 has no yaml module (apt-get install python3-yaml to run this check)';
}

/** Debian's PostgreSQL major versions installed here (validate-config checks bin_dir's programs). */
function installedPostgresVersion(): number | undefined {
  if (!existsSync('/usr/lib/postgresql')) return undefined;
  const versions = readdirSync('/usr/lib/postgresql')
    .filter((v) => /^\d+$/.test(v) && existsSync(`/usr/lib/postgresql/${v}/bin/postgres`))
    .map(Number);
  return versions.length > 0 ? Math.max(...versions) : undefined;
}

function validateSkip(): string | false {
  if (!findExecutable('patroni')) return 'patroni not found (apt-get install patroni python3-etcd to run this check)';
  if (installedPostgresVersion() === undefined) return 'no PostgreSQL under /usr/lib/postgresql/<version>/bin';
  return false;
}

function listen(address: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(0, address, () => resolve(server));
  });
}

function portOf(server: Server): number {
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return address.port;
}

test('patroni --validate-config accepts the rendered file', { skip: requires(validateSkip()) }, async () => {
  // The validator connects to every etcd endpoint and checks that the REST API and PostgreSQL
  // ports are free, so give it a listening stand-in for etcd and two ports known to be free.
  const etcd = await listen('127.0.0.11');
  const spare = await Promise.all([listen('127.0.0.12'), listen('127.0.0.12')]);
  const [restPort, pgPort] = spare.map(portOf);
  await Promise.all(spare.map((s) => new Promise((r) => s.close(r))));
  const dir = mkdtempSync(join(tmpdir(), 'haflow-patroni-'));
  try {
    const t = loopbackLab({
      etcd: { client_port: portOf(etcd) },
      patroni: { rest_api_port: restPort, synchronous_mode: true },
      postgresql: { version: installedPostgresVersion() as number, port: pgPort, data_dir: join(dir, 'data') },
    });
    const file = join(dir, 'config.yml');
    writeFileSync(file, renderText(t, 'node1', { superuser: 'yes', replication: '1:20', rewind: 'x #y' }));
    const run = spawnSync('patroni', ['--validate-config', file], { encoding: 'utf8' });
    assert.equal(run.status, 0, `patroni --validate-config failed:\n${run.stdout}${run.stderr}`);

    // And the validator is really looking: a wrong file fails.
    writeFileSync(file, renderText(t, 'node1').replace(/^name: node1$/m, ''));
    assert.notEqual(spawnSync('patroni', ['--validate-config', file], { encoding: 'utf8' }).status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await new Promise((r) => etcd.close(r));
  }
});
