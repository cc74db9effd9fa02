// HAProxy's runtime API as a coordinated switchover drives it: the command lines run through a
// real shell and socat against a real haproxy on a temporary socket (its servers point at closed
// ports, so its checks mark them DOWN), the answers parsed, and the rule for when coordination
// does not fit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  parseServersState,
  disableHealthCommand,
  enableHealthCommand,
  runtimeCommandLine,
  runtimeErrors,
  setHealthCommand,
  showServersStateCommand,
  shutdownSessionsCommand,
  type ServerState,
} from '../../activities/haproxy/runtime';
import { coordinationProblem } from '../../activities/cluster/coordinated-switchover';
import { switchoverPhases } from '../../runbooks/report';
import { findExecutable, SBIN_DIRS } from '../support/topologies';
import { requires } from '../support/requires';

const haproxyBin = findExecutable('haproxy', SBIN_DIRS);
const socat = findExecutable('socat');
const missing = requires(haproxyBin && socat ? false : 'haproxy and socat are not both installed (Debian packages haproxy, socat)');

test('a server name that is not a plain word never reaches the socket', () => {
  assert.throws(() => setHealthCommand('postgres', 'pg1; disable server x/y', 'up'), /cannot be named/);
  assert.throws(() => shutdownSessionsCommand('postgres', 'pg 1'), /cannot be named/);
  assert.equal(setHealthCommand('postgres', 'node-1.dc', 'down'), 'set server postgres/node-1.dc health down');
});

test('the command line quotes the commands and the socket for the remote shell', () => {
  const line = runtimeCommandLine(['set server postgres/a health up', "show servers state postgres"], "/run/x'y.sock");
  assert.equal(line, `printf '%s\\n' 'set server postgres/a health up; show servers state postgres' | socat -t 2 stdio 'UNIX-CONNECT:/run/x'\\''y.sock'`);
});

test('an answer that is not `show servers state` is an error, not an empty list', () => {
  assert.throws(() => parseServersState('Unknown command.\n'), /not an answer to `show servers state`: Unknown command/);
  assert.deepEqual(runtimeErrors('\n\n'), []);
  assert.deepEqual(runtimeErrors('\nNo such server.\n\n'), ['No such server.']);
});

const state = (server: string, operational: ServerState['operational'], adminState = 0): ServerState => ({ backend: 'postgres', server, operational, adminState, checked: true });

test('coordination fits only when the leader is the one server UP and both are in service', () => {
  assert.equal(coordinationProblem('obs', [state('pg1', 'up'), state('pg2', 'down'), state('pg3', 'down')], 'pg1', 'pg2'), undefined);
  assert.match(coordinationProblem('obs', [state('pg1', 'up'), state('pg2', 'up')], 'pg1', 'pg2')!, /sends writes to pg1 and pg2, not to the leader pg1 alone/);
  assert.match(coordinationProblem('obs', [state('pg1', 'down'), state('pg2', 'down')], 'pg1', 'pg2')!, /sends writes to no server/);
  assert.match(coordinationProblem('obs', [state('pg1', 'up'), state('pg2', 'down', 1)], 'pg1', 'pg2')!, /pg2 is in maintenance or drain on HAProxy obs \(admin state 1\)/);
  assert.match(coordinationProblem('obs', [state('pg1', 'up')], 'pg1', 'pg9')!, /HAProxy on obs has no server pg9 in its postgres section/);
});

test("a switchover's phases: its own timing when coordinated, the watcher's otherwise", () => {
  const t0 = 1_000_000;
  const coordinated = switchoverPhases({ coordinated: true, requestedAt: t0, promotedAt: t0 + 1240, routedAt: t0 + 1290 }, t0 + 5, t0 + 1500, 4.2);
  assert.deepEqual([coordinated.coordinated, coordinated.patroniSeconds, coordinated.routingSeconds], [true, 1.2, 0.1]);
  const plain = switchoverPhases({ requestedAt: t0, doneAt: t0 + 3000 }, t0, t0 + 1500, 4.2);
  assert.deepEqual([plain.coordinated, plain.patroniSeconds, plain.routingSeconds], [false, 1.5, 4.2]);
  assert.match(plain.timedBy, /watcher/);
  // Fell back before anything started: the reason travels with the phases.
  assert.equal(switchoverPhases({ coordinated: false, notCoordinated: 'HAProxy on observer sends writes to node1 and node2', requestedAt: t0 }, t0, t0 + 1500, 4.2).notCoordinated, 'HAProxy on observer sends writes to node1 and node2');
  // Told nothing (the candidate never answered /primary in time): the watcher's figures.
  assert.equal(switchoverPhases({ coordinated: false, requestedAt: t0 }, t0, undefined, undefined).patroniSeconds, undefined);
});

test('against a real haproxy: read the states, force health, cut sessions, and a refusal', { skip: missing }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'haflow-runtime-'));
  const socket = join(dir, 'admin.sock');
  // Servers on closed loopback ports: their checks fail, so they go DOWN on their own.
  writeFileSync(
    join(dir, 'haproxy.cfg'),
    [
      'global',
      `    stats socket ${socket} mode 600 level admin`,
      'defaults',
      '    mode tcp',
      '    timeout client 5s',
      '    timeout connect 1s',
      '    timeout server 5s',
      // A backend needs no port of its own to listen on.
      'backend postgres',
      '    option httpchk',
      // Checked every 200 ms while down or going down, every 2 s while up: a server forced UP stays
      // UP for the two reads below even on a busy machine, then its checks take it DOWN again.
      '    default-server inter 2s fastinter 200ms downinter 200ms fall 1 rise 60',
      '    server pg1 127.0.0.1:9 check port 9',
      '    server pg2 127.0.0.1:9 check port 9',
      '',
    ].join('\n'),
  );
  const haproxy: ChildProcess = spawn(haproxyBin!, ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: 'ignore' });
  t.after(() => {
    haproxy.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const run = (commands: string[]) => execFileSync('sh', ['-c', runtimeCommandLine(commands, socket)], { encoding: 'utf8' });
  const read = () => parseServersState(run([showServersStateCommand('postgres')]));
  const deadline = Date.now() + 10_000;
  let servers: ServerState[] = [];
  while (Date.now() < deadline) {
    servers = await Promise.resolve().then(read).catch(() => []);
    if (servers.length === 2 && servers.every((s) => s.operational === 'down')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(servers.map((s) => [s.server, s.operational, s.adminState]), [['pg1', 'down', 0], ['pg2', 'down', 0]]);

  // What a coordinated switchover sends: the candidate UP at once (its checks would need 60 good ones).
  assert.deepEqual(runtimeErrors(run([setHealthCommand('postgres', 'pg2', 'up'), shutdownSessionsCommand('postgres', 'pg1')])), []);
  const forced = read();
  assert.deepEqual(forced.map((s) => [s.server, s.operational]), [['pg1', 'down'], ['pg2', 'up']]);
  assert.equal(coordinationProblem('local', forced, 'pg2', 'pg1'), undefined);
  // The checks stay the authority: pg2's port is closed, so they take it DOWN again.
  const back = Date.now() + 10_000;
  while (read().find((s) => s.server === 'pg2')?.operational !== 'down' && Date.now() < back) await new Promise((r) => setTimeout(r, 100));
  assert.equal(read().find((s) => s.server === 'pg2')?.operational, 'down');
  // A server HAProxy does not know is refused in words, which runtimeErrors returns.
  assert.deepEqual(runtimeErrors(run([setHealthCommand('postgres', 'pg9', 'up')])), ['No such server.']);
  // The hold of a move to TLS: a server whose check is off reads so, and checked again after enable.
  assert.equal(read().find((s) => s.server === 'pg1')?.checked, true);
  assert.deepEqual(runtimeErrors(run([disableHealthCommand('postgres', 'pg1')])), []);
  assert.equal(read().find((s) => s.server === 'pg1')?.checked, false);
  assert.deepEqual(runtimeErrors(run([enableHealthCommand('postgres', 'pg1')])), []);
  assert.equal(read().find((s) => s.server === 'pg1')?.checked, true);
});
