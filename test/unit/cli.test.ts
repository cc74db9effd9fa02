// `haflow validate` as an operator runs it: exit codes and what it prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
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
