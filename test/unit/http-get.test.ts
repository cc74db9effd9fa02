// httpGet, the GET every probe and health check uses: its answer, its errors, and that at its time
// limit nothing of the request is left running. A host that drops packets (a powered-off machine)
// is stood in for by a listener whose accept queue is full: the kernel drops further SYNs, so a
// connection attempt hangs exactly as it would towards a dead host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { httpGet } from '../../activities/shared/step';

const connectingSockets = () => process.getActiveResourcesInfo().filter((r) => r === 'ConnectWrap').length;

async function listening(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

test('an answer comes back with its status and body', async (t) => {
  const server = createHttpServer((_, response) => response.writeHead(503).end('{"state":"stopped"}'));
  t.after(() => server.close());
  const port = await listening(server);
  assert.deepEqual(await httpGet(`http://127.0.0.1:${port}/health`), { status: 503, body: '{"state":"stopped"}' });
});

test('a closed port rejects with ECONNREFUSED', async () => {
  const server = createServer();
  const port = await listening(server);
  await new Promise((resolve) => server.close(resolve));
  await assert.rejects(httpGet(`http://127.0.0.1:${port}/`), (err: Error & { code?: string }) => err.code === 'ECONNREFUSED');
});

test('a server that accepts and never answers: TimeoutError at the limit, and its socket is closed', async (t) => {
  const held = new Set<Socket>();
  let closed = 0;
  const server = createServer((socket) => {
    held.add(socket);
    socket.resume(); // read, so that the client's end of the connection is seen
    socket.on('close', () => closed++);
  });
  t.after(() => {
    for (const socket of held) socket.destroy();
    server.close();
  });
  const port = await listening(server);
  const started = Date.now();
  await assert.rejects(httpGet(`http://127.0.0.1:${port}/`, 300), (err: Error) => err.name === 'TimeoutError' && err.message.includes('within 300 ms'));
  assert.ok(Date.now() - started < 2000);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(closed, 1, 'the connection was closed at the time limit');
});

test('a host that drops packets: TimeoutError at the limit, and no connection attempt is left running', async (t) => {
  // A listener that never accepts, with a backlog of one: the first connection fills its queue.
  let listener: ChildProcess | undefined;
  const fillers: Socket[] = [];
  t.after(() => {
    for (const socket of fillers) socket.destroy();
    listener?.kill('SIGKILL');
  });
  listener = spawn('python3', ['-c', "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)"]);
  const port = await new Promise<number>((resolve) => listener!.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  for (let i = 0; i < 2; i++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    fillers.push(socket);
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  const before = connectingSockets();
  assert.ok(before >= 1, 'the stand-in drops SYNs: a filler connection still hangs');

  await assert.rejects(httpGet(`http://127.0.0.1:${port}/`, 300), (err: Error) => err.name === 'TimeoutError');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(connectingSockets(), before, 'the hanging connection attempt was abandoned with the request');
});
