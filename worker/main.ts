// The worker process: connects to Temporal (environment configuration, or the embedded
// dev server), polls haflow's task queue, and on SIGINT/SIGTERM stops taking work and
// gives running activities the grace time to finish.
import { NativeConnection, Runtime, DefaultLogger, type LogLevel } from '@temporalio/worker';
import { passedVariableNames } from '../activities/shared/local-process';
import { codecKeysFromEnv } from '../connection/codec';
import { TASK_QUEUE, temporalSettings, unreachableMessage } from '../connection/temporal';
import { createWorker, DEFAULT_ACTIVITY_SLOTS } from './worker';

export interface RunWorkerOptions {
  /** Seconds running activities get to finish after SIGINT/SIGTERM. */
  graceSeconds?: number;
  /** Activities run at once (createWorker's default when not given). */
  activitySlots?: number;
  logLevel?: LogLevel;
}

export async function runWorker(options: RunWorkerOptions = {}): Promise<void> {
  // Said before anything connects: a wrong setting must not first show at a run's step.
  codecKeysFromEnv();
  passedVariableNames();
  Runtime.install({ logger: new DefaultLogger(options.logLevel ?? 'INFO') });
  const settings = temporalSettings();
  const connection = await NativeConnection.connect(settings.connectionOptions).catch((err: Error) => {
    throw new Error(unreachableMessage(settings, err));
  });
  const activitySlots = options.activitySlots ?? DEFAULT_ACTIVITY_SLOTS;
  try {
    const worker = await createWorker({
      connection,
      namespace: settings.namespace,
      shutdownGraceTime: `${options.graceSeconds ?? 30}s`,
      maxConcurrentActivityTaskExecutions: activitySlots,
    });
    console.error(`haflow worker polling task queue ${TASK_QUEUE} on ${settings.address} (namespace ${settings.namespace}), ${activitySlots} activity slots`);
    // The SDK's runtime turns SIGINT/SIGTERM into worker.shutdown(): no new tasks, then the grace time.
    await worker.run();
    console.error('haflow worker stopped');
  } finally {
    await connection.close();
  }
}
