// The operator's failover commands: `haflow drill`, `haflow switchover` and `haflow reports`.
// Each refuses before anything starts when it cannot run (a fault driver not configured, an
// unhealthy cluster, another operation holding it), then starts its runbook and follows it.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { bestCandidate, type ClusterHealth } from '../activities/cluster/health';
import { RequestRefusedError, startRunbook } from '../client/api';
import { readHealth } from '../client/cluster';
import { monitorStatus } from '../client/monitor';
import { listReports, syncReports } from '../client/report-store';
import { runbookFor } from '../client/runbooks';
import { trendPage } from '../client/trend-page';
import { TASK_QUEUE } from '../connection/temporal';
import { drillTarget } from '../runbooks/drill';
import { dbHosts, type Topology } from '../topology';
import { FAULT_NAMES, FAULTS, faultProblems, type FaultName } from '../topology/faults';
import { formatHealth } from './health';
import { formatPlan } from './progress';
import { connect, exits, faultName, follow, onCluster, printJson, say } from './support';

export function registerFailoverCommands(program: Command): void {
  program
    .command('drill')
    .description('a failover drill: inject a real fault into the healthy cluster, measure write downtime and lost writes with a probe through HAProxy, heal, and report; exit 0 when it met the objectives, 1 when not, 2 when refused')
    .argument('<cluster>', 'cluster name (its topology is the one of its latest operation), or a topology YAML file')
    .requiredOption('--fault <fault>', `one of ${FAULT_NAMES.join(', ')}`, faultName)
    .option('--switch-back', 'switch over to the original leader at the end, leaving the cluster as it was')
    .option('--to <host>', 'for --fault switchover: the member to switch over to (default: the best replica)')
    .option('--plan', "print the drill's steps for the cluster as it is now, and start nothing")
    .option('--detach', 'start the drill and return at once')
    .option('--json', 'print the report as JSON (the progress goes to stderr)')
    .action(onCluster(drillCommand));

  program
    .command('switchover')
    .description("a planned switchover through Patroni's REST API, with the write probe running throughout; verified, and its write downtime reported")
    .argument('<cluster>', 'cluster name, or a topology YAML file')
    .option('--to <host>', 'the member to switch over to (default: the streaming replica least behind)')
    .option('--at <time>', "when Patroni should switch over (ISO 8601, Patroni's scheduled_at)")
    .option('--coordinated', 'tell HAProxy through its runtime API the moment the new leader is primary, instead of waiting for its checks (the default, except with --at)')
    .option('--plain', "let HAProxy's checks find the new leader, as Patroni alone would")
    .option('--detach', 'start it and return at once')
    .option('--json', 'print the report as JSON (the progress goes to stderr)')
    .action(onCluster(switchoverCommand));

  program
    .command('reports')
    .description("the cluster's drills and switchovers, newest first (fault, verdict, write downtime, lost writes, predicted); with an id, that report")
    .argument('<cluster>', 'cluster name')
    .argument('[id]', 'a report id (or its beginning)')
    .option('--since <date>', 'only reports from this date on')
    .option('--json', 'as JSON')
    .option('--html <file>', 'write the trend page: one self-contained HTML file with write downtime per drill against the objective, linking each timeline')
    .action(exits(reportsCommand));
}

export interface DrillOptions {
  fault: FaultName;
  switchBack?: boolean;
  /** For the switchover fault: the member to switch over to. */
  to?: string;
  /** Print the plan for the cluster as it is now, and start nothing. */
  plan?: boolean;
  detach?: boolean;
  /** The report as JSON on stdout (the progress goes to stderr). */
  json?: boolean;
}

/** A healthy cluster, or a message saying why not (the drill and the switchover refuse to start then). */
export async function healthyOrSay(topology: Topology, what: string): Promise<ClusterHealth | undefined> {
  const health = await readHealth(await connect(), topology);
  if (health.healthy) return health;
  say(`${what} refused: cluster ${topology.cluster} is not healthy, and a failover test starts only on a healthy cluster.\n\n${formatHealth(health)}`);
  return undefined;
}

function candidateProblem(topology: Topology, health: ClusterHealth, to: string): string | undefined {
  if (!dbHosts(topology).some((h) => h.name === to)) return `--to ${to}: there is no DB node of that name; DB nodes are ${dbHosts(topology).map((h) => h.name).join(', ')}`;
  if (health.leader === to) return `--to ${to}: ${to} is the leader already`;
  if (!health.members.find((m) => m.name === to)?.streaming) return `--to ${to}: ${to} is not a streaming replica`;
  return undefined;
}

/**
 * A rolling operation's or a switchover's start: a healthy cluster, and the replica the leader goes
 * to (`--to`, or the streaming replica least behind); undefined after saying why not.
 */
export async function leaderAndCandidate(topology: Topology, what: string, to?: string): Promise<{ health: ClusterHealth; candidate: string } | undefined> {
  const health = await healthyOrSay(topology, what);
  if (!health) return undefined;
  const candidate = to ?? bestCandidate(health);
  const problem = candidate ? (to ? candidateProblem(topology, health, to) : undefined) : 'there is no streaming replica to switch the leader over to';
  if (problem || !candidate) {
    say(`${what} refused: ${problem}`);
    return undefined;
  }
  return { health, candidate };
}

/** `haflow drill`: exit 0 when the drill completed and met the objectives, 1 otherwise, 2 when refused. */
async function drillCommand(topology: Topology, opts: DrillOptions): Promise<number> {
  const missing = faultProblems(topology, opts.fault);
  if (missing.length > 0) {
    say(`drill ${opts.fault} refused before anything started:\n${missing.map((m) => `  - ${m}`).join('\n')}`);
    return 2;
  }
  // Patroni's view of the cluster's health; a classic cluster has none: its drill's gate step
  // checks the master and the standbys on the machines.
  const classic = topology.layout === 'classic';
  const health = classic ? undefined : await healthyOrSay(topology, `drill ${opts.fault}`);
  if (!classic && !health) return 2;
  const candidate = opts.fault === 'switchover' && health ? (opts.to ?? bestCandidate(health)) : undefined;
  if (opts.to && health) {
    const problem = candidateProblem(topology, health, opts.to);
    if (problem) {
      say(`drill refused: ${problem}`);
      return 2;
    }
  }
  // A crash of the application master tests the application monitor: it must be running, and
  // its master is the one to strike.
  let appMaster: string | undefined;
  if (FAULTS[opts.fault].target === 'app-master') {
    try {
      appMaster = (await monitorStatus(await connect(), topology.cluster)).master;
    } catch (err) {
      if (!(err instanceof RequestRefusedError)) throw err;
      say(`drill ${opts.fault} refused: it tests the application monitor, and ${err.message}`);
      return 2;
    }
  }
  const leader = health?.leader ?? appMaster!;
  const args = { fault: opts.fault, leader, candidate, switchBack: opts.switchBack, ...(appMaster ? { appMaster } : {}) };
  if (opts.plan) {
    say(formatPlan(runbookFor('drill', topology, args), `fault ${opts.fault} on ${drillTarget(topology, args)}, the ${classic ? 'master' : 'leader'} now is ${leader}`));
    return 0;
  }
  const client = await connect();
  const handle = await startRunbook(client, 'drill', topology, args);
  say(`started drill ${opts.fault} on cluster ${topology.cluster} (target ${drillTarget(topology, args)}, ${classic ? 'master' : 'leader'} ${leader}): workflow ${handle.workflowId} on task queue ${TASK_QUEUE}`);
  if (opts.detach) {
    say(`follow it with:  haflow status ${topology.cluster} --follow`);
    return 0;
  }
  return follow(handle, topology.cluster, 'drill', {}, { json: opts.json });
}

/** `haflow switchover`: exit 0 when the switchover completed, 1 otherwise, 2 when refused. */
async function switchoverCommand(topology: Topology, opts: { to?: string; at?: string; coordinated?: boolean; plain?: boolean; detach?: boolean; json?: boolean }): Promise<number> {
  if (opts.coordinated && opts.plain) {
    say('switchover refused: --coordinated and --plain contradict each other; give one');
    return 2;
  }
  const start = await leaderAndCandidate(topology, 'switchover', opts.to);
  if (!start) return 2;
  const { health, candidate } = start;
  let at: string | undefined;
  if (opts.at) {
    const when = new Date(opts.at);
    if (Number.isNaN(when.getTime())) {
      say(`switchover refused: --at ${opts.at} is not a time; write it as ISO 8601, such as 2026-12-01T02:00:00Z`);
      return 2;
    }
    if (when.getTime() <= Date.now()) {
      say(`switchover refused: --at ${opts.at} is in the past`);
      return 2;
    }
    at = when.toISOString();
  }
  if (at && opts.coordinated) {
    say('switchover refused: --coordinated needs the switchover now; with --at Patroni picks the moment by itself and HAProxy finds out by its checks');
    return 2;
  }
  // Coordinated unless asked otherwise; with --at Patroni acts alone, so HAProxy's checks route.
  const coordinated = !opts.plain && !at;
  const args = { leader: health.leader!, candidate, at, ...(coordinated ? { coordinated: true } : {}) };
  const client = await connect();
  const handle = await startRunbook(client, 'switchover', topology, args);
  say(`started the ${coordinated ? 'coordinated ' : ''}switchover of cluster ${topology.cluster} from ${health.leader} to ${candidate}${at ? ` at ${at}` : ''}: workflow ${handle.workflowId}`);
  if (at) say(`Patroni is asked to switch over at ${at} and does it by itself; until then this run holds the cluster and waits (\`haflow cancel ${topology.cluster}\` withdraws it).`);
  if (opts.detach) return 0;
  return follow(handle, topology.cluster, 'switchover', {}, { json: opts.json });
}

/** `haflow reports`: the cluster's drills and switchovers, newest first; with an id, one report. */
async function reportsCommand(cluster: string, id: string | undefined, opts: { json?: boolean; since?: string; html?: string }): Promise<number> {
  await syncReports(await connect(), cluster).catch((err: Error) => say(`(could not ask Temporal for runs not stored here yet: ${err.message})`));
  const since = opts.since ? new Date(opts.since) : undefined;
  if (since && Number.isNaN(since.getTime())) {
    say(`--since ${opts.since} is not a date; write it as 2026-11-01 or 2026-11-01T12:00:00Z`);
    return 2;
  }
  const reports = listReports(cluster).filter((r) => !since || new Date(r.report.injectedAt) >= since);
  if (id) {
    const found = reports.find((r) => r.id === id || r.id.startsWith(id));
    if (!found) {
      say(`no report ${id} for cluster ${cluster}; \`haflow reports ${cluster}\` lists them`);
      return 1;
    }
    if (opts.json) printJson(found.report);
    else say(`${readFileSync(found.files.markdown, 'utf8')}\ntimeline: ${found.files.svg}`);
    return 0;
  }
  if (opts.html) {
    writeFileSync(opts.html, trendPage(cluster, reports));
    say(`wrote the trend page of cluster ${cluster} (${reports.length} report(s)) to ${resolve(opts.html)}: open it in a browser`);
    if (!opts.json) return 0;
  }
  if (opts.json) {
    printJson(reports.map((r) => ({ id: r.id, ...r.report })));
    return 0;
  }
  if (reports.length === 0) {
    say(`no drill or switchover of cluster ${cluster} yet: \`haflow drill ${cluster} --fault <${FAULT_NAMES.join('|')}>\``);
    return 0;
  }
  const rows = reports.map((r) => {
    const f = r.report.figures;
    return [r.id, r.report.fault, r.report.verdict.pass ? 'PASS' : 'FAIL', f.writeDowntimeSeconds === undefined ? 'n/a' : `${f.writeDowntimeSeconds.toFixed(1)} s`, String(f.lostWrites ?? 'n/a'), `${r.report.predicted.expectedSeconds.toFixed(1)} s`];
  });
  const header = ['id', 'fault', 'verdict', 'write downtime', 'lost writes', 'predicted'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  say([header, ...rows].map((row) => row.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n'));
  say(`\n\`haflow reports ${cluster} <id>\` prints one; the files are in ${reports[0].files.json.replace(/\/[^/]+$/, '')}`);
  return 0;
}
