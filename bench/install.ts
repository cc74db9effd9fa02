// Wall time of installs on the lab, and how much of it is haflow's own overhead: time when
// no remote command, network call or deliberate wait was in progress (Temporal round trips,
// the runner, rendering, Node). Needs root, the lab's packages and the Temporal CLI.
// Run: node --import tsx bench/install.ts [rounds]
import { unionMs, timeline } from '../activities/timing';
import { Lab } from '../lab';
import { haflowWorker, labSecrets, startInstall } from '../test/support/install';
import { labTopology } from '../test/support/lab';
import { startDevServer } from '../test/support/temporal';

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 2);
  labSecrets();
  const env = await startDevServer();
  const worker = await haflowWorker(env);
  const running = worker.run();
  try {
    for (const layout of ['standalone', 'distributed'] as const) {
      for (let round = 1; round <= rounds; round++) {
        const lab = await Lab.up(labTopology(layout), { wipe: true });
        timeline.intervals = [];
        timeline.enabled = true;
        const started = performance.now();
        const handle = await startInstall(env, lab.topology);
        const outcome = await handle.result();
        const wallMs = performance.now() - started;
        timeline.enabled = false;
        const remoteMs = unionMs(timeline.intervals.filter((i) => i.kind === 'remote'));
        const waitMs = unionMs(timeline.intervals.filter((i) => i.kind === 'wait'));
        const busyMs = unionMs(timeline.intervals);
        const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
        process.stdout.write(
          `${layout} round ${round}: ${outcome.steps.length} steps, wall ${s(wallMs)}; remote commands and calls ${s(remoteMs)}, waits ${s(waitMs)}; ` +
            `haflow overhead ${s(wallMs - busyMs)} (${(((wallMs - busyMs) / wallMs) * 100).toFixed(0)} %)\n`,
        );
        await lab.down();
      }
    }
  } finally {
    worker.shutdown();
    await running;
    await env.teardown();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
