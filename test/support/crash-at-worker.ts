// A haflow worker with haflow's real activities that kills itself (SIGKILL) at a chosen point of
// a run, for the crash suite: after the n-th activity to finish has done its work but before its
// result reaches Temporal (HAFLOW_CRASH_AFTER=n), or some milliseconds into the first attempt of
// an activity type (HAFLOW_CRASH_INSIDE=<type>, HAFLOW_CRASH_INSIDE_MS=<ms>). Before dying it
// appends what it killed to HAFLOW_CRASH_LOG, so the test knows the point was reached.
// argv: <temporal address> <workflow bundle path>
import { appendFileSync } from 'node:fs';
import { Context } from '@temporalio/activity';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import * as realActivities from '../../activities';
import { createWorker } from '../../worker/worker';

const [address, bundlePath] = process.argv.slice(2);
const crashAfter = Number(process.env.HAFLOW_CRASH_AFTER ?? 0);
const crashInside = process.env.HAFLOW_CRASH_INSIDE;
const crashInsideMs = Number(process.env.HAFLOW_CRASH_INSIDE_MS ?? 0);
const log = process.env.HAFLOW_CRASH_LOG!;

let finished = 0;

function die(what: string): never {
  appendFileSync(log, `${what}\n`);
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}

const describe = (input: unknown) => {
  const host = (input as { host?: string } | undefined)?.host;
  return `${Context.current().info.activityType}${host ? `@${host}` : ''}`;
};

const activities = Object.fromEntries(
  Object.entries(realActivities)
    .filter(([, fn]) => typeof fn === 'function')
    .map(([name, fn]) => [
      name,
      async (...args: unknown[]) => {
        const info = Context.current().info;
        if (crashInside && info.activityType === crashInside && info.attempt === 1) {
          const what = `inside ${describe(args[0])} after ${crashInsideMs} ms`;
          setTimeout(() => die(what), crashInsideMs);
        }
        const result = await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
        finished += 1;
        if (finished === crashAfter) die(`after ${describe(args[0])} (activity ${finished}), its result not reported`);
        return result;
      },
    ]),
);

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const connection = await NativeConnection.connect({ address });
  const worker = await createWorker({ connection, namespace: 'default', activities, workflowBundle: { codePath: bundlePath }, stickyQueueScheduleToStartTimeout: '1s' });
  console.log('worker ready');
  await worker.run();
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
