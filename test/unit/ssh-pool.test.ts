// Connections kept between steps (withHostSsh), against a real SSH server of this test (ssh2's
// Server on loopback): the steps of one host share one connection; a failed step's connection
// is not kept; a connection the host closed, or one that silently stopped answering, is replaced
// without running the command twice; HAFLOW_SSH_IDLE_SECONDS 0 turns reuse off.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, utils, type Connection } from 'ssh2';
import { closeIdleSshSessions, sshIdleSeconds, withHostSsh, type SshTarget } from '../../activities/shared/ssh';

let dir: string;
let server: Server;
let port: number;
/** Every connection the server accepted, and the commands each ran. */
const connections: { client: Connection; commands: string[]; mute: boolean }[] = [];

function target(): SshTarget {
  return { name: 'pooled', address: '127.0.0.1', port, user: 'root', privateKey: join(dir, 'id_ecdsa'), knownHosts: join(dir, 'known_hosts'), sudo: true, connectTimeoutMs: 5_000, commandTimeoutMs: 5_000 };
}

const commandsRun = () => connections.flatMap((c) => c.commands);

/** The command inside the line a host is given (activities/shared/ssh.ts, hostCommandLine). */
function commandIn(line: string): string {
  const wrapped = /exec timeout -k \S+ \S+ "\$0" -c (.*)$/s.exec(line)?.[1];
  if (wrapped === undefined) return line;
  // Shell-quoted as one word: bare, or '…' with '\'' for each quote inside.
  return wrapped.startsWith("'") ? wrapped.slice(1, -1).replace(/'\\''/g, "'") : wrapped;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'haflow-ssh-pool-'));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'sec1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  writeFileSync(join(dir, 'id_ecdsa'), privateKey, { mode: 0o600 });
  const hostKey = utils.generateKeyPairSync('ed25519');
  server = new Server({ hostKeys: [hostKey.private] }, (client) => {
    const connection = { client, commands: [] as string[], mute: false };
    connections.push(connection);
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => ctx.accept());
    client.on('ready', () =>
      client.on('session', (accept) => {
        // A host that died without a word: the request to open a session is never answered.
        if (connection.mute) return;
        accept().once('exec', (acceptExec, _reject, info) => {
          const command = commandIn(info.command);
          connection.commands.push(command);
          const stream = acceptExec();
          stream.write(`ran ${command}\n`);
          stream.exit(0);
          stream.end();
        });
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
  writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostKey.public.split(' ').slice(0, 2).join(' ')}\n`);
});

afterEach(() => {
  closeIdleSshSessions();
  delete process.env.HAFLOW_SSH_IDLE_SECONDS;
  for (const c of connections.splice(0)) c.client.end();
});

after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the steps of one host share one connection, kept open between them', async () => {
  assert.equal(await withHostSsh(target(), (ssh) => ssh.check('first')), 'ran first\n');
  assert.equal(await withHostSsh(target(), (ssh) => ssh.check('second')), 'ran second\n');
  assert.equal(connections.length, 1);
  assert.deepEqual(connections[0].commands, ['first', 'second']);
});

test('HAFLOW_SSH_IDLE_SECONDS=0 closes each connection at the end of its step', async () => {
  process.env.HAFLOW_SSH_IDLE_SECONDS = '0';
  await withHostSsh(target(), (ssh) => ssh.check('first'));
  await withHostSsh(target(), (ssh) => ssh.check('second'));
  assert.equal(connections.length, 2);
});

test('a step that failed does not leave its connection for the next one', async () => {
  await assert.rejects(
    withHostSsh(target(), async (ssh) => {
      await ssh.check('first');
      throw new Error('the step failed');
    }),
    /the step failed/,
  );
  await withHostSsh(target(), (ssh) => ssh.check('second'));
  assert.equal(connections.length, 2);
});

test('a connection the host closed while idle is not reused', async () => {
  await withHostSsh(target(), (ssh) => ssh.check('first'));
  connections[0].client.end();
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(await withHostSsh(target(), (ssh) => ssh.check('second')), 'ran second\n');
  assert.equal(connections.length, 2);
  assert.deepEqual(commandsRun(), ['first', 'second']);
});

test('a kept connection that silently stopped answering is replaced, and the command runs once', async () => {
  await withHostSsh(target(), (ssh) => ssh.check('first'));
  connections[0].mute = true;
  const started = Date.now();
  assert.equal(await withHostSsh(target(), (ssh) => ssh.check('second')), 'ran second\n');
  const waited = Date.now() - started;
  assert.equal(connections.length, 2);
  assert.deepEqual(connections[0].commands, ['first']);
  assert.deepEqual(connections[1].commands, ['second']);
  assert.ok(waited >= 1_900 && waited < 5_000, `replaced after the 2 s allowed to a kept connection, not the connect timeout (took ${waited} ms)`);
});

test('the idle time is read from the environment, and a bad value is named', () => {
  assert.equal(sshIdleSeconds({}), 30);
  assert.equal(sshIdleSeconds({ HAFLOW_SSH_IDLE_SECONDS: '5' }), 5);
  assert.equal(sshIdleSeconds({ HAFLOW_SSH_IDLE_SECONDS: '0' }), 0);
  assert.throws(() => sshIdleSeconds({ HAFLOW_SSH_IDLE_SECONDS: 'soon' }), /HAFLOW_SSH_IDLE_SECONDS must be a number of seconds, 0 or more .* not "soon"/);
});
