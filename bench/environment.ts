// What every benchmark on the lab runs against: the embedded dev server (state in a temporary
// directory), one in-process worker with haflow's activities, a client, and made-up passwords
// for the lab topologies. Built from the product's own API; everything stops at the end.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { startInstall } from '../client/api';
import { readHealth } from '../client/cluster';
import { Lab, LAB_SECRET_VARIABLES } from '../lab';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { portOr, startEmbeddedServer } from '../client/dev-server';
import { connectClient } from '../client/temporal';
import { createWorker } from '../worker/worker';
export { median } from './record';

const LAB_SECRETS = LAB_SECRET_VARIABLES;

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

/** A profile's edit of the standalone lab topology, or of another lab topology it names. */
export type ProfileEdit = ((yaml: string) => string) | { topology: 'standalone' | 'classic'; edit: (yaml: string) => string };

/**
 * For each profile: its lab topology (standalone unless it names another) with that profile's
 * edit, a bare lab brought up and installed, `body` run on it, the lab down afterwards.
 */
export async function forEachInstalledProfile(
  client: Client,
  dir: string,
  profiles: string[],
  edits: Record<string, ProfileEdit>,
  body: (lab: Lab, profile: string) => Promise<void>,
): Promise<void> {
  for (const profile of profiles) {
    const spec = edits[profile];
    if (!spec) throw new Error(`unknown profile ${profile}; known: ${Object.keys(edits).join(', ')}`);
    const { topology, edit } = typeof spec === 'function' ? { topology: 'standalone', edit: spec } : spec;
    const file = join(dir, `${topology}-${profile}.yaml`);
    writeFileSync(file, edit(readFileSync(join(__dirname, `../lab/topologies/${topology}.yaml`), 'utf8')));
    const lab = await Lab.up(file, { wipe: true });
    try {
      const install = await (await startInstall(client, lab.topology)).result();
      if (install.status !== 'completed') throw new Error('install failed');
      await body(lab, profile);
    } finally {
      await lab.down();
    }
  }
}

/** The cluster's health once it is healthy again (at most 2 minutes). */
export async function waitHealthy(client: Client, lab: Lab) {
  for (let i = 0; i < 120; i++) {
    const health = await readHealth(client, lab.topology);
    if (health.healthy) return health;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error('the cluster did not become healthy again within 2 minutes');
}
