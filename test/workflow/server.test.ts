// `haflow server` as an operator runs it: the embedded Temporal dev server with its state in a
// SQLite file, finished runs kept for weeks, state kept across a restart, a clean stop.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import { startInstall } from '../../client/api';
import { defaultServerDbFile } from '../../client/data-dir';
import { loadTopology } from '../../topology';

const root = join(__dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'haflow-server-'));
const started = new Set<ChildProcessWithoutNullStreams>();

after(() => {
  // Only if a test failed half-way: the processes this file started, by PID.
  for (const child of started) child.kill('SIGKILL');
  for (const pid of processesUsing(dir)) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Ports nobody listens on now (the OS hands out a fresh one for each listen on port 0). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** PIDs of the processes whose command line mentions `path` (the server's SQLite file lives under it). */
function processesUsing(path: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(path);
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

interface RunningServer {
  child: ChildProcessWithoutNullStreams;
  /** The temporal process's PID, as `haflow server` reports it. */
  temporalPid: number;
  output: () => string;
  exit: Promise<number | null>;
}

/** Starts `haflow server` and waits for its ready line; resolves with the exit instead if it ends first. */
function haflowServer(args: string[], env: Record<string, string> = {}): Promise<RunningServer | { exitCode: number | null; output: string }> {
  const child = spawn(process.execPath, [join(root, 'bin/haflow.js'), 'server', ...args], { cwd: root, env: { ...process.env, ...env } });
  started.add(child);
  let output = '';
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => {
    started.delete(child);
    resolve(code);
  }));
  return new Promise((resolve) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const ready = /Temporal dev server for haflow on \S+ \(pid (\d+)\)[^]*Ctrl-C or SIGTERM stops it/.exec(output);
      if (ready) resolve({ child, temporalPid: Number(ready[1]), output: () => output, exit });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exit.then((exitCode) => resolve({ exitCode, output }));
  });
}

function assertRunning(server: Awaited<ReturnType<typeof haflowServer>>): asserts server is RunningServer {
  assert.ok('child' in server, `haflow server did not start:\n${'output' in server ? String(server.output) : ''}`);
}

async function stop(server: RunningServer, signal: NodeJS.Signals): Promise<void> {
  server.child.kill(signal);
  assert.equal(await server.exit, 0, server.output());
  assert.match(server.output(), new RegExp(`${signal}: Temporal dev server stopped; its state stays in `));
  assert.throws(() => process.kill(server.temporalPid, 0), { code: 'ESRCH' }, 'the temporal process is gone');
  assert.deepEqual(processesUsing(dir), [], 'no process left that uses the state directory');
}

test('the state file defaults to the XDG data directory', () => {
  assert.equal(defaultServerDbFile({ XDG_DATA_HOME: '/data' }), '/data/haflow/temporal.sqlite');
  assert.equal(defaultServerDbFile({ HOME: '/home/op' }), '/home/op/.local/share/haflow/temporal.sqlite');
});

test('a server that does not start is reported with its own words, and exit 1', async () => {
  const broken = join(dir, 'broken-temporal');
  writeFileSync(broken, '#!/bin/sh\necho "unable to open database file: permission denied" >&2\nexit 3\n', { mode: 0o755 });
  const [port, uiPort] = await freePorts(2);
  const run = await haflowServer(['--db-file', join(dir, 'broken.sqlite'), '--port', String(port), '--ui-port', String(uiPort)], {
    HAFLOW_TEMPORAL_CLI: broken,
  });
  assert.ok('exitCode' in run);
  assert.equal(run.exitCode, 1);
  assert.match(run.output, new RegExp(`the Temporal dev server \\(state .*broken\\.sqlite, port ${port}, UI port ${uiPort}\\) did not start: exited with code 3`));
  assert.match(run.output, /unable to open database file: permission denied/);
});

test('haflow server answers, keeps finished runs 30 days, keeps its state across a restart, and stops cleanly', async () => {
  const dbFile = join(dir, 'state', 'temporal.sqlite');
  const [port, uiPort] = await freePorts(2);
  const address = `localhost:${port}`;
  const args = ['--db-file', dbFile, '--port', String(port), '--ui-port', String(uiPort)];

  const first = await haflowServer(args);
  assertRunning(first);
  assert.match(first.output(), new RegExp(`web UI: +http://localhost:${uiPort}`));
  assert.match(first.output(), new RegExp(`export TEMPORAL_ADDRESS=${address}`));
  assert.equal((await fetch(`http://localhost:${uiPort}/`)).status, 200, 'the web UI answers');

  let connection = await Connection.connect({ address });
  let client = new Client({ connection });
  const namespace = await client.workflowService.describeNamespace({ namespace: 'default' });
  assert.equal(tsToMs(namespace.config!.workflowExecutionRetentionTtl), 30 * 24 * 3600 * 1000, 'finished runs are kept 720 h');
  // An install that waits for a worker (none polls this queue): the kind of run that must survive a restart.
  const topology = { ...loadTopology(join(root, 'lab/topologies/standalone.yaml')).topology, cluster: 'kept' };
  const install = await startInstall(client, topology, { taskQueue: 'nobody-polls' });
  await connection.close();

  const taken = await haflowServer(['--db-file', join(dir, 'other.sqlite'), '--port', String(port), '--ui-port', String(uiPort + 1)]);
  assert.ok('exitCode' in taken, 'a second server on the same port does not start');
  assert.equal(taken.exitCode, 1);
  assert.match(taken.output, new RegExp(`the gRPC port ${port} is already in use on localhost \\(another Temporal server\\?\\)`));

  await stop(first, 'SIGTERM');

  const second = await haflowServer(args);
  assertRunning(second);
  connection = await Connection.connect({ address });
  client = new Client({ connection });
  const kept = await client.workflow.getHandle('haflow-kept').describe();
  assert.equal(kept.runId, install.firstExecutionRunId, 'the same run, read back from the SQLite file');
  assert.equal(kept.type, 'installWorkflow');
  assert.equal(kept.status.name, 'RUNNING');
  await connection.close();
  await stop(second, 'SIGINT');
});
