// SshSession.connect against hosts that misbehave, on loopback listeners of this test: a host
// that accepts TCP and never speaks SSH must fail the connect with HostUnreachable (retryable),
// heartbeat while it waits, and never crash the process (ssh2 emits a second error after the
// handshake timeout, which once had no listener and took the whole worker down).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { SshSession, type SshTarget } from '../../activities/shared/ssh';

/** The activity's expected failures are the tests' business, not the log's. */
const quiet = { logger: new DefaultLogger('ERROR') };
let dir: string;
let silent: Server;
const sockets = new Set<Socket>();
const uncaught: Error[] = [];
const onUncaught = (err: Error) => uncaught.push(err);

function target(port: number, connectTimeoutMs: number): SshTarget {
  return {
    name: 'mute',
    address: '127.0.0.1',
    port,
    user: 'root',
    privateKey: join(dir, 'id_ecdsa'),
    knownHosts: join(dir, 'known_hosts'),
    sudo: true,
    connectTimeoutMs,
    commandTimeoutMs: 5_000,
  };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'haflow-ssh-'));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'sec1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  writeFileSync(join(dir, 'id_ecdsa'), privateKey, { mode: 0o600 });
  writeFileSync(join(dir, 'known_hosts'), '');
  // Accepts, then says nothing: no SSH banner, ever.
  silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  process.on('uncaughtException', onUncaught);
});

after(() => {
  process.off('uncaughtException', onUncaught);
  for (const socket of sockets) socket.destroy();
  silent.close();
  rmSync(dir, { recursive: true, force: true });
});

const portOf = (server: Server) => (server.address() as { port: number }).port;

test('a host that accepts TCP but never speaks SSH fails the connect as unreachable, and nothing else happens after', async () => {
  await assert.rejects(SshSession.connect(target(portOf(silent), 500)), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, 'HostUnreachable');
    assert.equal(err.nonRetryable, false);
    assert.match(err.message, /cannot reach root@mute \(127\.0\.0\.1:\d+\)/);
    return true;
  });
  // The late errors ssh2 emits for the same connection come within a second of the timeout.
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.deepEqual(uncaught.map((e) => e.message), [], 'no error escaped to the process');
});

test('many such connects in a row leave the process standing (a worker would retry each step three times)', async () => {
  for (let i = 0; i < 5; i++) await assert.rejects(SshSession.connect(target(portOf(silent), 200)), /cannot reach/);
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  assert.deepEqual(uncaught.map((e) => e.message), []);
});

test('a slow connect heartbeats, so a live worker is not mistaken for a dead one', async () => {
  const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 60_000, heartbeatTimeoutMs: 10_000 }, quiet);
  let beats = 0;
  env.on('heartbeat', () => (beats += 1));
  await assert.rejects(env.run(() => SshSession.connect(target(portOf(silent), 3_500))), /cannot reach/);
  assert.ok(beats >= 2, `heartbeats while connecting: ${beats}`);
});

test('a refused connection is unreachable too, with the remedy', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = portOf(closed);
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  await assert.rejects(SshSession.connect(target(port, 2_000)), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.type, 'HostUnreachable');
    assert.match(String((err.details?.[0] as { remedy: string }).remedy), /sshd listens on port/);
    return true;
  });
});
