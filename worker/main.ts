// The worker process: connects to Temporal (environment configuration, or the embedded
// dev server), polls haflow's task queue, and on SIGINT/SIGTERM stops taking work and
// gives running activities the grace time to finish.
import { NativeConnection, Runtime, DefaultLogger, type LogLevel } from '@temporalio/worker';
import { TASK_QUEUE, temporalSettings, unreachableMessage } from '../connection/temporal';
import { createWorker } from './worker';

export interface RunWorkerOptions {
  /** Seconds running activities get to finish after SIGINT/SIGTERM. */
  graceSeconds?: number;
  logLevel?: LogLevel;
}

export async function runWorker(options: RunWorkerOptions = {}): Promise<void> {
  Runtime.install({ logger: new DefaultLogger(options.logLevel ?? 'INFO') });
  const settings = temporalSettings();
  const connection = await NativeConnection.connect(settings.connectionOptions).catch((err: Error) => {
    throw new Error(unreachableMessage(settings, err));
  });
  try {
    const worker = await createWorker({
      connection,
      namespace: settings.namespace,
      shutdownGraceTime: `${options.graceSeconds ?? 30}s`,
    });
    console.error(`haflow worker polling task queue ${TASK_QUEUE} on ${settings.address} (namespace ${settings.namespace})`);
    // The SDK's runtime turns SIGINT/SIGTERM into worker.shutdown(): no new tasks, then the grace time.
    await worker.run();
    console.error('haflow worker stopped');
  } finally {
    await connection.close();
  }
}
