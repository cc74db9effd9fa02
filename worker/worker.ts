// Builds a haflow worker: the workflows (bundled), the activities, and the task queue.
import { NativeConnection, Worker, type BundleOptions, type WorkerOptions } from '@temporalio/worker';
import * as haflowActivities from '../activities';
import { closeIdleSshSessions } from '../activities/shared/ssh';
import { workerDataConverter } from '../connection/codec';
import { TASK_QUEUE } from '../connection/temporal';
import { checkActivityInputs } from './input-checks';

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
  /** Workflows kept in memory between tasks (an evicted one is replayed from its history); the SDK's default grows with the heap limit. */
  maxCachedWorkflows?: WorkerOptions['maxCachedWorkflows'];
  /** Activity tasks run at once (DEFAULT_ACTIVITY_SLOTS when not given). */
  maxConcurrentActivityTaskExecutions?: WorkerOptions['maxConcurrentActivityTaskExecutions'];
  /** Workflow tasks run at once (the SDK's default is 40). */
  maxConcurrentWorkflowTaskExecutions?: WorkerOptions['maxConcurrentWorkflowTaskExecutions'];
  /** Defaults to the environment's (connection/codec.ts): with HAFLOW_CODEC_KEY set, encrypting and refusing what arrives in clear. */
  dataConverter?: WorkerOptions['dataConverter'];
}

/**
 * Activities one worker runs at once. Every application monitor holds one for its whole watch
 * (an hour), and a drill's probe one for the drill: with the SDK's 100, the 101st observed cluster
 * waited for a free slot, unwatched (bench/RESULTS.md, "monitors"). Waiting activities are cheap
 * (timers and sockets on one event loop); the work they start runs on the machines.
 */
export const DEFAULT_ACTIVITY_SLOTS = 500;

/** Workflow interceptors every haflow worker bundles: runs, updates and queries that arrived in clear are refused (./refuse-unencrypted.ts). */
const WORKFLOW_INTERCEPTOR_MODULES = [require.resolve('./refuse-unencrypted')];

/**
 * What bundleWorkflowCode needs to build the bundle createWorker would build itself: the
 * workflows, the workflow interceptors, and the data converter's modules (with a key, the
 * encrypted failures and the refusal of payloads in clear). A prebuilt bundle without them
 * fails the workflow task of whatever arrives in clear, again and again.
 */
export function workflowBundleOptions(dataConverter: NonNullable<WorkerOptions['dataConverter']> = workerDataConverter()): Pick<BundleOptions, 'workflowsPath' | 'workflowInterceptorModules' | 'failureConverterPath' | 'payloadConverterPath'> {
  return {
    workflowsPath: require.resolve('../workflows'),
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    ...(dataConverter.failureConverterPath ? { failureConverterPath: dataConverter.failureConverterPath } : {}),
    ...(dataConverter.payloadConverterPath ? { payloadConverterPath: dataConverter.payloadConverterPath } : {}),
  };
}

export async function createWorker(options: HaflowWorkerOptions): Promise<Worker> {
  const worker = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    activities: options.activities ?? haflowActivities,
    dataConverter: options.dataConverter ?? workerDataConverter(),
    // Every activity re-checks what it is handed (./input-checks.ts); a prebuilt bundle brings its own workflow interceptors.
    interceptors: { activity: [checkActivityInputs], ...(options.workflowBundle ? {} : { workflowModules: WORKFLOW_INTERCEPTOR_MODULES }) },
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: require.resolve('../workflows') }),
    shutdownGraceTime: options.shutdownGraceTime ?? '30s',
    // Present only when set: the SDK rejects an explicit undefined duration.
    ...(options.stickyQueueScheduleToStartTimeout ? { stickyQueueScheduleToStartTimeout: options.stickyQueueScheduleToStartTimeout } : {}),
    // The sizes too, so that without them the SDK's own defaults apply.
    ...(options.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: options.maxCachedWorkflows } : {}),
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivityTaskExecutions ?? DEFAULT_ACTIVITY_SLOTS,
    ...(options.maxConcurrentWorkflowTaskExecutions !== undefined ? { maxConcurrentWorkflowTaskExecutions: options.maxConcurrentWorkflowTaskExecutions } : {}),
  });
  // SSH connections stay open between steps (activities/shared/ssh.ts); a stopped worker closes them.
  const run = worker.run.bind(worker);
  worker.run = () => run().finally(closeIdleSshSessions);
  return worker;
}
