// `haflow validate` as an operator runs it: exit codes and what it prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '../..');
const haflow = (...args: string[]) =>
  spawnSync(process.execPath, [join(root, 'bin/haflow.js'), ...args], { encoding: 'utf8', cwd: root });

test('validate exits 0 for every example topology', () => {
  const examples = readdirSync(join(root, 'topology/examples')).map((f) => join('topology/examples', f));
  const run = haflow('validate', ...examples);
  assert.equal(run.status, 0, run.stderr);
  for (const example of examples) assert.match(run.stdout, new RegExp(`${example}: valid`));
});

test('validate exits 1 and prints every error with file, line and field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'haflow-cli-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(
    bad,
    [
      'cluster: pgha',
      'layout: standalone',
      'hosts:',
      '  - { name: observer, address: 10.0.0.1, roles: [observer, etcd, haproxy] }',
      '  - { name: node1, address: 10.0.0.2, roles: [app, db] }',
      '  - { name: node2, address: 10.0.0.3, roles: [app, db] }',
      'postgresql:',
      '  version: 16',
      '  superuser: { password: s3cret-value }',
      '  replication: { password: { env: HAFLOW_REPLICATION_PASSWORD } }',
      '  rewind: { password: { env: HAFLOW_REWIND_PASSWORD } }',
      'haproxy:',
      '  stats_port: 70000',
      '',
    ].join('\n'),
  );
  const run = haflow('validate', bad);
  assert.equal(run.status, 1);
  assert.match(run.stderr, new RegExp(`${bad}:9:\\d+: postgresql\\.superuser\\.password: is a secret value written inline`));
  assert.match(run.stderr, new RegExp(`${bad}:13:\\d+: haproxy\\.stats_port: must be a TCP port number \\(1-65535\\)`));
  assert.doesNotMatch(run.stderr + run.stdout, /s3cret-value/);
});

test('a missing file is an error naming the file', () => {
  const run = haflow('validate', '/nonexistent/topology.yaml');
  assert.equal(run.status, 1);
  assert.match(run.stderr, /\/nonexistent\/topology\.yaml/);
});

test('unknown commands are usage errors (exit 2)', () => {
  const run = haflow('frobnicate');
  assert.equal(run.status, 2);
  assert.match(run.stderr, /unknown command/);
});

test('drill with an unknown fault, and tune without what to change, are refused with what would be valid', () => {
  const drill = haflow('drill', 'lab/topologies/standalone.yaml', '--fault', 'meteor');
  assert.equal(drill.status, 2);
  assert.match(drill.stderr, /--fault <fault>' argument 'meteor' is invalid\. must be one of switchover, stop-patroni, kill-postgres, crash-leader, partition-leader, crash-observer/);
  const tune = haflow('tune', 'lab/topologies/standalone.yaml', '--profile', 'ludicrous');
  assert.equal(tune.status, 2);
  assert.match(tune.stderr, /must be one of safe, fast, aggressive/);
});

test('a drill whose fault driver the topology does not set is refused before anything starts, naming the setting', () => {
  const dir = mkdtempSync(join(tmpdir(), 'haflow-cli-'));
  const file = join(dir, 'no-drivers.yaml');
  const text = readFileSync(join(root, 'lab/topologies/standalone.yaml'), 'utf8').replace(/\nfaults:\n(  .*\n)+/, '\n');
  writeFileSync(file, text);
  // Refused before any connection: the address below leads nowhere.
  const run = spawnSync(process.execPath, [join(root, 'bin/haflow.js'), 'drill', file, '--fault', 'crash-leader'], { encoding: 'utf8', cwd: root, env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:9' } });
  assert.equal(run.status, 2, run.stdout + run.stderr);
  assert.match(run.stdout, /drill crash-leader refused before anything started:\n {2}- fault crash-leader needs the fault driver faults\.power_off/);
});

test('plan prints the classic install: streaming replication without Patroni or etcd, the application on its own database', () => {
  const run = haflow('plan', 'topology/examples/classic.yaml');
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /db\.primary@master .*replication settings and pg_hba\.conf/);
  assert.match(run.stdout, /db\.standby@slave .*a base backup of master taken, started as a standby/);
  assert.match(run.stdout, /app\.config@slave .*point at its own PostgreSQL \(port 5432\)/);
  assert.doesNotMatch(run.stdout, /patroni\.|etcd\./);
});
