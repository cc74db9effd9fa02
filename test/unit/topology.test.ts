// Topology files: the examples load, and every kind of mistake is reported at its
// file:line:column with the field path as written and a message an operator can act on.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  appMaster,
  assertValidTopology,
  etcdMembers,
  hostOs,
  formatIssue,
  initialLeader,
  loadTopology,
  parseTopology,
  TopologyError,
  type TopologyIssue,
} from '../../topology';

const EXAMPLES = join(__dirname, '../../topology/examples');

// ---------------------------------------------------------------- valid bases, one per layout

const STANDALONE = `cluster: serviceops
layout: standalone
hosts:
  - name: observer
    address: 172.16.13.42
    roles: [observer, etcd, haproxy]
  - name: node1
    address: 172.16.12.171
    roles: [app, db]
  - name: node2
    address: 172.16.12.177
    roles: [app, db]
postgresql:
  version: 16
  superuser:
    password: { env: HAFLOW_PG_SUPERUSER_PASSWORD }
  replication:
    password: { env: HAFLOW_PG_REPLICATION_PASSWORD }
  rewind:
    password: { env: HAFLOW_PG_REWIND_PASSWORD }
patroni:
  rest_api_auth: { username: haflow, password: { env: HAFLOW_PATRONI_API_PASSWORD } }
  ttl: 30
  loop_wait: 10
  retry_timeout: 10
haproxy:
  stats_port: 7000
  stats_auth: { password: { env: HAFLOW_HAPROXY_STATS_PASSWORD } }
app:
  db_password: { env: HAFLOW_APP_DB_PASSWORD }
etcd:
  auth: { root_password: { env: HAFLOW_ETCD_ROOT_PASSWORD }, password: { env: HAFLOW_ETCD_PATRONI_PASSWORD } }
`;

const DISTRIBUTED = `cluster: serviceops
layout: distributed
hosts:
  - name: observer
    address: 172.16.13.42
    roles: [observer, etcd, haproxy]
  - name: app1
    address: 172.16.12.171
    roles: [app]
  - name: app2
    address: 172.16.12.177
    roles: [app]
  - name: db1
    address: 172.16.12.202
    roles: [db]
  - name: db2
    address: 172.16.12.216
    roles: [db]
postgresql:
  version: 17
  superuser: { password: { env: HAFLOW_PG_SUPERUSER_PASSWORD } }
  replication: { password: { env: HAFLOW_PG_REPLICATION_PASSWORD } }
  rewind: { password: { env: HAFLOW_PG_REWIND_PASSWORD } }
haproxy:
  stats_auth: { password: { env: HAFLOW_HAPROXY_STATS_PASSWORD } }
app:
  db_password: { env: HAFLOW_APP_DB_PASSWORD }
etcd:
  auth: { root_password: { env: HAFLOW_ETCD_ROOT_PASSWORD }, password: { env: HAFLOW_ETCD_PATRONI_PASSWORD } }
patroni:
  rest_api_auth: { username: haflow, password: { env: HAFLOW_PATRONI_API_PASSWORD } }
`;

const PATRONI = `cluster: pg-main
layout: patroni
hosts:
  - name: patroni01
    address: 172.16.20.11
    roles: [db, etcd]
  - name: patroni02
    address: 172.16.20.12
    roles: [db, etcd]
  - name: patroni03
    address: 172.16.20.13
    roles: [db, etcd]
  - name: haproxy01
    address: 172.16.20.15
    roles: [haproxy]
postgresql:
  version: 16
  superuser: { password: { env: HAFLOW_PG_SUPERUSER_PASSWORD } }
  replication: { password: { env: HAFLOW_PG_REPLICATION_PASSWORD } }
  rewind: { password: { env: HAFLOW_PG_REWIND_PASSWORD } }
haproxy:
  stats_auth: { password: { env: HAFLOW_HAPROXY_STATS_PASSWORD } }
etcd:
  auth: { root_password: { env: HAFLOW_ETCD_ROOT_PASSWORD }, password: { env: HAFLOW_ETCD_PATRONI_PASSWORD } }
patroni:
  rest_api_auth: { username: haflow, password: { env: HAFLOW_PATRONI_API_PASSWORD } }
`;

const CLASSIC = `cluster: serviceops-classic
layout: classic
hosts:
  - name: master
    address: 172.16.8.241
    roles: [app, db]
  - name: slave
    address: 172.16.8.240
    roles: [app, db]
  - name: ha-observer
    address: 172.16.8.242
    roles: [observer]
  - name: haproxy
    address: 172.16.8.100
    roles: [haproxy]
postgresql:
  version: 16
  superuser: { password: { env: HAFLOW_PG_SUPERUSER_PASSWORD } }
  replication: { password: { env: HAFLOW_PG_REPLICATION_PASSWORD } }
  rewind: { password: { env: HAFLOW_PG_REWIND_PASSWORD } }
haproxy:
  stats_auth: { password: { env: HAFLOW_HAPROXY_STATS_PASSWORD } }
app:
  db_password: { env: HAFLOW_APP_DB_PASSWORD }
`;

const STATS_LINE = '  stats_auth: { password: { env: HAFLOW_HAPROXY_STATS_PASSWORD } }\n';

// ---------------------------------------------------------------- helpers

/** Replaces text that must occur exactly once, so a typo in a test fails loudly. */
function edit(text: string, ...replacements: [from: string, to: string][]): string {
  let result = text;
  for (const [from, to] of replacements) {
    assert.equal(result.split(from).length, 2, `expected exactly one ${JSON.stringify(from)} in the test YAML`);
    result = result.replace(from, to);
  }
  return result;
}

/**
 * Where `marker` is in `text`: the 1-based line of the only line containing it, and the
 * column of `column` within that line (default: the marker itself).
 */
function at(text: string, marker: string, column = marker): { line: number; column: number } {
  const lines = text.split('\n');
  const found = lines.flatMap((l, i) => (l.includes(marker) ? [i] : []));
  assert.equal(found.length, 1, `expected exactly one line containing ${JSON.stringify(marker)}`);
  const index = lines[found[0]].indexOf(column);
  assert.ok(index >= 0, `${JSON.stringify(column)} is not on the line of ${JSON.stringify(marker)}`);
  return { line: found[0] + 1, column: index + 1 };
}

/** Parses text that must fail, and returns every issue reported. */
function issuesOf(text: string): TopologyIssue[] {
  try {
    parseTopology(text, 'cluster.yaml');
  } catch (err) {
    assert.ok(err instanceof TopologyError, `expected a TopologyError, got ${String(err)}`);
    assert.equal(err.message, err.issues.map(formatIssue).join('\n'));
    return err.issues;
  }
  assert.fail('expected the topology to be rejected');
}

/** The single error reported for `text`, checked for path and position. */
function onlyError(text: string, path: string, where: { line: number; column?: number }): TopologyIssue {
  const issues = issuesOf(text);
  assert.equal(issues.length, 1, `expected one issue, got:\n${issues.map(formatIssue).join('\n')}`);
  const [issue] = issues;
  assert.equal(issue.severity, 'error');
  assert.equal(issue.file, 'cluster.yaml');
  assert.equal(issue.path, path);
  assert.equal(issue.line, where.line, formatIssue(issue));
  if (where.column !== undefined) assert.equal(issue.column, where.column, formatIssue(issue));
  return issue;
}

// ---------------------------------------------------------------- valid topologies

describe('valid topologies', () => {
  it('every example in topology/examples loads without errors or warnings', async () => {
    const files = (await readdir(EXAMPLES)).filter((f) => f.endsWith('.yaml'));
    assert.ok(files.length >= 4, `expected the four layout examples, found ${files.join(', ')}`);
    for (const file of files) {
      const { topology, warnings } = loadTopology(join(EXAMPLES, file));
      assert.deepEqual(warnings, [], file);
      assert.ok(topology.hosts.length > 0, file);
    }
  });

  it('each layout has an example named after it', () => {
    for (const layout of ['standalone', 'distributed', 'patroni', 'classic']) {
      const { topology } = loadTopology(join(EXAMPLES, `${layout}.yaml`));
      assert.equal(topology.layout, layout);
    }
  });

  it('the standalone example follows the guide: observer runs etcd, node1 leads and is the app master', () => {
    const { topology } = loadTopology(join(EXAMPLES, 'standalone.yaml'));
    assert.deepEqual(etcdMembers(topology).map((h) => h.address), ['172.16.13.42']);
    assert.equal(initialLeader(topology).address, '172.16.12.171');
    assert.equal(appMaster(topology)?.address, '172.16.12.171');
  });

  it('accepts the minimal base topology of every layout and fills in defaults', () => {
    for (const text of [STANDALONE, DISTRIBUTED, PATRONI, CLASSIC]) {
      const { topology, warnings } = parseTopology(text, 'cluster.yaml');
      assert.deepEqual(warnings, []);
      assert.equal(topology.postgresql.port, 5432);
      assert.equal(topology.patroni.rest_api_port, 8008);
    }
  });
});

// ---------------------------------------------------------------- role counts per layout

describe('role counts per layout', () => {
  it('standalone needs two app+db hosts and names the ones it found', () => {
    const text = edit(STANDALONE, ['    address: 172.16.12.177\n    roles: [app, db]', '    address: 172.16.12.177\n    roles: [app]']);
    const issue = onlyError(text, 'hosts', at(text, 'hosts:'));
    assert.equal(issue.message, 'layout standalone needs exactly 2 hosts with roles app+db, found 1: node1');
  });

  it('standalone needs exactly three hosts', () => {
    const text = edit(STANDALONE, ['postgresql:', '  - name: spare\n    address: 172.16.12.180\n    roles: [haproxy]\npostgresql:']);
    const issue = onlyError(text, 'hosts', at(text, 'hosts:'));
    assert.match(issue.message, /layout standalone needs exactly 3 hosts .*found 4: observer, node1, node2, spare/);
  });

  it('standalone observer must also run etcd and haproxy', () => {
    const text = edit(STANDALONE, ['roles: [observer, etcd, haproxy]', 'roles: [observer, etcd]']);
    const issue = onlyError(text, 'hosts[0].roles', at(text, 'roles: [observer, etcd]'));
    assert.match(issue.message, /observer observer must also run haproxy/);
  });

  it('distributed needs two app-only hosts: an app+db host does not count', () => {
    const text = edit(DISTRIBUTED, ['    address: 172.16.12.177\n    roles: [app]', '    address: 172.16.12.177\n    roles: [app, db]']);
    const issues = issuesOf(text);
    assert.deepEqual(
      issues.map((i) => [i.path, i.line, i.message]),
      [['hosts', at(text, 'hosts:').line, 'layout distributed needs exactly 2 app-only hosts (role app without db), found 1: app1']],
    );
  });

  it('distributed needs five hosts, two of them db-only', () => {
    const text = edit(DISTRIBUTED, ['  - name: db2\n    address: 172.16.12.216\n    roles: [db]\n', '']);
    const messages = issuesOf(text).map((i) => `${i.path}@${i.line}: ${i.message}`);
    const line = at(text, 'hosts:').line;
    assert.deepEqual(messages, [
      `hosts@${line}: layout distributed needs exactly 5 hosts (observer + 2 app + 2 db), found 4: observer, app1, app2, db1`,
      `hosts@${line}: layout distributed needs exactly 2 db-only hosts (role db without app), found 1: db1`,
    ]);
  });

  it('patroni layout refuses the app role: the generic tutorials have no application tier', () => {
    const text = edit(PATRONI, ['roles: [haproxy]', 'roles: [haproxy, app]']);
    const issue = onlyError(text, 'hosts[3].roles', at(text, 'roles: [haproxy, app]'));
    assert.match(issue.message, /host haproxy01 has role app, but layout patroni has no application tier/);
  });

  it('patroni layout needs at least two db hosts', () => {
    const text = edit(
      PATRONI,
      ['    address: 172.16.20.12\n    roles: [db, etcd]', '    address: 172.16.20.12\n    roles: [etcd]'],
      ['    address: 172.16.20.13\n    roles: [db, etcd]', '    address: 172.16.20.13\n    roles: [etcd]'],
    );
    const issue = onlyError(text, 'hosts', at(text, 'hosts:'));
    assert.equal(issue.message, 'layout patroni needs at least 2 hosts with role db, found 1: patroni01');
  });

  it('patroni layout needs an haproxy host', () => {
    const text = edit(PATRONI, ['roles: [haproxy]', 'roles: [etcd]']);
    const issues = issuesOf(text).filter((i) => i.severity === 'error');
    assert.deepEqual(
      issues.map((i) => [i.path, i.line, i.message]),
      [['hosts', at(text, 'hosts:').line, 'layout patroni needs at least 1 host with role haproxy, found 0']],
    );
  });

  it('patroni layout needs at least one etcd member', () => {
    const text = PATRONI.replaceAll('roles: [db, etcd]', 'roles: [db]');
    const issue = onlyError(text, 'hosts', at(text, 'hosts:'));
    assert.equal(issue.message, 'layout patroni needs 1 to 7 hosts with role etcd, found 0');
  });

  it('classic layout refuses etcd: it replicates without Patroni', () => {
    const text = edit(CLASSIC, ['roles: [observer]', 'roles: [observer, etcd]']);
    const issue = onlyError(text, 'hosts[2].roles', at(text, 'roles: [observer, etcd]'));
    assert.match(issue.message, /streaming replication without Patroni or etcd/);
  });

  it('classic layout allows at most one haproxy host', () => {
    const text = edit(CLASSIC, ['roles: [observer]', 'roles: [observer, haproxy]']);
    const issue = onlyError(text, 'hosts', at(text, 'hosts:'));
    assert.equal(issue.message, 'layout classic needs at most 1 host with role haproxy, found 2: ha-observer, haproxy');
  });

  it('classic layout needs an observer', () => {
    const text = edit(CLASSIC, ['roles: [observer]', 'roles: [haproxy]'], ['    address: 172.16.8.100\n    roles: [haproxy]\n', '    address: 172.16.8.100\n    roles: [db]\n']);
    const errors = issuesOf(text).map((i) => i.message);
    assert.ok(errors.includes('layout classic needs exactly 1 host with role observer, found 0'), errors.join('\n'));
  });
});

// ---------------------------------------------------------------- etcd members

describe('etcd members', () => {
  it('rejects 8 etcd members: etcd supports at most 7', () => {
    const extra = [4, 5, 6, 7, 8]
      .map((n) => `  - name: patroni0${n}\n    address: 172.16.20.2${n}\n    roles: [db, etcd]\n`)
      .join('');
    const text = edit(PATRONI, ['postgresql:', `${extra}postgresql:`]);
    const issue = onlyError(text, 'hosts', at(text, 'hosts:'));
    assert.match(issue.message, /needs 1 to 7 hosts with role etcd, found 8: patroni01, .*patroni08/);
  });

  it('an even number of etcd members is a warning, not an error', () => {
    const text = edit(PATRONI, ['roles: [haproxy]', 'roles: [haproxy, etcd]']);
    const { warnings } = parseTopology(text, 'cluster.yaml');
    assert.equal(warnings.length, 1);
    const [warning] = warnings;
    assert.equal(warning.severity, 'warning');
    assert.equal(warning.path, 'hosts');
    assert.equal(warning.line, at(text, 'hosts:').line);
    assert.match(warning.message, /an even number of etcd members tolerates no more failures than one fewer/);
    assert.match(formatIssue(warning), /^cluster\.yaml:3:1: warning: hosts: 4 etcd members/);
  });
});

// ---------------------------------------------------------------- hosts

describe('hosts', () => {
  it('rejects a duplicate address at the second host and names the first', () => {
    const text = edit(STANDALONE, ['address: 172.16.12.177', 'address: 172.16.12.171 # copy-paste']);
    const issue = onlyError(text, 'hosts[2].address', at(text, '# copy-paste', '172.16.12.171'));
    assert.match(issue.message, /address 172\.16\.12\.171 is already used by host node1 \(hosts\[1\]\)/);
  });

  it('rejects a duplicate host name at the second host and names the first', () => {
    const text = edit(STANDALONE, ['- name: node2', '- name: node1 # again']);
    const issue = onlyError(text, 'hosts[2].name', at(text, '# again', 'node1'));
    assert.match(issue.message, /host name node1 is already used by hosts\[1\]/);
  });

  it('rejects an IPv4 address with a number above 255', () => {
    const text = edit(STANDALONE, ['172.16.12.177', '172.16.12.300']);
    const issue = onlyError(text, 'hosts[2].address', at(text, '172.16.12.300'));
    assert.match(issue.message, /not an IPv4 address: each of its 4 numbers must be 0-255, found 300/);
  });

  it('rejects an address that is neither an IPv4 address nor a DNS name', () => {
    const text = edit(STANDALONE, ['address: 172.16.12.177', 'address: db 2.example.com']);
    const issue = onlyError(text, 'hosts[2].address', at(text, 'db 2.example.com'));
    assert.equal(issue.message, 'must be an IPv4 address or a DNS name such as db1.example.com; found "db 2.example.com"');
  });

  it('rejects a role that does not exist and suggests the closest one', () => {
    const text = edit(STANDALONE, ['roles: [observer, etcd, haproxy]', 'roles: [observer, etcd, haproxi]']);
    const issue = onlyError(text, 'hosts[0].roles[2]', at(text, 'haproxi', 'haproxi'));
    assert.match(issue.message, /must be one of observer, etcd, haproxy, db, app, backup, restore; found "haproxi" \(did you mean haproxy\?\)/);
  });
});

// ---------------------------------------------------------------- ports

describe('ports', () => {
  it('rejects a port out of range', () => {
    const text = edit(STANDALONE, ['stats_port: 7000', 'stats_port: 70000']);
    const issue = onlyError(text, 'haproxy.stats_port', at(text, 'stats_port: 70000', '70000'));
    assert.equal(issue.message, 'must be a TCP port number (1-65535); found 70000');
  });

  it('rejects a per-host SSH port of 0', () => {
    const text = edit(STANDALONE, ['    address: 172.16.12.171\n', '    address: 172.16.12.171\n    ssh: { port: 0 }\n']);
    const issue = onlyError(text, 'hosts[1].ssh.port', at(text, 'ssh: { port: 0 }', '0'));
    assert.match(issue.message, /TCP port number \(1-65535\); found 0/);
  });

  it('rejects two services on the same port of one host and names both', () => {
    const text = edit(STANDALONE, ['stats_port: 7000', 'stats_port: 2379']);
    const issue = onlyError(text, 'haproxy.stats_port', at(text, 'stats_port: 2379', '2379'));
    assert.equal(
      issue.message,
      'port 2379 on host observer is used by both etcd.client_port and haproxy.stats_port; give one of them another port',
    );
  });

  it('points a port clash at the port the file sets, not at the default it collides with', () => {
    const text = edit(STANDALONE, ['etcd:\n', 'etcd:\n  client_port: 5000\n']);
    const issue = onlyError(text, 'etcd.client_port', at(text, 'client_port: 5000', '5000'));
    assert.match(issue.message, /port 5000 on host observer is used by both etcd\.client_port and haproxy\.postgres_port/);
  });
});

// ---------------------------------------------------------------- unknown, missing and mistyped fields

describe('fields', () => {
  it('rejects an unknown top-level field at the key and lists the valid ones', () => {
    const text = edit(STANDALONE, ['layout: standalone', 'layout: standalone\nreplicas: 2']);
    const issue = onlyError(text, 'replicas', at(text, 'replicas: 2'));
    assert.match(issue.message, /^unknown field replicas; valid fields at the top level are: cluster, layout, .*hosts.*postgresql/);
  });

  it('rejects an unknown nested field at the key and suggests the likely one', () => {
    const text = edit(STANDALONE, ['  loop_wait: 10', '  loopwait: 10']);
    const issue = onlyError(text, 'patroni.loopwait', at(text, 'loopwait'));
    assert.match(issue.message, /unknown field loopwait \(did you mean loop_wait\?\); valid fields in patroni are: .*loop_wait/);
  });

  it('rejects an unknown field inside a host', () => {
    const text = edit(STANDALONE, ['    roles: [app, db]\n  - name: node2', '    roles: [app, db]\n    role: leader\n  - name: node2']);
    const issue = onlyError(text, 'hosts[1].role', at(text, 'role: leader', 'role'));
    assert.match(issue.message, /valid fields in hosts\[1\] are: name, address, roles, ssh/);
  });

  it('reports a missing field at the object that should hold it', () => {
    const text = edit(STANDALONE, ['  version: 16\n', '']);
    const issue = onlyError(text, 'postgresql.version', at(text, 'postgresql:'));
    assert.equal(issue.message, 'is required but missing: must be a PostgreSQL major version such as 16');
  });

  it('reports a host without an address at that host', () => {
    const text = edit(STANDALONE, ['    address: 172.16.12.177\n', '']);
    const issue = onlyError(text, 'hosts[2].address', at(text, '- name: node2', 'name'));
    assert.match(issue.message, /^is required but missing: must be an IPv4 address or a DNS name/);
  });

  it('reports a missing section with the fields it needs', () => {
    const text = STANDALONE.replace(/postgresql:\n(  .*\n)+/, '');
    const issue = onlyError(text, 'postgresql', { line: 1, column: 1 });
    assert.equal(issue.message, 'is required but missing: add a postgresql: section with at least version, superuser, replication, rewind');
  });

  it('rejects a number written as text and shows what was found', () => {
    const text = edit(STANDALONE, ['  ttl: 30', '  ttl: "30"']);
    const issue = onlyError(text, 'patroni.ttl', at(text, 'ttl: "30"', '"30"'));
    assert.equal(issue.message, 'must be a whole number of seconds (leader key time to live); found "30"');
  });

  it('rejects a misspelt layout and suggests the right one', () => {
    const text = edit(STANDALONE, ['layout: standalone', 'layout: stand-alone']);
    const issue = onlyError(text, 'layout', { line: 2, column: 9 });
    assert.equal(issue.message, 'must be one of standalone, distributed, patroni, classic; found "stand-alone" (did you mean standalone?)');
  });

  it('rejects a file that is not a mapping', () => {
    const issue = onlyError('- cluster: serviceops\n', '(top level)', { line: 1, column: 1 });
    assert.match(issue.message, /must be a mapping of fields .*found a list/);
  });

  it('rejects an empty file and says what a topology needs', () => {
    const issue = onlyError('# to do\n', '(top level)', { line: 1, column: 1 });
    assert.match(issue.message, /the file is empty; a topology needs at least cluster, layout, hosts, postgresql/);
  });
});

// ---------------------------------------------------------------- secrets

describe('secrets', () => {
  it('rejects a password written inline without repeating it', () => {
    const secret = 'Tr0ub4dor&3-inline';
    const text = edit(STANDALONE, ['password: { env: HAFLOW_PG_SUPERUSER_PASSWORD }', `password: ${secret}`]);
    const issue = onlyError(text, 'postgresql.superuser.password', at(text, secret));
    assert.match(issue.message, /secret value written inline.*\{ env: VARIABLE_NAME \} or \{ file: \/path\/to\/secret \}/);
    assert.ok(!JSON.stringify(issuesOf(text)).includes(secret));
  });

  it('never repeats a secret, whatever the mistake around it', () => {
    const secret = 'hunter2-s3cr3t';
    const text = edit(
      STANDALONE,
      ['password: { env: HAFLOW_PG_SUPERUSER_PASSWORD }', `password: { value: ${secret} }`],
      ['password: { env: HAFLOW_PG_REPLICATION_PASSWORD }', `password: { env: ${secret}! }`],
      ['password: { env: HAFLOW_PG_REWIND_PASSWORD }', `password: { env: HAFLOW_X, pasword: ${secret} }`],
      ['db_password: { env: HAFLOW_APP_DB_PASSWORD }', `db_password: 123456789`],
      ['cluster: serviceops', `cluster: serviceops\nssh: { passphrase: ${secret} }`],
    );
    const issues = issuesOf(text);
    assert.equal(issues.length, 5, issues.map(formatIssue).join('\n'));
    const everything = JSON.stringify(issues) + issues.map(formatIssue).join('\n');
    assert.ok(!everything.includes(secret), everything);
    assert.ok(!everything.includes('123456789'), everything);
  });

  it('keeps a secret out of a YAML syntax error', () => {
    const secret = 'pa55word-in-syntax-error';
    const text = edit(STANDALONE, ['password: { env: HAFLOW_PG_SUPERUSER_PASSWORD }', `password: "${secret}`]);
    const issues = issuesOf(text);
    assert.ok(!JSON.stringify(issues).includes(secret));
  });
});

// ---------------------------------------------------------------- Patroni, PostgreSQL, references

describe('Patroni and PostgreSQL settings', () => {
  it('rejects loop_wait + 2 × retry_timeout above ttl, with the numbers and a valid example', () => {
    const text = edit(STANDALONE, ['loop_wait: 10', 'loop_wait: 15']);
    const issue = onlyError(text, 'patroni.loop_wait', at(text, 'loop_wait: 15', '15'));
    assert.equal(
      issue.message,
      'Patroni requires loop_wait + 2 × retry_timeout <= ttl, found 15 + 2 × 10 = 35 > ttl 30; ' +
        'for example ttl: 30, loop_wait: 10, retry_timeout: 10',
    );
  });

  it('points the timing rule at the field the file sets when loop_wait is left at its default', () => {
    const text = edit(STANDALONE, ['  ttl: 30\n  loop_wait: 10\n  retry_timeout: 10\n', '  retry_timeout: 12\n']);
    const issue = onlyError(text, 'patroni.retry_timeout', at(text, 'retry_timeout: 12', '12'));
    assert.match(issue.message, /found 10 \+ 2 × 12 = 34 > ttl 30/);
  });

  it('rejects a PostgreSQL version outside allowed_versions', () => {
    const text = edit(STANDALONE, ['version: 16', 'version: 15']);
    const issue = onlyError(text, 'postgresql.version', at(text, 'version: 15', '15'));
    assert.match(issue.message, /PostgreSQL 15 is not supported here: postgresql\.allowed_versions is 16, 17/);
  });

  it('rejects an initial leader without the db role', () => {
    const text = edit(STANDALONE, ['  ttl: 30', '  initial_leader: observer\n  ttl: 30']);
    const issue = onlyError(text, 'patroni.initial_leader', at(text, 'initial_leader: observer', 'observer'));
    assert.equal(
      issue.message,
      'host observer does not have the db role; the initial leader must be one of the db hosts: node1, node2',
    );
  });

  it('rejects an application master that is not a host', () => {
    const text = edit(STANDALONE, ['app:\n', 'app:\n  master: node3\n']);
    const issue = onlyError(text, 'app.master', at(text, 'master: node3', 'node3'));
    assert.match(issue.message, /there is no host named node3; .* app hosts: node1, node2/);
  });
});

describe('application tier', () => {
  it('a layout with app hosts needs the app section; the error points at the layout', () => {
    const text = edit(STANDALONE, ['app:\n  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n', '']);
    const issue = onlyError(text, 'layout', at(text, 'layout: standalone', 'standalone'));
    assert.match(issue.message, /layout standalone runs the application tier and needs an app section/);
  });

  it('an app section in the patroni layout is only a warning', () => {
    const text = `${PATRONI}app:\n  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n`;
    const { warnings } = parseTopology(text, 'cluster.yaml');
    assert.deepEqual(
      warnings.map((w) => [w.severity, w.path, w.line]),
      [['warning', 'app', at(text, 'app:').line]],
    );
  });

  it('rejects haproxy.tls when there is no application to serve', () => {
    const text = edit(PATRONI, ['haproxy:\n', 'haproxy:\n  tls: { pem: /etc/ssl/example.pem }\n']);
    const issue = onlyError(text, 'haproxy.tls', at(text, 'tls:'));
    assert.match(issue.message, /no host has role app/);
  });
});

// ---------------------------------------------------------------- YAML

describe('YAML', () => {
  it('reports a syntax error with its line and column', () => {
    const text = 'cluster: serviceops\nlayout: "standalone\nhosts: []\n';
    const issue = onlyError(text, '(yaml)', { line: 4, column: 1 });
    assert.match(issue.message, /^YAML syntax error: Missing closing "quote/);
  });

  it('reports tabs used for indentation', () => {
    const text = edit(STANDALONE, ['  ttl: 30', '\tttl: 30']);
    const issue = onlyError(text, '(yaml)', at(text, '\tttl: 30'));
    assert.match(issue.message, /Tabs are not allowed as indentation; indent with spaces/);
  });

  it('rejects a duplicate key at the second one and names the line of the first', () => {
    const text = edit(STANDALONE, ['  retry_timeout: 10', '  retry_timeout: 10\n  ttl: 60']);
    const issue = onlyError(text, 'patroni.ttl', at(text, 'ttl: 60'));
    assert.equal(issue.column, 3);
    assert.match(issue.message, new RegExp(`ttl is already set on line ${at(text, 'ttl: 30').line}`));
  });

  it('rejects duplicate keys inside a list item', () => {
    const text = edit(STANDALONE, ['    address: 172.16.12.177\n', '    address: 172.16.12.177\n    address: 172.16.12.178\n']);
    const issue = onlyError(text, 'hosts[2].address', at(text, '172.16.12.178', 'address'));
    assert.match(issue.message, /duplicate key: address is already set on line/);
  });
});

// ---------------------------------------------------------------- all at once

describe('reporting', () => {
  it('reports every schema error at once, in file order', () => {
    const text = edit(
      STANDALONE,
      ['layout: standalone', 'layout: standalon'],
      ['address: 172.16.13.42', 'address: "bad host"'],
      ['stats_port: 7000', 'stats_port: 0'],
      ['  loop_wait: 10', '  loop_wait: 10\n  colour: blue'],
    );
    const issues = issuesOf(text);
    assert.deepEqual(
      issues.map((i) => [i.path, i.line]),
      [
        ['layout', 2],
        ['hosts[0].address', at(text, 'bad host').line],
        ['patroni.colour', at(text, 'colour').line],
        ['haproxy.stats_port', at(text, 'stats_port: 0').line],
      ],
    );
  });

  it('reports every semantic error at once, with a duplicate YAML key alongside', () => {
    const text = edit(
      STANDALONE,
      ['address: 172.16.12.177', 'address: 172.16.12.171'],
      ['version: 16', 'version: 15'],
      ['loop_wait: 10', 'loop_wait: 20'],
      ['  stats_port: 7000', '  stats_port: 7000\n  stats_port: 7001'],
    );
    const paths = issuesOf(text).map((i) => i.path);
    assert.deepEqual(paths, ['hosts[2].address', 'postgresql.version', 'patroni.loop_wait', 'haproxy.stats_port']);
  });

  it('formats each issue as file:line:column: path: message, one per line of the error', () => {
    const text = edit(STANDALONE, ['version: 16', 'version: 15'], ['stats_port: 7000', 'stats_port: 2379']);
    try {
      parseTopology(text, '/etc/haflow/prod.yaml');
      assert.fail('expected a TopologyError');
    } catch (err) {
      assert.ok(err instanceof TopologyError);
      const lines = err.message.split('\n');
      assert.equal(lines.length, 2);
      assert.equal(lines[0], `/etc/haflow/prod.yaml:${at(text, 'version: 15').line}:12: postgresql.version: ${err.issues[0].message}`);
      assert.match(lines[1], /^\/etc\/haflow\/prod\.yaml:\d+:15: haproxy\.stats_port: port 2379/);
    }
  });

  it('loadTopology names the file in every issue, and says when it cannot read it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'haflow-topology-'));
    const file = join(dir, 'bad.yaml');
    await writeFile(file, edit(STANDALONE, ['version: 16', 'version: 15']));
    assert.throws(() => loadTopology(file), (err: unknown) => {
      assert.ok(err instanceof TopologyError);
      assert.ok(err.issues.every((i) => i.file === file));
      return true;
    });
    assert.throws(() => loadTopology(join(dir, 'missing.yaml')), /missing\.yaml:1:1: \(file\): does not exist/);
  });
});

describe('the application tier settings', () => {
  it('are all read by a runbook now: written in the file, none is reported as unused', () => {
    const text = edit(STANDALONE, ['  db_password: { env: HAFLOW_APP_DB_PASSWORD }', '  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n  sync_dirs: [/opt/files]\n  nginx_service: nginx\n  health_path: /health\n  user: motadata\n  master: node1']);
    const { warnings } = parseTopology(text, 'cluster.yaml');
    assert.deepEqual(warnings.filter((w) => w.path.startsWith('app')), []);
  });
});

describe('SSH time limits', () => {
  it('connect_timeout above 60 s is refused: a step must have time left for its commands', () => {
    const text = edit(STANDALONE, ['postgresql:', 'ssh:\n  connect_timeout: 120\npostgresql:']);
    onlyError(text, 'ssh.connect_timeout', at(text, 'connect_timeout: 120', '120'));
  });
});

describe('timing profiles and synchronous mode', () => {
  it("patroni.profile fills Patroni's timings and HAProxy's checks the file does not set; what it sets wins", () => {
    const fast = parseTopology(edit(STANDALONE, ['  ttl: 30\n  loop_wait: 10\n  retry_timeout: 10\n', '  profile: fast\n']), 'c.yaml').topology;
    assert.deepEqual([fast.patroni.ttl, fast.patroni.loop_wait, fast.patroni.retry_timeout], [6, 1, 2]);
    assert.deepEqual(fast.haproxy.check, { inter: 0.5, fall: 2, rise: 1 });
    assert.deepEqual(fast.app!.monitor, { interval_seconds: 1, timeout_seconds: 2.5, failures: 3, autostart: true }, 'the application monitor checks faster too');
    const mixed = parseTopology(edit(STANDALONE, ['  ttl: 30\n  loop_wait: 10\n  retry_timeout: 10\n', '  profile: fast\n  ttl: 8\n'], ['  stats_port: 7000', '  stats_port: 7000\n  check: { rise: 3 }']), 'c.yaml').topology;
    assert.deepEqual([mixed.patroni.ttl, mixed.patroni.loop_wait], [8, 1]);
    assert.deepEqual(mixed.haproxy.check, { inter: 0.5, fall: 2, rise: 3 });
    const safe = parseTopology(edit(STANDALONE, ['  ttl: 30\n  loop_wait: 10\n  retry_timeout: 10\n', '  profile: safe\n']), 'c.yaml').topology;
    assert.deepEqual([safe.patroni.ttl, safe.haproxy.check.inter], [30, 3]);
  });

  it("the application monitor's checks written as app.observer (their name before the monitor had its own) read as app.monitor", () => {
    const earlier = parseTopology(edit(STANDALONE, ['  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n', '  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n  observer: { interval_seconds: 2, failures: 4 }\n']), 'c.yaml').topology;
    assert.deepEqual(earlier.app!.monitor, { interval_seconds: 2, timeout_seconds: 3, failures: 4, autostart: true });
    assert.equal('observer' in earlier.app!, false);
    const both = edit(STANDALONE, ['  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n', '  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n  monitor: { failures: 5 }\n  observer: { failures: 4 }\n']);
    assert.throws(() => parseTopology(both, 'c.yaml'), /observer/);
  });

  it('an unknown profile is refused at its line, with the valid ones', () => {
    const text = edit(STANDALONE, ['  ttl: 30\n', '  profile: turbo\n  ttl: 30\n']);
    const issue = onlyError(text, 'patroni.profile', at(text, 'profile: turbo', 'turbo'));
    assert.match(issue.message, /must be one of safe, fast, aggressive/);
  });

  it('synchronous_mode is off, on or strict (true and false still read as on and off)', () => {
    const mode = (value: string) => parseTopology(edit(STANDALONE, ['  ttl: 30\n', `  synchronous_mode: ${value}\n  ttl: 30\n`]), 'c.yaml').topology.patroni.synchronous_mode;
    assert.deepEqual(['off', 'on', 'strict', 'true', 'false'].map(mode), ['off', 'on', 'strict', 'on', 'off']);
    assert.equal(parseTopology(STANDALONE, 'c.yaml').topology.patroni.synchronous_mode, 'off');
  });
});

// ---------------------------------------------------------------- directories haflow removes or takes over

describe('directories haflow removes, empties or takes over', () => {
  it("app.ha_dir: /etc is refused at its line: the install would archive /etc and then remove it", () => {
    const text = edit(STANDALONE, ['  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n', '  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n  ha_dir: /etc\n']);
    const issue = onlyError(text, 'app.ha_dir', at(text, 'ha_dir: /etc', '/etc'));
    assert.match(issue.message, /^\/etc is a system directory/);
    assert.match(issue.message, /rm -rf/, 'says what haflow would do to it');
    assert.match(issue.message, /a directory of its own, such as \/opt\/HA$/);
    assert.match(formatIssue(issue), /^cluster\.yaml:\d+:\d+: app\.ha_dir: \/etc is a system directory/);
  });

  it('postgresql.data_dir: /var/lib is refused: its owner and mode would become postgres 700', () => {
    const text = edit(STANDALONE, ['  version: 16\n', '  version: 16\n  data_dir: /var/lib\n']);
    const issue = onlyError(text, 'postgresql.data_dir', at(text, 'data_dir: /var/lib', '/var/lib'));
    assert.match(issue.message, /^\/var\/lib is a system directory.*owner.*mode/);
    assert.match(issue.message, /such as \/var\/lib\/postgresql\/patroni-data$/);
  });

  it('every entry of app.sync_dirs is checked, and the error names the entry', () => {
    const text = edit(STANDALONE, ['  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n', '  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n  sync_dirs: [/opt/flotomate/attachments, /usr/local]\n']);
    const issue = onlyError(text, 'app.sync_dirs[1]', at(text, 'sync_dirs:', '/usr/local'));
    assert.match(issue.message, /^\/usr\/local is a system directory/);
  });

  it('etcd.data_dir is a dedicated directory too: a top-level directory and a user home are refused', () => {
    for (const dir of ['/data', '/home/motadata']) {
      const text = edit(PATRONI, ['etcd:\n', `etcd:\n  data_dir: ${dir}\n`]);
      const issue = onlyError(text, 'etcd.data_dir', at(text, `data_dir: ${dir}`, dir));
      assert.match(issue.message, /a directory of its own, such as \/var\/lib\/etcd\/default$/, dir);
    }
  });

  it('a directory inside /proc, /sys, /dev, /run or /boot, under /usr, or written with .. is refused', () => {
    for (const dir of ['/run/haflow/ha', '/sys/fs/ha', '/boot/efi/ha', '/usr/lib/postgresql', '/opt/../etc', '/opt/HA/.']) {
      const text = edit(STANDALONE, ['  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n', `  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n  ha_dir: ${dir}\n`]);
      const issue = onlyError(text, 'app.ha_dir', at(text, `ha_dir: ${dir}`, dir));
      assert.match(issue.message, /a directory of its own, such as \/opt\/HA$/, dir);
    }
  });

  it('a dedicated directory may not hold another managed path: removing it would take that with it', () => {
    const text = edit(STANDALONE, ['  version: 16\n', '  version: 16\n  data_dir: /srv/ha/pgdata\n'], ['  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n', '  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n  ha_dir: /srv/ha\n']);
    const issue = onlyError(text, 'app.ha_dir', at(text, 'ha_dir: /srv/ha', '/srv/ha'));
    assert.match(issue.message, /^\/srv\/ha holds postgresql\.data_dir \(\/srv\/ha\/pgdata\)/);
    assert.match(issue.message, /a directory of its own, such as \/opt\/HA$/);
  });

  it("a dedicated directory may not hold the application's config files or be the same as another", () => {
    const holds = edit(STANDALONE, ['  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n', '  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n  sync_dirs: [/opt/flotomate]\n']);
    const issue = onlyError(holds, 'app.sync_dirs[0]', at(holds, 'sync_dirs:', '/opt/flotomate'));
    assert.match(issue.message, /^\/opt\/flotomate holds app\.config_files\[0\]\.path/);
    const same = edit(STANDALONE, ['  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n', '  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n  ha_dir: /opt/shared\n  sync_dirs: [/opt/shared]\n']);
    const issues = issuesOf(same);
    assert.ok(issues.length >= 1 && issues.every((i) => i.severity === 'error'));
    assert.match(formatIssue(issues[0]), /: app\.(ha_dir|sync_dirs\[0\]): \/opt\/shared is also app\.(sync_dirs\[0\]|ha_dir)/);
  });

  it("a dedicated directory may not hold haflow's own files (the postgres user's home holds the standby's password file)", () => {
    const text = edit(STANDALONE, ['  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n', '  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n  ha_dir: /var/lib/postgresql\n']);
    const issue = onlyError(text, 'app.ha_dir', at(text, 'ha_dir: /var/lib/postgresql', '/var/lib/postgresql'));
    assert.match(issue.message, /^\/var\/lib\/postgresql (is a system directory|holds)/);
  });

  it('dedicated directories of their own are accepted, and the classic cluster may be adopted in place', () => {
    const text = edit(
      STANDALONE,
      ['  version: 16\n', '  version: 16\n  data_dir: /data/patroni\n'],
      ['  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n', '  db_password: { env: HAFLOW_APP_DB_PASSWORD }\n  ha_dir: /opt/HA\n  sync_dirs: [/opt/flotomate/attachments, /opt/flotomate/patches, /home/motadata/files]\n'],
    );
    assert.deepEqual(parseTopology(text, 'c.yaml').warnings, []);
    const adopted = edit(STANDALONE, ['  version: 16\n', '  version: 16\n  data_dir: /var/lib/postgresql/16/main\n']);
    assert.deepEqual(parseTopology(adopted, 'c.yaml').warnings, []);
  });

  it('every lab topology validates', async () => {
    const dir = join(__dirname, '../../lab/topologies');
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml'))) loadTopology(join(dir, file));
  });
});

describe("HAProxy's stats page", () => {
  it('a topology with an HAProxy host and no haproxy.stats_auth is refused at the haproxy section, with the setting to add', () => {
    const text = edit(STANDALONE, [STATS_LINE, '']);
    const issue = onlyError(text, 'haproxy', at(text, 'haproxy:'));
    assert.match(issue.message, /^haproxy\.stats_auth is not set: host observer runs HAProxy, whose stats page on port 7000 shows every server and its state to anyone who reaches it; give it a user and password: haproxy: \{ stats_auth: \{ username: haflow, password: \{ env: HAFLOW_HAPROXY_STATS_PASSWORD \} \} \}$/);
  });

  it('a topology recorded in a run before the rule (a running monitor\'s, a schedule\'s) still passes the worker\'s check', () => {
    const text = edit(STANDALONE, [STATS_LINE, '']);
    assert.throws(() => parseTopology(text, 'c.yaml'), /haproxy\.stats_auth is not set/);
    const recorded = parseTopology(STANDALONE, 'c.yaml').topology;
    const { stats_auth: _auth, ...haproxy } = recorded.haproxy;
    assert.equal(assertValidTopology({ ...recorded, haproxy } as typeof recorded).haproxy.stats_auth, undefined);
  });

  it('without a haproxy section, the error points at the HAProxy host', () => {
    const text = edit(PATRONI, [`haproxy:\n${STATS_LINE}`, '']);
    const issue = onlyError(text, 'hosts[3].roles', at(text, 'roles: [haproxy]'));
    assert.match(issue.message, /^haproxy\.stats_auth is not set: host haproxy01 runs HAProxy/);
  });

  it('a classic layout without an HAProxy host needs none; the username defaults to haflow', () => {
    const text = edit(CLASSIC, ['  - name: haproxy\n    address: 172.16.8.100\n    roles: [haproxy]\n', ''], [`haproxy:\n${STATS_LINE}`, '']);
    assert.deepEqual(parseTopology(text, 'c.yaml').warnings, []);
    assert.equal(parseTopology(STANDALONE, 'c.yaml').topology.haproxy.stats_auth?.username, 'haflow');
  });

  it('its password is a secret reference, never a value', () => {
    const text = edit(STANDALONE, ['stats_auth: { password: { env: HAFLOW_HAPROXY_STATS_PASSWORD } }', 'stats_auth: { password: hunter2-stats }']);
    const issue = onlyError(text, 'haproxy.stats_auth.password', at(text, 'hunter2-stats'));
    assert.doesNotMatch(issue.message, /hunter2/);
  });
});

// ---------------------------------------------------------------- the OS the hosts run

describe('the OS a topology names', () => {
  const onDebian13 = (text: string) => edit(text, ['layout: standalone\n', 'layout: standalone\nsupported_os: [debian 13, debian 12]\nos: debian 13\n']);

  it('a cluster OS with a host of its own: each host runs its own, else the cluster\'s', () => {
    const text = edit(onDebian13(STANDALONE), ['    address: 172.16.13.42\n', '    address: 172.16.13.42\n    os: debian 12\n']);
    const { topology } = parseTopology(edit(text, ['  version: 16', '  version: 17']), 'cluster.yaml');
    assert.deepEqual(topology.hosts.map((h) => hostOs(topology, h)), ['debian 12', 'debian 13', 'debian 13']);
  });

  it('an OS that is not in supported_os is an error naming the field, the OS and the list', () => {
    const text = edit(STANDALONE, ['layout: standalone\n', 'layout: standalone\nsupported_os: [debian 12]\nos: debian 13\n']);
    const errors = issuesOf(text).filter((i) => i.severity === 'error');
    assert.deepEqual(errors.map((i) => [i.path, i.line]), [['os', 4]]);
    assert.match(errors[0].message, /debian 13 is not in supported_os \(debian 12\); add it there, or name the OS the hosts run/);
  });

  it('DB nodes that would run different OS are refused before anything runs, naming each one', () => {
    const text = edit(onDebian13(STANDALONE), ['    address: 172.16.12.177\n', '    address: 172.16.12.177\n    os: debian 12\n'], ['  version: 16', '  version: 17']);
    const issues = issuesOf(text).filter((i) => i.severity === 'error');
    assert.equal(issues.length, 1, issues.map(formatIssue).join('\n'));
    assert.equal(issues[0].path, 'hosts[2].os');
    assert.match(issues[0].message, /the DB nodes must run one OS .*node1 runs debian 13, node2 runs debian 12/);
  });

  it('Debian 13 with ttl under 20 warns that Patroni 4 raises it; PostgreSQL 16 there warns that the archive has 17 only', () => {
    const { warnings } = parseTopology(edit(onDebian13(STANDALONE), ['  ttl: 30\n  loop_wait: 10\n  retry_timeout: 10\n', '  ttl: 10\n  loop_wait: 2\n  retry_timeout: 4\n']), 'cluster.yaml');
    const messages = warnings.map((w) => `${w.path}: ${w.message}`).join('\n');
    assert.match(messages, /patroni\.ttl: Patroni 4\.0\.7 \(debian 13\) raises ttl to at least 20.*it will run with ttl 20, not 10/);
    assert.match(messages, /postgresql\.version: debian 13 has PostgreSQL 17 \(from Debian's archive \(trixie\)\), not 16/);
  });

  it('no OS named: nothing is checked or claimed beyond supported_os', () => {
    const { warnings } = parseTopology(STANDALONE, 'cluster.yaml');
    assert.deepEqual(warnings, []);
  });
});
