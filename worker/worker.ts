// Builds a haflow worker: the workflows (bundled), the activities, and the task queue.
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import * as haflowActivities from '../activities';
import { haflowDataConverter } from '../connection/codec';
import { TASK_QUEUE } from '../connection/temporal';

export interface HaflowWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue?: string;
  /** Defaults to haflow's activities; tests pass fakes to inject failures. */
  activities?: object;
  /** A prebuilt workflow bundle (tests share one); otherwise bundled from workflows/. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** How long running activities get to finish when the worker is asked to stop. */
  shutdownGraceTime?: WorkerOptions['shutdownGraceTime'];
  stickyQueueScheduleToStartTimeout?: WorkerOptions['stickyQueueScheduleToStartTimeout'];
  /** Defaults to the environment's (connection/codec.ts): encrypting when HAFLOW_CODEC_KEY is set. */
  dataConverter?: WorkerOptions['dataConverter'];
}

export async function createWorker(options: HaflowWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    activities: options.activities ?? haflowActivities,
    dataConverter: options.dataConverter ?? haflowDataConverter(),
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: require.resolve('../workflows') }),
    shutdownGraceTime: options.shutdownGraceTime ?? '30s',
    // Present only when set: the SDK rejects an explicit undefined duration.
    ...(options.stickyQueueScheduleToStartTimeout ? { stickyQueueScheduleToStartTimeout: options.stickyQueueScheduleToStartTimeout } : {}),
  });
}
