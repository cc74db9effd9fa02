// The install's pure helpers: HAProxy's stats CSV, the preflight's OS and disk rules, the
// guide's firewall matrix, package names per role, SQL quoting, and the benchmarks' interval sums.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseStatsCsv } from '../../activities/haproxy/stats';
import { packagesFor } from '../../activities/components';
import { dropDebianDefaultCluster } from '../../activities/postgres/activities';
import { fakeSsh, ok } from '../support/fake-ssh';
import { sqlIdentifier, sqlLiteral } from '../../activities/shared/psql';
import { MIN_FREE_BYTES } from '../../activities/preflight';
import { unionMs } from '../../client/run-times';
import { firewallMatrix, listeningPorts, loadTopology, osSupported, type FirewallRule, type Topology } from '../../topology';
import { distributed, generic, hostNamed, standalone, topologies } from '../support/topologies';

const ROOT = join(__dirname, '../..');
const load = (file: string): Topology => loadTopology(join(ROOT, file)).topology;

// ---------------------------------------------------------------- HAProxy stats CSV

/** The static fields of HAProxy's proxy statistics (management.txt §9.1), then those 2.6 adds. */
const STATS_FIELDS = (
  'pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,' +
  'chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,' +
  'check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,' +
  'req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,' +
  'agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,' +
  'agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,' +
  'cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,' +
  'used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,srid,sess_other,' +
  'h1sess,h2sess,h3sess,req_other,h1req,h2req,h3req,proto'
).split(',');

/** One CSV line as HAProxy writes it: every field in header order, a trailing comma. */
function csvRow(values: Record<string, string>): string {
  for (const key of Object.keys(values)) assert.ok(STATS_FIELDS.includes(key), `no field ${key}`);
  return `${STATS_FIELDS.map((f) => values[f] ?? '').join(',')},`;
}

const listener = (pxname: string, svname: 'FRONTEND' | 'BACKEND', status: string, type: string) =>
  csvRow({ pxname, svname, status, type, pid: '1', scur: '0', smax: '1', mode: pxname === 'stats' ? 'http' : 'tcp' });

const server = (pxname: string, svname: string, status: string, addr: string, more: Record<string, string> = {}) =>
  csvRow({ pxname, svname, status, addr, type: '2', pid: '1', weight: '1', act: '1', bck: '0', mode: 'tcp', ...more });

/** `;csv` of the stats page of the guide's standalone HAProxy (listen stats, postgres and backend). */
const STANDALONE_STATS = [
  `# ${STATS_FIELDS.join(',')},`,
  listener('stats', 'FRONTEND', 'OPEN', '0'),
  listener('stats', 'BACKEND', 'UP', '1'),
  listener('postgres', 'FRONTEND', 'OPEN', '0'),
  server('postgres', 'node1', 'UP', '172.16.12.171:5432', { check_status: 'L7OK', check_code: '200', check_desc: 'Layer7 check passed' }),
  server('postgres', 'node2', 'DOWN', '172.16.12.177:5432', {
    check_status: 'L7STS',
    check_code: '503',
    last_chk: '"HTTP status check returned code <3C>503<3E>, replica"',
    check_desc: 'Layer7 wrong status',
  }),
  listener('postgres', 'BACKEND', 'UP', '1'),
  listener('backend', 'FRONTEND', 'OPEN', '0'),
  server('backend', 'node1', 'UP 1/2', '172.16.12.171:80', { check_status: 'L4CON' }),
  server('backend', 'node2', 'no check', '172.16.12.177:80'),
  listener('backend', 'BACKEND', 'UP', '1'),
  '',
].join('\n');

describe('parseStatsCsv', () => {
  test('the fake stats page is shaped like HAProxy 2.6\'s: every row as wide as the header', () => {
    const [header, ...rows] = STANDALONE_STATS.split('\n').filter(Boolean);
    assert.match(header, /^# pxname,svname,qcur,/);
    // Fields are split as CSV: a quoted field may hold a comma (as last_chk does here).
    const width = (line: string) => line.replace(/"(?:[^"]|"")*"/g, 'q').split(',').length;
    for (const row of rows) assert.equal(width(row), width(header), row);
    assert.ok(rows.some((row) => row.includes('"') && row.split(',').length > width(header)), 'one row has a quoted comma');
  });

  test('lists the servers of every proxy with their status, without the FRONTEND and BACKEND rows', () => {
    assert.deepEqual(parseStatsCsv(STANDALONE_STATS), [
      { proxy: 'postgres', server: 'node1', status: 'UP' },
      { proxy: 'postgres', server: 'node2', status: 'DOWN' },
      { proxy: 'backend', server: 'node1', status: 'UP 1/2' },
      { proxy: 'backend', server: 'node2', status: 'no check' },
    ]);
  });

  test('keeps the servers of a proxy named "backend" (only svname FRONTEND/BACKEND rows are dropped)', () => {
    assert.deepEqual(
      parseStatsCsv(STANDALONE_STATS).filter((s) => s.proxy === 'backend').map((s) => s.server),
      ['node1', 'node2'],
    );
  });

  test('finds the columns by the header\'s names, not by position', () => {
    const csv = '# status,svname,pxname\nOPEN,FRONTEND,postgres\nUP,db1,postgres\nDOWN,db2,postgres\n';
    assert.deepEqual(parseStatsCsv(csv), [
      { proxy: 'postgres', server: 'db1', status: 'UP' },
      { proxy: 'postgres', server: 'db2', status: 'DOWN' },
    ]);
  });

  test('an empty page or a header alone has no servers', () => {
    assert.deepEqual(parseStatsCsv(''), []);
    assert.deepEqual(parseStatsCsv(`# ${STATS_FIELDS.join(',')},\n`), []);
  });
});

// ---------------------------------------------------------------- preflight

describe('osSupported', () => {
  test('accepts the exact "<id> <version>" from /etc/os-release', () => {
    assert.equal(osSupported('debian 12', ['debian 12', 'ubuntu 22.04']), true);
    assert.equal(osSupported('ubuntu 22.04', ['debian 12', 'ubuntu 22.04']), true);
    assert.equal(osSupported('rhel 9.4', ['rhel 9.4', 'rhel 9.6']), true);
  });

  test('accepts a point release of a listed version ("rhel 9.4" by "rhel 9"), not the reverse', () => {
    assert.equal(osSupported('rhel 9.4', ['rhel 9']), true);
    assert.equal(osSupported('debian 12', ['debian 12.5']), false);
  });

  test('matches whole version parts: "debian 12" is not "debian 1", "ubuntu 22.04" is not "ubuntu 22.0"', () => {
    assert.equal(osSupported('debian 12', ['debian 1']), false);
    assert.equal(osSupported('ubuntu 22.04', ['ubuntu 22.0']), false);
    assert.equal(osSupported('rhel 9.4', ['rhel 9.6']), false);
  });

  test('the OS id must match too, and an unknown OS or an empty list is never supported', () => {
    assert.equal(osSupported('ubuntu 12', ['debian 12']), false);
    assert.equal(osSupported('unknown', ['ubuntu 22.04', 'ubuntu 24.04', 'rhel 9.4', 'rhel 9.6']), false);
    assert.equal(osSupported('debian 12', []), false);
  });

  test('the guide\'s OS list (the schema default) accepts Ubuntu 22/24 and RHEL 9.4/9.6 but not Debian 12', () => {
    const supported = standalone().supported_os;
    for (const os of ['ubuntu 22.04', 'ubuntu 24.04', 'rhel 9.4', 'rhel 9.6']) assert.equal(osSupported(os, supported), true, os);
    assert.equal(osSupported('debian 12', supported), false);
    assert.equal(osSupported('debian 12', load('lab/topologies/standalone.yaml').supported_os), true, 'the lab adds debian 12');
  });
});

test('MIN_FREE_BYTES is 1 GiB', () => {
  assert.equal(MIN_FREE_BYTES, 1024 ** 3);
});

// ---------------------------------------------------------------- firewall matrix

const pairs = (matrix: FirewallRule[]) => matrix.map((r) => `${r.from.name}>${r.to.name}:${r.port}`);

/** The Patroni guide's "Machines cannot communicate with each other" table, as from>to:port. */
function guideTable(observer: string, apps: string[], dbs: string[]): string[] {
  const rows: string[] = [];
  for (const app of apps) rows.push(`${observer}>${app}:80`);
  for (const db of dbs) rows.push(`${observer}>${db}:5432`, `${observer}>${db}:8008`);
  for (const db of dbs) for (const port of [2379, 2380, 5000]) rows.push(`${db}>${observer}:${port}`);
  for (const a of dbs) for (const b of dbs) if (a !== b) rows.push(`${a}>${b}:5432`, `${a}>${b}:8008`);
  return rows;
}

const TOPOLOGY_FILES = [
  ...readdirSync(join(ROOT, 'lab/topologies')).filter((f) => f.endsWith('.yaml')).map((f) => `lab/topologies/${f}`),
  ...readdirSync(join(ROOT, 'topology/examples')).filter((f) => f.endsWith('.yaml')).map((f) => `topology/examples/${f}`),
];

describe('firewallMatrix', () => {
  const standaloneFiles = ['lab/topologies/standalone.yaml', 'topology/examples/standalone.yaml'];
  const distributedFiles = ['lab/topologies/distributed.yaml', 'topology/examples/distributed.yaml'];

  for (const file of standaloneFiles) {
    test(`${file}: holds the guide's standalone table (observer → node1/node2, nodes → observer, node1 ↔ node2)`, () => {
      const matrix = pairs(firewallMatrix(load(file)));
      for (const row of guideTable('observer', ['node1', 'node2'], ['node1', 'node2'])) assert.ok(matrix.includes(row), `${row} missing from ${file}`);
    });
  }

  for (const file of distributedFiles) {
    test(`${file}: holds the guide's distributed table (observer → app and DB nodes, DB nodes → observer, db1 ↔ db2)`, () => {
      const matrix = pairs(firewallMatrix(load(file)));
      for (const row of guideTable('observer', ['app1', 'app2'], ['db1', 'db2'])) assert.ok(matrix.includes(row), `${row} missing from ${file}`);
    });
  }

  test('the distributed layout asks nothing of the DB nodes towards the app nodes, or of etcd between DB nodes', () => {
    const matrix = pairs(firewallMatrix(load('topology/examples/distributed.yaml')));
    assert.deepEqual(matrix.filter((p) => /^db\d>app\d:/.test(p)), []);
    assert.deepEqual(matrix.filter((p) => /^db\d>db\d:(2379|2380)$/.test(p)), []);
  });

  test('ports follow the topology, not the guide\'s defaults', () => {
    const t = standalone({ postgresql: { port: 6432 }, patroni: { rest_api_port: 8009 }, haproxy: { postgres_port: 5001 } });
    const matrix = pairs(firewallMatrix(t));
    assert.ok(matrix.includes('observer>node1:6432') && matrix.includes('observer>node1:8009') && matrix.includes('node1>observer:5001'), matrix.join('\n'));
    assert.ok(!matrix.some((p) => /:(5432|8008|5000)$/.test(p)), matrix.join('\n'));
  });

  test('the generic cluster (DB nodes that are also the etcd members) needs etcd peers between them', () => {
    const matrix = pairs(firewallMatrix(generic()));
    for (const [a, b] of [['node-1', 'node-2'], ['node-2', 'node-3'], ['node-3', 'node-1']]) {
      for (const port of [2379, 2380, 5432, 8008]) assert.ok(matrix.includes(`${a}>${b}:${port}`) && matrix.includes(`${b}>${a}:${port}`), `${a}<>${b}:${port}`);
    }
    for (const db of ['node-1', 'node-2', 'node-3']) for (const port of [5432, 8008]) assert.ok(matrix.includes(`node-5>${db}:${port}`));
  });

  for (const file of TOPOLOGY_FILES) {
    test(`${file}: no host is asked to reach itself, and no path is listed twice`, () => {
      const matrix = firewallMatrix(load(file));
      assert.ok(matrix.length > 0);
      assert.deepEqual(matrix.filter((r) => r.from.name === r.to.name), []);
      const keys = pairs(matrix);
      assert.equal(new Set(keys).size, keys.length, `duplicates in ${keys.join(', ')}`);
    });
  }

  for (const file of TOPOLOGY_FILES.filter((f) => !f.endsWith('classic.yaml'))) {
    test(`${file}: every path ends at a port its target host listens on`, () => {
      const t = load(file);
      for (const rule of firewallMatrix(t)) {
        const ports = listeningPorts(t, rule.to).map((p) => p.port);
        assert.ok(ports.includes(rule.port), `${rule.from.name} → ${rule.to.name}:${rule.port} (${rule.purpose}): ${rule.to.name} listens on ${ports.join(', ')}`);
      }
    });
  }
});

// ---------------------------------------------------------------- packages

describe('packagesFor', () => {
  const lab = load('lab/topologies/standalone.yaml'); // PostgreSQL 15

  test('an app + DB node gets PostgreSQL of the topology\'s version, Patroni with its etcd client, and pgBackRest (the lab has backups)', () => {
    const node = hostNamed(lab, 'node1');
    assert.deepEqual(packagesFor(lab, node, 'apt'), ['postgresql-15', 'patroni', 'python3-etcd', 'python3-psycopg2', 'python3-idna', 'pgbackrest']);
    assert.deepEqual(packagesFor(lab, node, 'dnf'), ['postgresql15-server', 'patroni', 'patroni-etcd', 'pgbackrest']);
    const { backup: _none, ...withoutBackups } = lab;
    assert.ok(!packagesFor(withoutBackups, node, 'apt').includes('pgbackrest'), 'no pgBackRest without backups');
  });

  test('the observer (observer, etcd, haproxy, backup) gets etcd, HAProxy and pgBackRest, and no PostgreSQL', () => {
    const observer = hostNamed(lab, 'observer');
    assert.deepEqual([...packagesFor(lab, observer, 'apt')].sort(), ['etcd-client', 'etcd-server', 'haproxy', 'pgbackrest', 'socat']);
    assert.deepEqual([...packagesFor(lab, observer, 'dnf')].sort(), ['etcd', 'haproxy', 'pgbackrest', 'socat']);
  });

  test('an app-only node of the distributed layout needs no role packages', () => {
    const t = load('topology/examples/distributed.yaml');
    assert.deepEqual(packagesFor(t, hostNamed(t, 'app1'), 'apt'), []);
    assert.deepEqual(packagesFor(t, hostNamed(t, 'app1'), 'dnf'), []);
  });

  test('the PostgreSQL package follows postgresql.version', () => {
    for (const version of [16, 17]) {
      const t = distributed({ postgresql: { version } });
      const db1 = hostNamed(t, 'db1');
      assert.deepEqual(packagesFor(t, db1, 'apt').filter((p) => p.startsWith('postgresql')), [`postgresql-${version}`]);
      assert.deepEqual(packagesFor(t, db1, 'dnf').filter((p) => p.startsWith('postgresql')), [`postgresql${version}-server`]);
    }
    const example = load('topology/examples/distributed.yaml');
    assert.ok(packagesFor(example, hostNamed(example, 'db2'), 'apt').includes('postgresql-17'));
  });

  test('a host with the db and etcd roles gets both sets, each package once', () => {
    const t = topologies(16).generic();
    const apt = packagesFor(t, hostNamed(t, 'node-1'), 'apt');
    assert.deepEqual([...apt].sort(), ['etcd-client', 'etcd-server', 'patroni', 'postgresql-16', 'python3-etcd', 'python3-idna', 'python3-psycopg2']);
    const dnf = packagesFor(t, hostNamed(t, 'node-1'), 'dnf');
    assert.deepEqual([...dnf].sort(), ['etcd', 'patroni', 'patroni-etcd', 'postgresql16-server']);
    assert.deepEqual(packagesFor(t, hostNamed(t, 'node-5'), 'apt'), ['haproxy', 'socat']);
  });
});

// ---------------------------------------------------------------- SQL quoting

/**
 * Reads one quoted SQL token at the start of `sql` (quote char doubled inside; in an escape
 * string E'…' a backslash also escapes the next character); returns its value and length.
 */
function readQuoted(sql: string, quote: string): { value: string; length: number } {
  const escapes = quote === "'" && sql.startsWith("E'");
  const start = escapes ? 1 : 0;
  assert.equal(sql[start], quote);
  let value = '';
  for (let i = start + 1; i < sql.length; i++) {
    if (escapes && sql[i] === '\\') value += sql[++i];
    else if (sql[i] !== quote) value += sql[i];
    else if (sql[i + 1] === quote) (value += quote), i++;
    else return { value, length: i + 1 };
  }
  assert.fail(`unterminated ${quote} token: ${sql}`);
}

const TRICKY = ['', 'plain', "it's", "''", "'; DROP TABLE users; --", 'a"b', 'back\\slash\\', '$$ dollar $$', 'naïve → ünïcode', "x'", "'"];

describe('sqlLiteral and sqlIdentifier', () => {
  test('sqlLiteral wraps in single quotes and doubles the single quotes inside', () => {
    assert.equal(sqlLiteral("it's"), "'it''s'");
    assert.equal(sqlLiteral(''), "''");
    assert.equal(sqlLiteral("'; DROP TABLE x; --"), "'''; DROP TABLE x; --'");
    assert.equal(sqlLiteral('a"c'), "'a\"c'", 'double quotes are plain characters');
    assert.equal(sqlLiteral('a\\b'), "E'a\\\\b'", 'a backslash makes an escape string, which reads the same whatever standard_conforming_strings says');
  });

  test('sqlIdentifier wraps in double quotes and doubles the double quotes inside', () => {
    assert.equal(sqlIdentifier('flotomate'), '"flotomate"');
    assert.equal(sqlIdentifier('we"ird'), '"we""ird"');
    assert.equal(sqlIdentifier("o'brien"), '"o\'brien"');
  });

  test('a quoted value is one whole token that reads back as the original, whatever it holds', () => {
    for (const value of TRICKY) {
      const literal = sqlLiteral(value);
      assert.deepEqual(readQuoted(`${literal} AND true`, "'"), { value, length: literal.length }, literal);
      const identifier = sqlIdentifier(value);
      assert.deepEqual(readQuoted(`${identifier}.x`, '"'), { value, length: identifier.length }, identifier);
    }
  });
});

// ---------------------------------------------------------------- client/run-times.ts

describe('unionMs', () => {
  test('no intervals take no time', () => {
    assert.equal(unionMs([]), 0);
  });

  test('disjoint intervals add up', () => {
    assert.equal(unionMs([{ start: 0, end: 10 }, { start: 20, end: 25 }]), 15);
  });

  test('overlapping intervals count the shared time once, in any order', () => {
    assert.equal(unionMs([{ start: 5, end: 15 }, { start: 0, end: 10 }]), 15);
    assert.equal(unionMs([{ start: 30, end: 40 }, { start: 0, end: 10 }, { start: 8, end: 12 }, { start: 35, end: 50 }]), 32);
  });

  test('nested intervals add nothing to the one that contains them', () => {
    assert.equal(unionMs([{ start: 0, end: 100 }, { start: 10, end: 20 }, { start: 30, end: 40 }, { start: 99, end: 100 }]), 100);
  });

  test('touching intervals join without a gap or a double count', () => {
    assert.equal(unionMs([{ start: 10, end: 20 }, { start: 0, end: 10 }]), 20);
  });

  test('does not change its input', () => {
    const input = [{ start: 5, end: 15 }, { start: 0, end: 10 }];
    unionMs(input);
    assert.deepEqual(input, [{ start: 5, end: 15 }, { start: 0, end: 10 }]);
  });
});

describe("dropping Debian's default cluster: a destructive action preceded by a backup, or saying there is nothing to back up", () => {
  const t = standalone();
  const host = (databases: number) =>
    fakeSsh((command) => {
      if (command.startsWith('pg_lsclusters')) return ok('/var/lib/postgresql/16/main\n');
      if (command.includes('/base')) return ok(databases > 3 ? 'yes\n' : 'no\n');
      return ok();
    });

  test('with databases of its own: archived first, then dropped, and the summary says so', async () => {
    const { ssh, calls } = host(4);
    const actions = await dropDebianDefaultCluster(ssh, t, false);
    assert.match(actions[0], /^back up \/var\/lib\/postgresql\/16\/main to \/var\/backups\/haflow\/postgresql-16-main-\d{8}T\d{6}Z\.tar\.gz$/);
    assert.match(actions[1], /drop Debian's default cluster 16\/main .* after that backup$/);
    // One command, under the host's data lock: the drop runs only once the backup succeeded.
    const drop = calls.find((c) => c.command.includes('pg_dropcluster'))!;
    assert.match(drop.command, /tar -czf .*\) && pg_dropcluster --stop 16 main$/);
    assert.equal(drop.options.lock, 'postgres-data');
  });

  test('empty (template databases only): dropped, saying there is nothing to back up; check mode changes nothing', async () => {
    const { ssh, calls } = host(3);
    assert.deepEqual(await dropDebianDefaultCluster(ssh, t, true), [
      "would drop Debian's default cluster 16/main (pg_dropcluster --stop 16 main): it holds no database of its own, nothing to back up",
    ]);
    assert.ok(!calls.some((c) => c.command.includes('pg_dropcluster') || c.command.includes('tar -czf')));
  });
});
