// The worker process of the engine benchmark (bench/engine.ts): haflow's worker (worker/worker.ts)
// with the real workflows and the no-op stand-in activities of bench/engine-activities.ts, in a
// process of its own so that its memory and CPU time can be read from /proc by the benchmark.
// Started by the benchmark, not by hand:
//   node --import tsx bench/engine-worker.ts '<JSON EngineWorkerConfig>'
// It prints one line of JSON on stdout once it polls (its effective sizes), and stops on SIGTERM.
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { temporalSettings, unreachableMessage } from '../connection/temporal';
import { createWorker, type HaflowWorkerOptions } from '../worker/worker';
import { engineActivities } from './engine-activities';

/** The worker options the benchmark compares (absent: the SDK's defaults). */
export type EngineTuning = Pick<HaflowWorkerOptions, 'maxCachedWorkflows' | 'maxConcurrentActivityTaskExecutions' | 'maxConcurrentWorkflowTaskExecutions'>;

export interface EngineWorkerConfig {
  taskQueue: string;
  /** The workflow bundle built once by the benchmark, so that no worker spends its time bundling. */
  bundlePath: string;
  /** The embedded server's address; absent: Temporal's environment configuration (an existing cluster). */
  address?: string;
  namespace?: string;
  tuning: EngineTuning;
}

/** What the worker says once it polls: the sizes it actually runs with. */
export interface EngineWorkerReady {
  pid: number;
  maxCachedWorkflows: number;
  workflowTaskSlots: number;
  activityTaskSlots: number;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as EngineWorkerConfig;
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const settings = config.address
    ? { address: config.address, namespace: config.namespace ?? 'default', connectionOptions: { address: config.address } }
    : temporalSettings();
  const connection = await NativeConnection.connect(settings.connectionOptions).catch((err: Error) => {
    throw new Error(unreachableMessage(settings, err));
  });
  try {
    const worker = await createWorker({
      connection,
      namespace: settings.namespace,
      taskQueue: config.taskQueue,
      activities: engineActivities(),
      workflowBundle: { codePath: config.bundlePath },
      shutdownGraceTime: '2s',
      ...config.tuning,
    });
    const running = worker.run();
    const slots = (supplier: unknown) => (supplier as { numSlots?: number } | undefined)?.numSlots ?? -1;
    const ready: EngineWorkerReady = {
      pid: process.pid,
      maxCachedWorkflows: worker.options.maxCachedWorkflows,
      workflowTaskSlots: slots(worker.options.tuner.workflowTaskSlotSupplier),
      activityTaskSlots: slots(worker.options.tuner.activityTaskSlotSupplier),
    };
    process.stdout.write(`${JSON.stringify(ready)}\n`);
    // The SDK's runtime turns SIGTERM into worker.shutdown().
    await running;
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
