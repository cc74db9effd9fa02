// haproxy.cfg renderer, checked section by section against the Patroni guide's shape ("Verify the
// HAProxy Configuration") and the classic HA guide's TLS frontend ("HA-Proxy SSL Configuration").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Topology } from '../../topology/schema';
import { renderHaproxyCfg, haproxyTime } from '../../activities/haproxy/config';
import { haproxyComponent } from '../../activities/haproxy/component';
import { haproxyServers } from '../../activities/haproxy/stats';
import { redactSecrets } from '../../activities/shared/redact';
import { secretValue } from '../../activities/shared/secrets';
import { distributed, findExecutable, generic, hostNamed, loopbackLab, SBIN_DIRS, standalone } from '../support/topologies';
import { requires } from '../support/requires';

// ---- a tiny haproxy.cfg reader: section headers at column 0, directives indented ----

type Section = { header: string; directives: string[] };

function parseHaproxy(text: string): Section[] {
  const sections: Section[] = [];
  for (const raw of text.split('\n')) {
    if (raw.trim() === '' || raw.trim().startsWith('#')) continue;
    if (/^\S/.test(raw)) sections.push({ header: raw.trim(), directives: [] });
    else {
      assert.ok(sections.length > 0, `directive before any section: ${raw}`);
      sections[sections.length - 1].directives.push(raw.trim().replace(/\s+/g, ' '));
    }
  }
  return sections;
}

function section(text: string, header: string): string[] {
  const found = parseHaproxy(text).filter((s) => s.header === header);
  assert.equal(found.length, 1, `expected exactly one "${header}" section`);
  return found[0].directives;
}

function headers(text: string): string[] {
  return parseHaproxy(text).map((s) => s.header);
}

/** The rendered haproxy.cfg of the named HAProxy host. */
function render(t: Topology, name: string): string {
  return renderHaproxyCfg(t, hostNamed(t, name));
}

/** Every bind line, listener by listener. */
function binds(cfg: string): string[] {
  return parseHaproxy(cfg).flatMap((s) => s.directives.filter((d) => d.startsWith('bind ')));
}

/** Only the server lines of a section. */
function servers(cfg: string, header: string): string[] {
  return section(cfg, header).filter((d) => d.startsWith('server '));
}

// The guide's sections, with "*" for the bind address as the guide writes it.
const GUIDE_DEFAULTS = [
  'log global',
  'mode tcp',
  'retries 2',
  'timeout client 30m',
  'timeout connect 4s',
  'timeout server 30m',
  'timeout check 5s',
  'load-server-state-from-file global', // the states the old process had, across a reload
];

// ---- the guide's layouts ----

test('standalone: the Patroni guide shape, listen backend to both app+DB nodes', () => {
  const cfg = render(standalone({ haproxy: { bind: 'all' } }), 'observer');

  assert.deepEqual(headers(cfg), ['global', 'defaults', 'listen stats', 'listen postgres', 'listen backend']);
  assert.deepEqual(section(cfg, 'global'), [
    'maxconn 100', // the guide's only global line, first
    'chroot /var/lib/haproxy', // Debian's essentials
    'stats socket /run/haproxy/admin.sock mode 660 level admin',
    'user haproxy',
    'group haproxy',
    'server-state-file /var/lib/haproxy/server-state',
  ]);
  assert.deepEqual(section(cfg, 'defaults'), GUIDE_DEFAULTS);
  assert.deepEqual(section(cfg, 'listen stats'), ['mode http', 'bind *:7000', 'stats enable', 'stats uri /']);
  assert.deepEqual(section(cfg, 'listen postgres'), [
    'bind *:5000',
    'option httpchk',
    'http-check expect status 200',
    'default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions',
    'server node1 172.16.12.171:5432 maxconn 100 check port 8008',
    'server node2 172.16.12.177:5432 maxconn 100 check port 8008',
  ]);
  assert.deepEqual(section(cfg, 'listen backend'), [
    'bind *:80',
    'balance roundrobin',
    'mode tcp',
    // The application's health URL decides, not an open port: nginx answers for a dead application.
    'option httpchk GET /',
    'http-check expect status 200',
    'default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions',
    'server node1 172.16.12.171:80 check port 80',
    'server node2 172.16.12.177:80 check port 80',
  ]);
});

test('distributed: postgres servers are the DB machines, backend servers the app machines', () => {
  const cfg = render(distributed(), 'observer');
  assert.deepEqual(headers(cfg), ['global', 'defaults', 'listen stats', 'listen postgres', 'listen backend']);
  assert.deepEqual(servers(cfg, 'listen postgres'), [
    'server db1 172.16.12.202:5432 maxconn 100 check port 8008',
    'server db2 172.16.12.216:5432 maxconn 100 check port 8008',
  ]);
  assert.deepEqual(servers(cfg, 'listen backend'), [
    'server app1 172.16.12.171:80 check port 80',
    'server app2 172.16.12.177:80 check port 80',
  ]);
});

test('generic: three DB nodes, no app hosts, so no listen backend', () => {
  const cfg = render(generic(), 'node-5');
  assert.deepEqual(headers(cfg), ['global', 'defaults', 'listen stats', 'listen postgres']);
  assert.deepEqual(servers(cfg, 'listen postgres'), [
    'server node-1 10.0.0.1:5432 maxconn 100 check port 8008',
    'server node-2 10.0.0.2:5432 maxconn 100 check port 8008',
    'server node-3 10.0.0.3:5432 maxconn 100 check port 8008',
  ]);
});

// ---- bind address ----

test("bind 'host' (the default) binds every listener to the HAProxy host's own address", () => {
  const cfg = render(standalone({ haproxy: { tls: { pem: '/etc/ssl/example.pem' } } }), 'observer');
  assert.deepEqual(binds(cfg), [
    'bind 172.16.13.42:7000',
    'bind 172.16.13.42:5000',
    'bind 172.16.13.42:80',
    'bind 172.16.13.42:443 ssl crt /etc/ssl/example.pem',
  ]);
});

test("bind 'all' binds every listener to *, as the guide does", () => {
  const cfg = render(standalone({ haproxy: { bind: 'all', tls: { pem: '/etc/ssl/example.pem' } } }), 'observer');
  assert.deepEqual(binds(cfg), ['bind *:7000', 'bind *:5000', 'bind *:80', 'bind *:443 ssl crt /etc/ssl/example.pem']);
});

test('each HAProxy host binds its own address when there are several', () => {
  const t = generic({
    hosts: [
      { name: 'node-1', address: '10.0.0.1', roles: ['db', 'etcd', 'haproxy'] },
      { name: 'node-2', address: '10.0.0.2', roles: ['db', 'etcd', 'haproxy'] },
    ],
  });
  assert.ok(section(render(t, 'node-1'), 'listen postgres').includes('bind 10.0.0.1:5000'));
  assert.ok(section(render(t, 'node-2'), 'listen postgres').includes('bind 10.0.0.2:5000'));
});

// ---- the classic guide's TLS frontend ----

test('TLS frontend: present when haproxy.tls is set, terminating TLS and forwarding to the app servers', () => {
  const cfg = render(standalone({ haproxy: { tls: { pem: '/etc/ssl/example.pem' } } }), 'observer');
  assert.deepEqual(headers(cfg), [
    'global',
    'defaults',
    'listen stats',
    'listen postgres',
    'listen backend',
    'frontend https_front',
  ]);
  assert.deepEqual(section(cfg, 'frontend https_front'), [
    'bind 172.16.13.42:443 ssl crt /etc/ssl/example.pem',
    // tcp, because the backend it forwards to is tcp (HAProxy refuses http -> tcp)
    'mode tcp',
    'default_backend backend',
  ]);
});

test('TLS frontend: absent when haproxy.tls is not set', () => {
  const cfg = render(standalone(), 'observer');
  assert.ok(!headers(cfg).some((h) => h.startsWith('frontend')));
  assert.ok(!cfg.includes('ssl crt'));
});

test('TLS frontend: absent when there are no app servers to forward to', () => {
  const cfg = render(generic({ haproxy: { tls: { pem: '/etc/ssl/example.pem' } } }), 'node-5');
  assert.deepEqual(headers(cfg), ['global', 'defaults', 'listen stats', 'listen postgres']);
});

// ---- settings flow through ----

test('custom ports, limits and check timings come from the topology', () => {
  const t = distributed({
    postgresql: { port: 5433 },
    patroni: { rest_api_port: 8009 },
    haproxy: {
      postgres_port: 6000,
      stats_port: 7100,
      app_http_port: 8080,
      maxconn: 500,
      server_maxconn: 50,
      check: { inter: 1.5, fall: 2, rise: 1 },
      tls: { pem: '/etc/ssl/app.pem', port: 8443 },
    },
    app: { db_password: { env: 'APP_DB_PASSWORD' }, http_port: 8081, health_path: '/health?deep=1' },
  });
  const cfg = render(t, 'observer');
  assert.equal(section(cfg, 'global')[0], 'maxconn 500');
  assert.ok(section(cfg, 'listen stats').includes('bind 172.16.13.42:7100'));
  assert.deepEqual(section(cfg, 'listen postgres'), [
    'bind 172.16.13.42:6000',
    'option httpchk',
    'http-check expect status 200',
    'default-server inter 1500ms fall 2 rise 1 on-marked-down shutdown-sessions',
    'server db1 172.16.12.202:5433 maxconn 50 check port 8009',
    'server db2 172.16.12.216:5433 maxconn 50 check port 8009',
  ]);
  assert.deepEqual(section(cfg, 'listen backend'), [
    'bind 172.16.13.42:8080',
    'balance roundrobin',
    'mode tcp',
    'option httpchk GET /health?deep=1',
    'http-check expect status 200',
    'default-server inter 1500ms fall 2 rise 1 on-marked-down shutdown-sessions',
    'server app1 172.16.12.171:8081 check port 8081',
    'server app2 172.16.12.177:8081 check port 8081',
  ]);
  assert.equal(section(cfg, 'frontend https_front')[0], 'bind 172.16.13.42:8443 ssl crt /etc/ssl/app.pem');
});

test('haproxyTime: whole seconds as s, fractions as ms', () => {
  assert.equal(haproxyTime(3), '3s');
  assert.equal(haproxyTime(0.5), '500ms');
  assert.equal(haproxyTime(1.25), '1250ms');
});

// ---- file-level properties ----

test('the file says haflow manages it, and rendering is deterministic', () => {
  const cfg = render(standalone(), 'observer');
  assert.match(cfg.split('\n')[0], /^# Managed by haflow \(cluster serviceops\)/);
  assert.equal(render(standalone(), 'observer'), cfg);
  assert.ok(cfg.endsWith('\n'));
});

test('refuses a host without the haproxy role', () => {
  assert.throws(() => render(standalone(), 'node1'), /node1: it does not have the haproxy role/);
});

// ---- the real haproxy binary ----

const haproxyBin = findExecutable('haproxy', SBIN_DIRS);
const openssl = findExecutable('openssl', SBIN_DIRS);
const noHaproxy = requires(haproxyBin ? false : 'the haproxy binary is not installed (Debian package haproxy)');
const noOpenssl = requires(openssl ? false : 'openssl is not installed');

/** A throw-away self-signed certificate + key, combined as the classic guide does: `-c` loads it. */
function selfSignedPem(opensslBin: string, dir: string): string {
  const [key, cert, pem] = ['key.pem', 'cert.pem', 'combined.pem'].map((f) => join(dir, f));
  execFileSync(opensslBin, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=haflow-test', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  writeFileSync(pem, readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'));
  return pem;
}

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
function inTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'haflow-haproxy-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function haproxyCheck(cfg: string, dir: string): { status: number | null; output: string } {
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, cfg);
  const run = spawnSync(haproxyBin as string, ['-c', '-f', file], { encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

test('haproxy -c accepts the rendered files (standalone with TLS, distributed, generic)', { skip: noHaproxy }, (t) => {
  inTempDir((dir) => {
    const cases: [string, Topology, string][] = [
      ['distributed', distributed(), 'observer'],
      ['generic, bind *', generic({ haproxy: { bind: 'all' } }), 'node-5'],
    ];
    if (openssl) {
      const pem = selfSignedPem(openssl, dir);
      cases.push(['standalone with TLS', standalone({ haproxy: { tls: { pem } } }), 'observer']);
    } else {
      t.diagnostic('openssl not found: the TLS frontend is not checked by haproxy -c');
    }
    for (const [name, topo, haproxyHost] of cases) {
      const { status, output } = haproxyCheck(render(topo, haproxyHost), dir);
      assert.equal(status, 0, `${name}: haproxy -c failed:\n${output}`);
      // The servers' state file is written before HAProxy's first reload; until then HAProxy says it has none.
      const complaints = output.split('\n').filter((l) => /WARNING|ALERT/.test(l) && !/Can't open global server state file '\/var\/lib\/haproxy\/server-state'/.test(l));
      assert.deepEqual(complaints, [], `${name}: haproxy -c complained:\n${output}`);
    }
  });
});

test("haproxy -c rejects the classic guide's `mode http` frontend on a tcp backend (why we use tcp)", { skip: noHaproxy || noOpenssl }, () => {
  inTempDir((dir) => {
    const pem = selfSignedPem(openssl as string, dir);
    const guideVariant = render(standalone({ haproxy: { tls: { pem } } }), 'observer').replace(
      /(frontend https_front\n.*\n)    mode tcp\n/,
      '$1    mode http\n    option forwardfor\n',
    );
    assert.match(guideVariant, /mode http\n    option forwardfor/);
    const { status, output } = haproxyCheck(guideVariant, dir);
    assert.notEqual(status, 0);
    assert.match(output, /incompatible tcp proxy 'backend'/);
  });
});

// ---- the stats page's basic authentication ----

/** Every kind of character a password may hold that haproxy.cfg's syntax gives a meaning to. */
const HOSTILE_STATS_PASSWORD = `a b\t#c"d'e\\f$HOME:g;ü''\\`;

const withStatsAuth = (extra: Partial<Topology['haproxy']> = {}) =>
  loopbackLab({ haproxy: { bind: 'host', stats_auth: { username: 'haflow', password: { env: 'HAFLOW_TEST_STATS_PASSWORD' } }, ...extra } as never });

test('the stats page asks for the user and password of haproxy.stats_auth, quoted as one word', () => {
  const cfg = renderHaproxyCfg(withStatsAuth(), hostNamed(withStatsAuth(), 'observer'), "it's secret");
  assert.deepEqual(section(cfg, 'listen stats'), ['mode http', 'bind 127.0.0.11:7000', 'stats enable', 'stats uri /', "stats auth 'haflow:it'\\''s secret'"]);
});

test("haproxy.cfg with the stats page's password is root's alone and its diff hides the password", () => {
  process.env.HAFLOW_TEST_STATS_PASSWORD = HOSTILE_STATS_PASSWORD;
  const t = withStatsAuth();
  const [file] = haproxyComponent.files(t, hostNamed(t, 'observer'), secretValue);
  assert.equal(file.mode, 0o600);
  assert.equal(file.secret, 'passwords');
  assert.ok(file.content.includes('stats auth '));
  const shown = redactSecrets(file.content);
  assert.ok(!shown.includes('#c"d'), shown);
  assert.match(shown, /^ {4}stats auth <redacted>$/m);
});

/** The named sections of a haproxy.cfg, their lines as written (section() normalises blanks, which a password may hold). */
function rawSections(cfg: string, headers: string[]): string[] {
  const lines: string[] = [];
  let keep = false;
  for (const line of cfg.split('\n')) {
    if (/^\S/.test(line) && !line.startsWith('#')) keep = headers.includes(line.trim());
    if (keep && line.trim() !== '') lines.push(line);
  }
  return lines;
}

/** Starts haproxy with `cfg` (in the foreground, no daemon), waits until it listens on address:port, and returns a stop function. */
async function runHaproxy(cfg: string, dir: string, address: string, port: number): Promise<() => Promise<void>> {
  const file = join(dir, 'running.cfg');
  writeFileSync(file, cfg);
  const child = spawn(haproxyBin as string, ['-db', '-f', file], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
  };
  for (let i = 0; i < 100; i++) {
    if (await fetch(`http://${address}:${port}/`).then(() => true, () => false)) return stop;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await stop();
  assert.fail(`haproxy did not listen on ${address}:${port}`);
}

async function freeLoopbackPort(address: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test("a real haproxy with the rendered stats section: 401 without the password or with a wrong one, 200 with it, and haflow's reader sends it", { skip: noHaproxy }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'haflow-haproxy-stats-'));
  let stop: (() => Promise<void>) | undefined;
  try {
    process.env.HAFLOW_TEST_STATS_PASSWORD = HOSTILE_STATS_PASSWORD;
    const address = '127.0.0.11';
    const port = await freeLoopbackPort(address).catch(() => undefined);
    const at = port ? address : '127.0.0.1';
    const t = withStatsAuth({ stats_port: port ?? (await freeLoopbackPort('127.0.0.1')) });
    const observer = { ...hostNamed(t, 'observer'), address: at };
    const rendered = renderHaproxyCfg(t, hostNamed(t, 'observer'), HOSTILE_STATS_PASSWORD).replaceAll(`bind 127.0.0.11:`, `bind ${at}:`);
    // The rendered defaults and stats page alone: the other sections check servers that are not here.
    const cfg = ['global', '    maxconn 100', ...rawSections(rendered, ['defaults', 'listen stats']), ''].join('\n');
    const check = haproxyCheck(cfg, dir);
    assert.equal(check.status, 0, check.output);
    stop = await runHaproxy(cfg, dir, at, t.haproxy.stats_port);
    const url = `http://${at}:${t.haproxy.stats_port}/;csv`;
    const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
    assert.equal((await fetch(url)).status, 401, 'no credentials');
    assert.equal((await fetch(url, { headers: basic('haflow', 'wrong') })).status, 401, 'a wrong password');
    assert.equal((await fetch(url, { headers: basic('haflow', HOSTILE_STATS_PASSWORD) })).status, 200, 'the password as written');
    assert.deepEqual(await haproxyServers(t, observer), [], "haflow's reader is let in (the page lists no server here)");
    process.env.HAFLOW_TEST_STATS_PASSWORD = 'not-the-password';
    await assert.rejects(haproxyServers(t, observer), /answered HTTP 401: it does not take the user and password of haproxy\.stats_auth/);
  } finally {
    await stop?.();
    rmSync(dir, { recursive: true, force: true });
  }
});
