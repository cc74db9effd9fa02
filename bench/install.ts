// Wall time of installs on the lab, and how much of it is haflow's own overhead, read from
// each run's workflow history (bench/history.ts): the time when no activity was running.
// Needs root, the lab's packages and the Temporal CLI. Leaves nothing running.
// Run: node --import tsx bench/install.ts [rounds]
import { join } from 'node:path';
import { startInstall } from '../client/api';
import { Lab } from '../lab';
import { withBenchEnvironment } from './environment';
import { runTimes } from '../client/run-times';

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 2);
  await withBenchEnvironment(async (client) => {
    for (const layout of ['standalone', 'distributed'] as const) {
      for (let round = 1; round <= rounds; round++) {
        const lab = await Lab.up(join(__dirname, '../lab/topologies', `${layout}.yaml`), { wipe: true });
        const handle = await startInstall(client, lab.topology);
        const outcome = await handle.result();
        const t = await runTimes(handle);
        const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
        process.stdout.write(
          `${layout} round ${round}: ${outcome.steps.length} steps, ${t.activities} activity attempts, wall ${s(t.wallMs)}; ` +
            `in activities ${s(t.activitiesMs)}; haflow overhead ${s(t.overheadMs)} (${((t.overheadMs / t.wallMs) * 100).toFixed(1)} %), ` +
            `median gap between activities ${t.medianGapMs.toFixed(0)} ms\n`,
        );
        await lab.down();
      }
    }
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
