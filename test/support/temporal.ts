// A real Temporal dev server for workflow tests, started from the installed CLI.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  DefaultLogger,
  makeTelemetryFilterString,
  Runtime,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { findTemporalCli } from '../../client/dev-server';

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

export async function startDevServer(options: DevServerOptions = {}): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: findTemporalCli() },
      dbFilename: options.dbFilename,
      port: options.port,
      extraArgs: ['--log-level', 'error', ...(options.namespaces ?? []).flatMap((n) => ['--namespace', n])],
    },
  });
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
