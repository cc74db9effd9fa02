// /etc/default/etcd renderer, read back as KEY=VALUE and checked against the tutorial's variables
// (the five-node tutorial, Step 6), the three-node tutorial's three-member cluster and the lab's observer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { Topology } from '../../topology/schema';
import { renderEtcdDefaults } from '../../activities/etcd/config';
import { hostNamed, loopbackLab, topology, type Extra } from '../support/topologies';

// ---- reading the file back ----

/** KEY="VALUE" lines (the tutorial's quoting), comments skipped; each key once. */
function parseEnv(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Z0-9_]+)="((?:[^"\\]|\\.)*)"$/.exec(line);
    assert.ok(m, `not a KEY="VALUE" line: ${line}`);
    assert.ok(!(m[1] in vars), `${m[1]} set twice`);
    vars[m[1]] = m[2].replace(/\\(.)/g, '$1');
  }
  return vars;
}

const KEYS = [
  'ETCD_NAME',
  'ETCD_DATA_DIR',
  'ETCD_LISTEN_CLIENT_URLS',
  'ETCD_ADVERTISE_CLIENT_URLS',
  'ETCD_LISTEN_PEER_URLS',
  'ETCD_INITIAL_ADVERTISE_PEER_URLS',
  'ETCD_INITIAL_CLUSTER',
  'ETCD_INITIAL_CLUSTER_STATE',
  'ETCD_INITIAL_CLUSTER_TOKEN',
];

// ---- topologies ----

/** n etcd members at 10.0.1.1..n (also DB nodes), as the tutorial's patroni01..03. */
function cluster(n: number, extra: Extra = {}): Topology {
  return topology({
    cluster: 'pg',
    layout: 'patroni',
    hosts: Array.from({ length: n }, (_, i) => ({
      name: `patroni0${i + 1}`,
      address: `10.0.1.${i + 1}`,
      roles: ['etcd' as const, 'db' as const],
    })),
    ...extra,
  });
}

/** The rendered /etc/default/etcd of the named member. */
function render(t: Topology, name: string): string {
  return renderEtcdDefaults(t, hostNamed(t, name));
}

// ---- the lab and the tutorials ----

test("loopback lab: the observer's file, as proven on the lab", () => {
  const t = loopbackLab({ etcd: { cluster_token: 'pgha-lab' } });
  const text = render(t, 'observer');
  assert.deepEqual(parseEnv(text), {
    ETCD_NAME: 'observer',
    ETCD_DATA_DIR: '/var/lib/etcd/default',
    // Only the member's own address: on loopback the members would fight over 127.0.0.1.
    ETCD_LISTEN_CLIENT_URLS: 'http://127.0.0.11:2379',
    ETCD_ADVERTISE_CLIENT_URLS: 'http://127.0.0.11:2379',
    ETCD_LISTEN_PEER_URLS: 'http://127.0.0.11:2380',
    ETCD_INITIAL_ADVERTISE_PEER_URLS: 'http://127.0.0.11:2380',
    ETCD_INITIAL_CLUSTER: 'observer=http://127.0.0.11:2380',
    ETCD_INITIAL_CLUSTER_STATE: 'new',
    ETCD_INITIAL_CLUSTER_TOKEN: 'pgha-lab',
  });
  assert.deepEqual(Object.keys(parseEnv(text)), KEYS, 'the tutorial variables, in a stable order');
});

test('three members (the three-node tutorial): every member lists the whole cluster, and its own addresses', () => {
  const t = cluster(3);
  const vars = parseEnv(render(t, 'patroni02'));
  assert.deepEqual(vars, {
    ETCD_NAME: 'patroni02',
    ETCD_DATA_DIR: '/var/lib/etcd/default',
    // A real address: also listen on 127.0.0.1, the tutorial's "localhost", for local etcdctl.
    ETCD_LISTEN_CLIENT_URLS: 'http://10.0.1.2:2379,http://127.0.0.1:2379',
    ETCD_ADVERTISE_CLIENT_URLS: 'http://10.0.1.2:2379',
    ETCD_LISTEN_PEER_URLS: 'http://10.0.1.2:2380',
    ETCD_INITIAL_ADVERTISE_PEER_URLS: 'http://10.0.1.2:2380',
    ETCD_INITIAL_CLUSTER: 'patroni01=http://10.0.1.1:2380,patroni02=http://10.0.1.2:2380,patroni03=http://10.0.1.3:2380',
    ETCD_INITIAL_CLUSTER_STATE: 'new',
    ETCD_INITIAL_CLUSTER_TOKEN: 'pg-etcd',
  });
});

for (const n of [1, 3, 5, 7]) {
  test(`${n} member(s): one file per member, same initial cluster, own name and URLs`, () => {
    const t = cluster(n);
    const files = t.hosts.map((h) => parseEnv(renderEtcdDefaults(t, h)));
    const expectedCluster = t.hosts.map((h) => `${h.name}=http://${h.address}:2380`).join(',');
    assert.equal(expectedCluster.split(',').length, n);
    files.forEach((vars, i) => {
      const h = t.hosts[i];
      assert.equal(vars.ETCD_INITIAL_CLUSTER, expectedCluster);
      assert.equal(vars.ETCD_NAME, h.name);
      assert.equal(vars.ETCD_ADVERTISE_CLIENT_URLS, `http://${h.address}:2379`);
      assert.equal(vars.ETCD_INITIAL_ADVERTISE_PEER_URLS, `http://${h.address}:2380`);
      assert.equal(vars.ETCD_INITIAL_CLUSTER_TOKEN, 'pg-etcd');
    });
    assert.equal(new Set(files.map((v) => v.ETCD_NAME)).size, n);
  });
}

test('only etcd members appear in the initial cluster', () => {
  const t = topology({
    cluster: 'mixed',
    layout: 'patroni',
    hosts: [
      { name: 'db1', address: '10.0.0.1', roles: ['db', 'etcd'] },
      { name: 'db2', address: '10.0.0.2', roles: ['db'] },
      { name: 'obs', address: '10.0.0.9', roles: ['etcd', 'haproxy'] },
    ],
  });
  assert.equal(
    parseEnv(render(t, 'obs')).ETCD_INITIAL_CLUSTER,
    'db1=http://10.0.0.1:2380,obs=http://10.0.0.9:2380',
  );
});

test('loopback lab with three members: no member binds 127.0.0.1', () => {
  const t = topology({
    cluster: 'lab',
    layout: 'patroni',
    hosts: [1, 2, 3].map((i) => ({ name: `m${i}`, address: `127.0.0.2${i}`, roles: ['etcd' as const, 'db' as const] })),
  });
  for (const h of t.hosts) {
    assert.equal(parseEnv(renderEtcdDefaults(t, h)).ETCD_LISTEN_CLIENT_URLS, `http://${h.address}:2379`);
  }
});

test('a member known by DNS name listens on 0.0.0.0 (etcd binds IPs only) and advertises its name', () => {
  const t = topology({
    cluster: 'dns',
    layout: 'patroni',
    hosts: [{ name: 'etcd-a', address: 'etcd-a.example.com', roles: ['etcd', 'db'] }],
  });
  const vars = parseEnv(render(t, 'etcd-a'));
  assert.equal(vars.ETCD_LISTEN_CLIENT_URLS, 'http://0.0.0.0:2379');
  assert.equal(vars.ETCD_LISTEN_PEER_URLS, 'http://0.0.0.0:2380');
  assert.equal(vars.ETCD_ADVERTISE_CLIENT_URLS, 'http://etcd-a.example.com:2379');
  assert.equal(vars.ETCD_INITIAL_CLUSTER, 'etcd-a=http://etcd-a.example.com:2380');
});

test('custom ports, data directory and token flow through', () => {
  const t = cluster(2, { etcd: { client_port: 12379, peer_port: 12380, data_dir: '/data/etcd', cluster_token: 'billing-etcd' } });
  const vars = parseEnv(render(t, 'patroni01'));
  assert.deepEqual(vars, {
    ETCD_NAME: 'patroni01',
    ETCD_DATA_DIR: '/data/etcd',
    ETCD_LISTEN_CLIENT_URLS: 'http://10.0.1.1:12379,http://127.0.0.1:12379',
    ETCD_ADVERTISE_CLIENT_URLS: 'http://10.0.1.1:12379',
    ETCD_LISTEN_PEER_URLS: 'http://10.0.1.1:12380',
    ETCD_INITIAL_ADVERTISE_PEER_URLS: 'http://10.0.1.1:12380',
    ETCD_INITIAL_CLUSTER: 'patroni01=http://10.0.1.1:12380,patroni02=http://10.0.1.2:12380',
    ETCD_INITIAL_CLUSTER_STATE: 'new',
    ETCD_INITIAL_CLUSTER_TOKEN: 'billing-etcd',
  });
});

// ---- quoting ----

test('sh reads back exactly the values (Debian init script sources the file)', () => {
  const token = 'pg-etcd.2_x';
  const t = cluster(3, { etcd: { cluster_token: token, data_dir: '/data/etcd-1:a,b+c@d%e' } });
  const text = render(t, 'patroni03');
  // Source the file with every variable exported, then print the environment etcd would get.
  // (eval of the text is what `.` does with a file; node's stdin pipe cannot be opened as /dev/stdin.)
  const run = spawnSync('/bin/sh', ['-c', 'set -a; eval "$1"; env', 'sh', text], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH },
  });
  assert.equal(run.status, 0, run.stderr);
  const fromShell = Object.fromEntries(
    run.stdout
      .split('\n')
      .filter((l) => l.startsWith('ETCD_'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  assert.deepEqual(fromShell, parseEnv(text));
  assert.equal(fromShell.ETCD_INITIAL_CLUSTER_TOKEN, token);
  assert.equal(fromShell.ETCD_DATA_DIR, '/data/etcd-1:a,b+c@d%e');
});

test('refuses a token or a data directory that could add a variable, when validation was skipped', () => {
  const t = cluster(1);
  assert.throws(() => render({ ...t, etcd: { ...t.etcd, cluster_token: 'a\nETCD_NAME=evil' } }, 'patroni01'), /etcd\.cluster_token is "a\\nETCD_NAME=evil", which is not letters/);
  assert.throws(() => render({ ...t, etcd: { ...t.etcd, data_dir: '/data/$(reboot)' } }, 'patroni01'), /etcd\.data_dir/);
});

// ---- file-level properties ----

test('the file says haflow manages it, and rendering is deterministic', () => {
  const t = cluster(3);
  const text = render(t, 'patroni01');
  assert.match(text.split('\n')[0], /^# Managed by haflow \(cluster pg\): etcd member patroni01\./);
  assert.equal(render(cluster(3), 'patroni01'), text);
});

test('refuses a host without the etcd role', () => {
  const t = topology({
    cluster: 'pg',
    layout: 'patroni',
    hosts: [
      { name: 'db1', address: '10.0.0.1', roles: ['db', 'etcd'] },
      { name: 'db2', address: '10.0.0.2', roles: ['db'] },
    ],
  });
  assert.throws(() => render(t, 'db2'), /db2: it does not have the etcd role/);
});
