// What every benchmark on the lab runs against: the embedded dev server (state in a temporary
// directory), one in-process worker with haflow's activities, a client, and made-up passwords
// for the lab topologies. Built from the product's own API; everything stops at the end.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { portOr, startEmbeddedServer } from '../client/dev-server';
import { connectClient } from '../client/temporal';
import { createWorker } from '../worker/worker';

const LAB_SECRETS = ['HAFLOW_PG_SUPERUSER_PASSWORD', 'HAFLOW_PG_REPLICATION_PASSWORD', 'HAFLOW_PG_REWIND_PASSWORD', 'HAFLOW_APP_DB_PASSWORD'];

export async function withBenchEnvironment(body: (client: Client, dir: string) => Promise<void>): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  for (const name of LAB_SECRETS) process.env[name] ??= randomBytes(12).toString('base64url');
  const dir = mkdtempSync(join(tmpdir(), 'haflow-bench-'));
  const server = await startEmbeddedServer({ dbFile: join(dir, 'temporal.sqlite'), port: await portOr(7299), uiPort: await portOr(8299) });
  const connection = await NativeConnection.connect({ address: server.address });
  const worker = await createWorker({ connection, namespace: 'default' });
  const running = worker.run();
  const client = await connectClient({ address: server.address, namespace: 'default', connectionOptions: { address: server.address } });
  try {
    await body(client, dir);
  } finally {
    worker.shutdown();
    await running;
    await connection.close();
    await client.connection.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
