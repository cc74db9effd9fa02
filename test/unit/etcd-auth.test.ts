// etcd.auth against a real etcd on loopback, with Debian's etcdctl: the script ensureEtcdAuth runs
// on a member, run here with sh as it runs there. Check mode changes nothing; the first run
// creates root and Patroni's user and turns authentication on; anonymous clients are refused,
// Patroni's user reads and writes its namespace only; a second run changes nothing; a new password
// is set; a wrong root password is refused with its own exit code. The passwords carry quotes,
// $ and backticks, and reach etcdctl through stdin only.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { etcdAuthScript } from '../../activities/etcd/auth';
import { freePort } from '../support/worker-process';
import { requires } from '../support/requires';
import { findExecutable, standalone } from '../support/topologies';

const missing = requires(!findExecutable('etcd') || !findExecutable('etcdctl') ? 'etcd and etcdctl (Debian: etcd-server, etcd-client)' : false);

let dir: string;
let etcd: ChildProcess | undefined;
let endpoint: string;

before(async () => {
  if (missing) return;
  dir = mkdtempSync(join(tmpdir(), 'haflow-etcd-auth-'));
  const [client, peer] = [await freePort(), await freePort()];
  endpoint = `http://127.0.0.1:${client}`;
  etcd = spawn('etcd', [
    '--data-dir', join(dir, 'data'),
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `default=http://127.0.0.1:${peer}`,
  ], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (etcdctl(['endpoint', 'health']).status === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('etcd did not come up');
});

after(() => {
  etcd?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function etcdctl(args: string[], user?: string) {
  return spawnSync('etcdctl', [`--endpoints=${endpoint}`, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, ETCDCTL_API: '3', ...(user ? { ETCDCTL_USER: user } : {}) } });
}

const topology = standalone({ etcd: { auth: { root_password: { env: 'X_ROOT' }, username: 'patroni', password: { env: 'X_USER' } } } as never });
// Quotes, $ and backticks: everything but blanks, which ensureEtcdAuth refuses (etcdctl reads up to the first).
const ROOT = `r'oot"pw"$HOME\`id\``;

/** What a first run does, in its order. */
const FIRST_RUN = [
  'create etcd user root',
  'grant etcd user root the root role',
  'create etcd role patroni',
  'let role patroni read and write /service/ (prefix)',
  'create etcd user patroni',
  'grant etcd user patroni the role patroni',
  'turn etcd authentication on',
];

function apply(passwords: { root: string; user: string }, check = false, at = endpoint) {
  const run = spawnSync('sh', ['-s'], { input: etcdAuthScript(topology, at, passwords, check), encoding: 'utf8', timeout: 60_000 });
  return { code: run.status, actions: run.stdout.split('\n').filter((l) => l.startsWith('action: ')).map((l) => l.slice(8)), ok: run.stdout.includes('ok'), stderr: run.stderr };
}

test('etcd.auth: check mode, first run, idempotence, a new password, a refused root password', { skip: missing }, () => {
  const user = { root: ROOT, user: "pat$(id)'pw" };

  const checked = apply(user, true);
  assert.equal(checked.code, 0, checked.stderr);
  assert.ok(checked.actions.every((a) => a.startsWith('would ')) && checked.actions.some((a) => /turn etcd authentication on/.test(a)), checked.actions.join('\n'));
  assert.equal(etcdctl(['user', 'list']).status, 0, 'check mode changed nothing: anonymous requests still work');

  const first = apply(user);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(first.actions, FIRST_RUN);
  assert.notEqual(etcdctl(['get', '/service/', '--prefix']).status, 0, 'an anonymous client is refused');
  assert.equal(etcdctl(['user', 'list'], `root:${ROOT}`).status, 0, 'root logs in with its password');
  assert.equal(etcdctl(['put', '/service/pgha/leader', 'node1'], `patroni:${user.user}`).status, 0, 'Patroni writes its namespace');
  assert.equal(etcdctl(['get', '/service/pgha/leader', '--print-value-only'], `patroni:${user.user}`).stdout.trim(), 'node1');
  assert.notEqual(etcdctl(['put', '/elsewhere', 'x'], `patroni:${user.user}`).status, 0, 'and nothing else');

  const second = apply(user);
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual(second.actions, [], 'a second run changes nothing');

  const rotated = apply({ ...user, user: 'new;pw' });
  assert.deepEqual(rotated.actions, ['set the password of etcd user patroni']);
  assert.equal(etcdctl(['get', '/service/', '--prefix', '--keys-only'], 'patroni:new;pw').status, 0);
  assert.notEqual(etcdctl(['get', '/service/', '--prefix', '--keys-only'], `patroni:${user.user}`).status, 0, 'the old password no longer works');

  const refused = apply({ root: 'not-the-root-password', user: 'new;pw' });
  assert.equal(refused.code, 3, 'a wrong root password is its own exit code (the step blocks with the remedy)');
  assert.match(refused.stderr, /authentication failed/);
});

test('etcd.auth where etcd does not answer (check mode on bare machines, or etcd down): bounded, and check mode lists every change', { skip: missing }, async () => {
  // etcdctl's user commands would wait forever here; the script bounds them.
  const closed = `http://127.0.0.1:${await freePort()}`;
  const started = Date.now();
  const checked = apply({ root: 'r', user: 'u' }, true, closed);
  assert.equal(checked.code, 0, checked.stderr);
  assert.deepEqual(checked.actions, FIRST_RUN.map((a) => `would ${a}`), 'check mode lists what a first run would do');
  const applied = apply({ root: 'r', user: 'u' }, false, closed);
  assert.equal(applied.code, 4);
  assert.match(applied.stderr, new RegExp(`etcd does not answer at ${closed}`));
  assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
});
