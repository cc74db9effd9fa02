// The operator's maintenance commands, each a runbook on a running cluster: `haflow restart`
// and `haflow upgrade --minor` (rolling, the leader last after a coordinated switchover, the
// write probe throughout), `haflow tune` (timings, synchronous mode) and `haflow migrate` (a
// classic cluster moved under Patroni on the same machines).
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { serverVersionText } from '../activities/postgres/version';
import { startRunbook } from '../client/api';
import { migrateSteps, migrationProblems, type MigrateArgs } from '../runbooks/migrate';
import { restartSteps } from '../runbooks/restart';
import { tunedTopology, tuneSteps, type TuneArgs } from '../runbooks/tune';
import { upgradeSteps } from '../runbooks/upgrade';
import { assertValidTopology, SYNCHRONOUS_MODES, TIMING_PROFILES, type Topology } from '../topology';
import { appMaster, dbHosts } from '../topology/derive';
import { leaderAndCandidate } from './failover-commands';
import { formatPlan } from './progress';
import { checkAndReport, connect, exits, follow, handSchedulesTheTopology, loadOrReport, onCluster, oneOf, say } from './support';

export function registerMaintenanceCommands(program: Command): void {
  program
    .command('restart')
    .description('a rolling restart of PostgreSQL: each replica through Patroni, waiting for it to stream again, then the leader after a coordinated switchover; the write probe runs throughout and the report gives every write pause')
    .argument('<cluster>', 'cluster name, or a topology YAML file')
    .option('--to <host>', 'the replica the leader is switched over to (default: the streaming replica least behind)')
    .option('--plan', 'print the steps for the cluster as it is now, and start nothing')
    .option('--detach', 'start it and return at once')
    .option('--json', 'print the report as JSON (the progress goes to stderr)')
    .action(onCluster(restartCommand));

  program
    .command('upgrade')
    .description("a rolling minor upgrade of PostgreSQL: each replica's packages upgraded, restarted and streaming again, then the leader's after a coordinated switchover; versions checked before and after, the write probe throughout")
    .argument('<cluster>', 'cluster name, or a topology YAML file')
    .option('--minor', 'the newest minor version of the same major version that the hosts\' package sources offer (the only kind there is)')
    .option('--to <host>', 'the replica the leader is switched over to (default: the streaming replica least behind)')
    .option('--plan', 'print the steps for the cluster as it is now, and start nothing')
    .option('--detach', 'start it and return at once')
    .option('--json', 'print the report as JSON (the progress goes to stderr)')
    .action(onCluster(upgradeCommand));

  program
    .command('tune')
    .description("move a running cluster to a timing profile or a synchronous mode: Patroni's dynamic configuration (PATCH /config), config.yml on each node, HAProxy's checks through a checked reload")
    .argument('<cluster>', 'cluster name, or a topology YAML file')
    .option('--profile <profile>', `timings: ${Object.entries(TIMING_PROFILES).map(([n, t]) => `${n} (ttl ${t.patroni.ttl}, loop_wait ${t.patroni.loop_wait}, retry_timeout ${t.patroni.retry_timeout}, HAProxy inter ${t.check.inter}s fall ${t.check.fall} rise ${t.check.rise})`).join(', ')}`, oneOf(Object.keys(TIMING_PROFILES)))
    .option('--synchronous <mode>', `synchronous replication: ${SYNCHRONOUS_MODES.join(', ')}`, oneOf(SYNCHRONOUS_MODES))
    .option('--plan', 'print the steps, start nothing')
    .option('--check', 'ask the machines what would change, change nothing')
    .option('--detach', 'start it and return at once')
    .action(onCluster(tuneCommand));

  program
    .command('migrate')
    .description("move a classic cluster (layout: classic) under Patroni on the same machines: checked, backed up, its application monitor stopped, PostgreSQL handed to Patroni where it runs, HAProxy's write endpoint, the application pointed at it; the write probe throughout reports every write pause")
    .argument('<classic-topology>', 'the classic cluster\'s topology YAML file')
    .argument('<patroni-topology>', 'the same machines as a Patroni layout (postgresql.data_dir: the classic data directory)')
    .option('--plan', 'print the steps, and start nothing')
    .option('--check', 'run it in check mode on a worker: every step reports what it would change, nothing is changed')
    .option('--detach', 'start it and return at once')
    .option('--json', 'print the report as JSON (the progress goes to stderr)')
    .action(
      exits(async (classicFile: string, patroniFile: string, opts: { plan?: boolean; check?: boolean; detach?: boolean; json?: boolean }) => {
        const classic = loadOrReport(classicFile);
        const patroni = classic && loadOrReport(patroniFile);
        return classic && patroni ? migrateCommand({ file: classicFile, topology: classic.topology }, { file: patroniFile, topology: patroni.topology }, opts) : 1;
      }),
    );
}

/**
 * `haflow restart`: PostgreSQL restarted on every member, replicas first, the leader last by a
 * coordinated switchover, with the write probe throughout. Exit 0 when it completed and the
 * switchover's pause was the only one, 1 otherwise, 2 when refused.
 */
async function restartCommand(topology: Topology, opts: { to?: string; plan?: boolean; detach?: boolean; json?: boolean }): Promise<number> {
  const start = await leaderAndCandidate(topology, 'restart', opts.to);
  if (!start) return 2;
  const { health, candidate } = start;
  const plannedStarts = Object.fromEntries(health.nodes.filter((n) => n.postmasterStart).map((n) => [n.host, n.postmasterStart!]));
  const args = { leader: health.leader!, candidate, plannedStarts };
  const pending = health.nodes.filter((n) => n.pendingRestart).map((n) => n.host);
  const about = `replicas first, then ${health.leader} after a coordinated switchover to ${candidate}; restart pending on ${pending.length > 0 ? pending.join(', ') : 'no member'}`;
  if (opts.plan) {
    say(formatPlan(restartSteps(topology, args), about));
    return 0;
  }
  const client = await connect();
  const handle = await startRunbook(client, 'restart', topology, args);
  say(`started the rolling restart of cluster ${topology.cluster} (${about}): workflow ${handle.workflowId}`);
  if (opts.detach) return 0;
  return follow(handle, topology.cluster, 'restart', {}, { json: opts.json });
}

/**
 * `haflow upgrade --minor`: PostgreSQL's packages of the same major version upgraded node by node,
 * replicas first, the leader after a coordinated switchover, with the write probe throughout.
 * Exit 0 when it completed and the switchover's pause was the only one, 1 otherwise, 2 when refused.
 */
async function upgradeCommand(topology: Topology, opts: { minor?: boolean; to?: string; plan?: boolean; detach?: boolean; json?: boolean }): Promise<number> {
  if (!opts.minor) {
    say(`upgrade refused: only --minor exists (the newest ${topology.postgresql.version}.x of the same major version); a major version needs pg_upgrade, which haflow does not run`);
    return 2;
  }
  const start = await leaderAndCandidate(topology, 'upgrade', opts.to);
  if (!start) return 2;
  const { health, candidate } = start;
  const versionsBefore = Object.fromEntries(health.nodes.filter((n) => n.serverVersion).map((n) => [n.host, serverVersionText(n.serverVersion!)]));
  const args = { leader: health.leader!, candidate, versionsBefore };
  const about = `PostgreSQL ${Object.entries(versionsBefore).map(([h, v]) => `${h} ${v}`).join(', ')}; replicas first, then ${health.leader} after a coordinated switchover to ${candidate}`;
  if (opts.plan) {
    say(formatPlan(upgradeSteps(topology, args), about));
    return 0;
  }
  const client = await connect();
  const handle = await startRunbook(client, 'upgrade', topology, args);
  say(`started the rolling minor upgrade of cluster ${topology.cluster} (${about}): workflow ${handle.workflowId}`);
  if (opts.detach) return 0;
  return follow(handle, topology.cluster, 'upgrade', {}, { json: opts.json });
}

/** `haflow tune`: the cluster moved to a timing profile or a synchronous mode; --plan and --check as for the install. */
async function tuneCommand(topology: Topology, opts: TuneArgs & { plan?: boolean; check?: boolean; detach?: boolean }): Promise<number> {
  if (!opts.profile && !opts.synchronous) {
    say(`tune needs --profile <${Object.keys(TIMING_PROFILES).join('|')}>, --synchronous <${SYNCHRONOUS_MODES.join('|')}>, or both`);
    return 2;
  }
  let tuned: Topology;
  try {
    tuned = assertValidTopology(tunedTopology(topology, opts));
  } catch (err) {
    say(`tune refused: ${(err as Error).message}`);
    return 2;
  }
  const p = tuned.patroni;
  const about = `ttl ${p.ttl}, loop_wait ${p.loop_wait}, retry_timeout ${p.retry_timeout}, synchronous_mode ${p.synchronous_mode}; HAProxy inter ${tuned.haproxy.check.inter}s fall ${tuned.haproxy.check.fall} rise ${tuned.haproxy.check.rise}`;
  if (opts.plan) {
    say(formatPlan(tuneSteps(tuned), about));
    return 0;
  }
  const client = await connect();
  if (opts.check) return checkAndReport(client, 'tune', tuned, undefined, 'tune');
  const handle = await startRunbook(client, 'tune', tuned, undefined);
  say(`started tune of cluster ${tuned.cluster} (${about}): workflow ${handle.workflowId}`);
  if (opts.detach) return 0;
  const code = await follow(handle, tuned.cluster, 'tune');
  if (code === 0) await handSchedulesTheTopology(client, tuned);
  return code;
}

/** The line of `field`'s last key in a YAML file (1 when it is not written there: a default). */
function lineOf(file: string, field: string): number {
  const key = field.split('.').pop()!;
  const index = readFileSync(file, 'utf8')
    .split('\n')
    .findIndex((l) => new RegExp(`^\\s*${key}\\s*:`).test(l));
  return index + 1 || 1;
}

async function migrateCommand(
  classic: { file: string; topology: Topology },
  patroni: { file: string; topology: Topology },
  opts: { plan?: boolean; check?: boolean; detach?: boolean; json?: boolean },
): Promise<number> {
  const problems = migrationProblems(classic.topology, patroni.topology);
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`${patroni.file}:${lineOf(patroni.file, p.field)}:1: ${p.field}: ${p.message}\n`);
    process.stderr.write(`migrate refused: ${patroni.file} does not describe ${classic.file}'s cluster under Patroni (${problems.length} problem(s)); nothing was started\n`);
    return 2;
  }
  const master = appMaster(classic.topology)?.name ?? dbHosts(classic.topology)[0].name;
  const args: MigrateArgs = { classicCluster: classic.topology.cluster, master };
  const about = `the classic cluster ${classic.topology.cluster} becomes the Patroni cluster ${patroni.topology.cluster} on the same machines; ${master} stays the primary, its data where it is`;
  if (opts.plan) {
    say(formatPlan(migrateSteps(patroni.topology, args), about));
    return 0;
  }
  const client = await connect();
  if (opts.check) return checkAndReport(client, 'migrate', patroni.topology, args, 'migrate');
  const handle = await startRunbook(client, 'migrate', patroni.topology, args);
  say(`started the migration (${about}): workflow ${handle.workflowId}`);
  if (opts.detach) return 0;
  const code = await follow(handle, patroni.topology.cluster, 'migrate', {}, { json: opts.json });
  if (code === 0 && !opts.json) say(`the old application monitor is stopped; watch the application under Patroni with \`haflow monitor start ${patroni.file}\``);
  return code;
}
