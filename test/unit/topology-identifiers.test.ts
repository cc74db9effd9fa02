// Values that reach a config file or a command line: validation refuses every one a renderer
// could not write safely, at its file:line:column, and the renderers refuse them again when
// handed a topology that skipped validation. Nothing validates and then fails later.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { hostFiles, secretPlaceholder } from '../../activities/components';
import { formatPath, parseTopology, TopologyError, type Topology } from '../../topology';

const root = join(__dirname, '../..');
const labStandalone = readFileSync(join(root, 'lab/topologies/standalone.yaml'), 'utf8');

interface Case {
  path: (string | number)[];
  value: unknown;
  /** The file a renderer would have written it into, when one would. */
  rendersInto?: RegExp;
  /** Extra top-level sections the case needs (e.g. TLS for the pem path). */
  with?: (doc: ReturnType<typeof parseDocument>) => void;
}

const withTls = (pem: string) => (doc: ReturnType<typeof parseDocument>) => doc.setIn(['haproxy', 'tls'], doc.createNode({ pem }));

const CASES: Case[] = [
  { path: ['postgresql', 'replication', 'username'], value: 'all all trust #', rendersInto: /pg_hba in \/etc\/patroni\/config\.yml: postgresql\.replication\.username/ },
  { path: ['postgresql', 'replication', 'username'], value: 'rep\nhost all all 0.0.0.0/0 trust', rendersInto: /postgresql\.replication\.username/ },
  { path: ['haproxy', 'tls', 'pem'], value: '/etc/ssl/a.pem\n    stats admin if TRUE', rendersInto: /haproxy\.cfg: haproxy\.tls\.pem/, with: withTls('/etc/ssl/ok.pem') },
  { path: ['haproxy', 'tls', 'pem'], value: '/etc/ssl/a b.pem', rendersInto: /haproxy\.tls\.pem/, with: withTls('/etc/ssl/ok.pem') },
  { path: ['etcd', 'data_dir'], value: '/var/lib/etcd\nETCD_FORCE_NEW_CLUSTER=true', rendersInto: /\/etc\/default\/etcd: etcd\.data_dir/ },
  { path: ['etcd', 'data_dir'], value: '/var/lib/etcd\r', rendersInto: /etcd\.data_dir/ },
  { path: ['etcd', 'data_dir'], value: '/var/lib/etcd\u0000x', rendersInto: /etcd\.data_dir/ },
  { path: ['etcd', 'cluster_token'], value: 'token\nETCD_NAME=evil', rendersInto: /etcd\.cluster_token/ },
  { path: ['etcd', 'cluster_token'], value: 'token\u0000', rendersInto: /etcd\.cluster_token/ },
  { path: ['etcd', 'cluster_token'], value: 'tok"en', rendersInto: /etcd\.cluster_token/ },
  { path: ['postgresql', 'data_dir'], value: '/var/lib/postgresql/my data' },
  { path: ['postgresql', 'bin_dir'], value: '/usr/lib/postgresql/15/bin;reboot' },
  { path: ['postgresql', 'superuser', 'username'], value: 'Postgres Admin' },
  { path: ['postgresql', 'rewind', 'username'], value: 'rewind"user' },
  { path: ['postgresql', 'parameters', 'work_mem = 1\nfsync'], value: 'off' },
  { path: ['postgresql', 'parameters', 'work_mem'], value: "4MB'\nfsync = 'off" },
  { path: ['postgresql', 'allowed_networks'], value: ['999.0.0.0/8'] },
  { path: ['patroni', 'namespace'], value: '/service/\nbootstrap: x' },
  { path: ['ssh', 'user'], value: 'root; reboot' },
  { path: ['ssh', 'private_key'], value: '/root/.ssh/id\ned25519' },
  { path: ['hosts', 1, 'ssh'], value: { user: 'admin\n' } },
  { path: ['app', 'db_user'], value: 'flo"tomate' },
  { path: ['app', 'db_name'], value: 'flotomate; drop' },
  { path: ['app', 'user'], value: 'motadata\nroot' },
  { path: ['app', 'nginx_service'], value: 'nginx; reboot' },
  { path: ['app', 'health_path'], value: '/health\r\nX-Evil: 1' },
  { path: ['app', 'ha_dir'], value: '/opt/HA /' },
  { path: ['app', 'sync_dirs'], value: ['/opt/files\n/etc'] },
  { path: ['app', 'config_files'], value: [{ path: '/etc/flotomate_env', format: 'env', password_key: 'DB PASSWORD' }] },
];

function topologyText(c: Case): string {
  const doc = parseDocument(labStandalone);
  c.with?.(doc);
  doc.setIn(c.path, doc.createNode(c.value));
  return doc.toString();
}

const shown = (v: unknown) => JSON.stringify(v);

describe('validation refuses what a renderer could not write safely', () => {
  for (const c of CASES) {
    test(`${formatPath(c.path)} = ${shown(c.value)}`, () => {
      const text = topologyText(c);
      assert.throws(
        () => parseTopology(text, 'topology.yaml'),
        (err: unknown) => {
          assert.ok(err instanceof TopologyError, String(err));
          const errors = err.issues.filter((i) => i.severity === 'error');
          const issue = errors.find((i) => i.path.startsWith(formatPath(c.path.filter((p) => typeof p !== 'string' || !p.includes('\n')))));
          assert.ok(issue, `no error at ${formatPath(c.path)}: ${err.message}`);
          assert.match(issue.message, /must be|not a key|must have/);
          // The line shown is where the offending key or value is written.
          const line = text.split('\n')[issue.line - 1];
          const lastKey = [...issue.path.matchAll(/[A-Za-z_]\w*/g)].at(-1)?.[0] ?? '';
          const valueStart = typeof c.value === 'string' ? c.value.slice(0, 5) : JSON.stringify(c.value).match(/[\w/.]{3,}/)?.[0] ?? '';
          assert.ok(line.includes(lastKey) || line.includes(valueStart) || /^\s*- /.test(line), `line ${issue.line} (${line}) is where ${issue.path} is written`);
          assert.ok(!/\n/.test(issue.message), 'the message is one line: no raw line break from the value');
          return true;
        },
      );
    });
  }
});

describe('the renderers refuse the same values when validation was skipped', () => {
  const valid = parseTopology(labStandalone, 'lab.yaml').topology;
  const set = (topology: Topology, path: (string | number)[], value: unknown): Topology => {
    const copy = structuredClone(topology) as unknown as Record<string | number, unknown>;
    let at = copy;
    for (const key of path.slice(0, -1)) at = (at[key] ??= {}) as Record<string | number, unknown>;
    at[path.at(-1)!] = value;
    return copy as unknown as Topology;
  };
  for (const c of CASES.filter((x) => x.rendersInto)) {
    test(`${formatPath(c.path)} = ${shown(c.value)}`, () => {
      const topology = set(c.path[1] === 'tls' ? set(valid, ['haproxy', 'tls'], { pem: '/etc/ssl/ok.pem', port: 443 }) : valid, c.path, c.value);
      assert.throws(() => topology.hosts.flatMap((h) => hostFiles(topology, h, secretPlaceholder)), c.rendersInto!);
    });
  }
});
