// Real `haflow worker` processes, as an operator runs them, for tests that kill one mid-run.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startDevServer } from './temporal';

const root = join(__dirname, '../..');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface WorkerProcesses {
  start(): Promise<ChildProcess>;
  kill(child: ChildProcess): Promise<void>;
  killAll(): Promise<void>;
}

/** Starts `haflow worker` processes against the server at `address()`; killAll() in the test file's after(). */
export function workerProcesses(address: () => string): WorkerProcesses {
  const workers = new Set<ChildProcess>();
  const kill = async (child: ChildProcess) => {
    child.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) await new Promise((resolve) => child.once('exit', resolve));
  };
  return {
    async start() {
      const child = spawn(process.execPath, [join(root, 'bin/haflow.js'), 'worker', '--grace', '1'], {
        env: { ...process.env, TEMPORAL_ADDRESS: address(), TEMPORAL_NAMESPACE: 'default' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      workers.add(child);
      child.on('exit', () => workers.delete(child));
      await new Promise<void>((resolve, reject) => {
        let output = '';
        child.stderr!.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          // For a failure's post-mortem: every worker's log, each line stamped with its pid and the time it arrived.
          if (process.env.HAFLOW_TEST_WORKER_LOG) {
            const stamp = `${new Date().toISOString()} [${child.pid}] `;
            appendFileSync(process.env.HAFLOW_TEST_WORKER_LOG, chunk.toString().replace(/^(?=.)/gm, stamp));
          }
          if (output.includes('haflow worker polling')) resolve();
        });
        child.on('exit', (code) => reject(new Error(`worker exited with ${code} before polling:\n${output}`)));
      });
      return child;
    },
    kill,
    async killAll() {
      await Promise.all([...workers].map(kill));
    },
  };
}

/**
 * For one test file: a dev server on a port of its own (so workers started later find it) and
 * `haflow worker` processes against it; `env()` is the server, and everything stops after the file.
 */
export function useServerWithWorkerProcesses(): { env: () => TestWorkflowEnvironment; workers: WorkerProcesses } {
  let port = 0;
  let env: TestWorkflowEnvironment | undefined;
  const workers = workerProcesses(() => `127.0.0.1:${port}`);
  before(async () => {
    port = await freePort();
    env = await startDevServer({ port });
  });
  after(async () => {
    await workers.killAll();
    await env?.teardown();
  });
  return { env: () => env!, workers };
}
