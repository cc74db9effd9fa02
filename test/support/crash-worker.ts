// A haflow worker in its own process, so a test can kill -9 it mid-run.
// argv: <temporal address> <namespace> <task queue> <workflow bundle path> <state dir> [grace seconds]
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { heartbeat, sleep } from '@temporalio/activity';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { createWorker } from '../../worker/worker';
import type { StepInput, StepResult } from '../../activities/contract';

const [address, namespace, taskQueue, bundlePath, stateDir, graceSeconds = '1'] = process.argv.slice(2);

const activities = {
  async writeFile(input: StepInput<{ name: string }>): Promise<StepResult> {
    appendFileSync(join(stateDir, `${input.name}.log`), `${process.pid}\n`);
    return { changed: true, summary: `wrote ${input.name}` };
  },
  /** A long step that heartbeats, like a package install or waiting for a replica. */
  async slowStep(input: StepInput<{ name: string; seconds: number }>): Promise<StepResult> {
    appendFileSync(join(stateDir, `${input.name}.log`), `${process.pid}\n`);
    for (let i = 0; i < input.seconds * 5; i++) {
      heartbeat(i);
      await sleep(200);
    }
    return { changed: true, summary: `${input.name} finished in process ${process.pid}` };
  },
};

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const connection = await NativeConnection.connect({ address });
  const worker = await createWorker({
    connection,
    namespace,
    taskQueue,
    activities,
    workflowBundle: { codePath: bundlePath },
    shutdownGraceTime: Number(graceSeconds) * 1000,
    // A dead worker's cached workflows move to the shared queue after 1 s instead of 10 s.
    stickyQueueScheduleToStartTimeout: '1s',
  });
  console.log('worker ready');
  await worker.run(); // returns after SIGINT/SIGTERM once running activities finished or the grace time ran out
  console.log('worker stopped');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
