// Wall time of installs on the lab, and how much of it is haflow's own overhead, read from
// each run's workflow history (bench/history.ts): the time when no activity was running.
// Needs root, the lab's packages and the Temporal CLI. Leaves nothing running.
// Run: node --import tsx bench/install.ts [rounds]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { connectClient } from '../client/temporal';
import { startInstall } from '../client/api';
import { portOr, startEmbeddedServer } from '../client/dev-server';
import { Lab } from '../lab';
import { createWorker } from '../worker/worker';
import { runTimes } from './history';

const LAB_SECRETS = ['HAFLOW_PG_SUPERUSER_PASSWORD', 'HAFLOW_PG_REPLICATION_PASSWORD', 'HAFLOW_PG_REWIND_PASSWORD', 'HAFLOW_APP_DB_PASSWORD'];

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 2);
  Runtime.install({ logger: new DefaultLogger('WARN') });
  for (const name of LAB_SECRETS) process.env[name] ??= randomBytes(12).toString('base64url');
  const dir = mkdtempSync(join(tmpdir(), 'haflow-bench-'));
  const port = await portOr(7299);
  const server = await startEmbeddedServer({ dbFile: join(dir, 'temporal.sqlite'), port, uiPort: await portOr(8299) });
  const connection = await NativeConnection.connect({ address: server.address });
  const worker = await createWorker({ connection, namespace: 'default' });
  const running = worker.run();
  const client = await connectClient({ address: server.address, namespace: 'default', connectionOptions: { address: server.address } });
  try {
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
  } finally {
    worker.shutdown();
    await running;
    await connection.close();
    await client.connection.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
