// A real Temporal dev server for workflow tests, started from the installed CLI.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  DefaultLogger,
  makeTelemetryFilterString,
  Runtime,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { portOr, startEmbeddedServer } from '../../client/dev-server';

let runtimeInstalled = false;

/** Keeps test output readable: the worker's own logs only when something is wrong. */
function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = process.env.HAFLOW_TEST_LOG ? 'INFO' : 'ERROR';
  Runtime.install({
    logger: new DefaultLogger(level),
    // Replay tests provoke nondeterminism on purpose; core would log it as a warning.
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: level, other: level }) } },
  });
}

export interface DevServerOptions {
  dbFilename?: string;
  /** A fixed port, so a restarted server is found where the workers look for it. */
  port?: number;
  /** Namespaces to create besides `default`. */
  namespaces?: string[];
}

/**
 * A dev server of the test file's own, in memory unless `dbFilename` is given; `teardown()` stops it.
 * Started by haflow's own launcher rather than the SDK's: that one gives the first connection
 * 10 s, which a loaded two-core machine has exceeded; this one waits until the server answers.
 */
export async function startDevServer(options: DevServerOptions = {}): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const server = await startEmbeddedServer({
    dbFile: options.dbFilename,
    port: options.port ?? (await portOr(0)),
    uiPort: false,
    namespaces: options.namespaces,
    startTimeoutMs: 120_000,
  });
  // A test process that dies without its after() hooks must not leave the server behind.
  const killServer = () => {
    try {
      process.kill(server.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killServer);
  try {
    const env = await TestWorkflowEnvironment.createFromExistingServer({ address: server.address, namespace: 'default' });
    const closeConnections = env.teardown.bind(env);
    env.teardown = async () => {
      await closeConnections();
      await server.stop();
      process.off('exit', killServer);
    };
    return env;
  } catch (err) {
    await server.stop();
    process.off('exit', killServer);
    throw err;
  }
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** haflow's workflows bundled once per test process (bundling takes seconds). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  quietRuntime();
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: new DefaultLogger('WARN') });
  return bundle;
}

/** Polls `read` until `done` holds, failing after `timeoutMs` with what was last seen. */
export async function waitUntil<T>(
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(last)}`);
}
