// `haflow schedule …`: scheduled failover tests on Temporal Schedules (./schedules.ts), and how
// they read in a terminal: per schedule its timetable, next run, last result and whether (and
// why) it is paused.
import type { Command } from 'commander';
import { describeResult } from '../runbooks/scheduled';
import { FAULT_NAMES, type FaultName } from '../topology/faults';
import type { Topology } from '../topology';
import { connect, exits, faultName, printJson, refusable as refused, say, topologyNamed } from './support';
import {
  createSchedule,
  deleteSchedule,
  describeSchedule,
  listSchedules,
  pauseSchedule,
  scheduledRunResult,
  triggerSchedule,
  unpauseSchedule,
  updateSchedule,
  type ScheduledRunView,
  type ScheduleView,
  type When,
} from '../client/schedules';

const when = (opts: { cron?: string; every?: string }): When | undefined => (opts.cron ? { cron: opts.cron } : opts.every ? { every: opts.every } : undefined);

const ago = (date: Date, now = Date.now()): string => {
  const s = Math.round((now - date.getTime()) / 1000);
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129_600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
};

/** One run in a line: when, and what it found. */
export function formatRun(run: ScheduledRunView): string {
  const at = `${run.startedAt.toISOString().replace(/\.\d+Z$/, 'Z')} (${ago(run.startedAt)})`;
  if (run.result) return `${at}  ${describeResult(run.result)}`;
  if (run.status === 'running') return `${at}  RUNNING`;
  return `${at}  ${run.status.toUpperCase()}${run.error ? `: ${run.error}` : ''}`;
}

function tally(runs: ScheduledRunView[]): string {
  const counts = new Map<string, number>();
  for (const run of runs) {
    const key = run.result?.outcome ?? run.status;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
}

/** A schedule as `list` shows it; `describe` adds every recent run. */
export function formatSchedule(view: ScheduleView, opts: { runs?: boolean } = {}): string {
  const last = view.runs[0];
  const lines = [
    `${view.id}  (${view.fault} drill of cluster ${view.cluster}, ${view.when}${view.switchBack ? ', switching back' : ''})`,
    ...(view.note ? [`  note      ${view.note}`] : []),
    `  state     ${view.paused ? `PAUSED: ${view.pausedBecause ?? 'no reason given'}` : 'active'}`,
    `  next run  ${view.paused ? '(none while paused)' : (view.nextRuns[0]?.toISOString().replace(/\.\d+Z$/, 'Z') ?? 'none')}`,
    `  last run  ${last ? formatRun(last) : 'none yet'}`,
  ];
  if (view.runs.length > 0) {
    lines.push(`  recent    ${view.runs.length} run(s): ${tally(view.runs)}${view.skippedOverlap ? `; ${view.skippedOverlap} not started because the previous one still ran` : ''}`);
  }
  if (opts.runs) {
    for (const run of view.runs) {
      lines.push(`    - ${formatRun(run)}`);
      for (const n of run.result?.notifications ?? []) lines.push(`        notified ${n}`);
      if (run.result?.drill?.reportId) lines.push(`        report: haflow reports ${view.cluster} ${run.result.drill.reportId}`);
    }
    if (view.missedCatchup) lines.push(`  ${view.missedCatchup} run(s) missed while Temporal was down, beyond the catch-up window`);
  }
  return lines.join('\n');
}

/** Runs a schedule command, printing a refused request as such (exit 2). */
const refusable = (body: () => Promise<number>) => refused(body, 'schedule: ');

interface WhenOptions {
  cron?: string;
  every?: string;
}

/** `haflow schedule create`. */
async function scheduleCreateCommand(
  topology: Topology,
  opts: WhenOptions & { fault: FaultName; switchBack?: boolean; paused?: boolean; note?: string; id?: string; json?: boolean },
): Promise<number> {
  const w = when(opts);
  if (!w || (opts.cron && opts.every)) {
    say('schedule create needs exactly one of --cron <expr> and --every <duration>');
    return 2;
  }
  return refusable(async () => {
    const view = await createSchedule(await connect(), { topology, fault: opts.fault, when: w, id: opts.id, switchBack: opts.switchBack, paused: opts.paused, note: opts.note });
    if (opts.json) printJson(view);
    else say(`created schedule ${view.id}\n${formatSchedule(view)}\n\nrun it now: haflow schedule trigger ${view.id} --wait`);
    return 0;
  });
}

async function scheduleListCommand(cluster: string | undefined, opts: { json?: boolean }): Promise<number> {
  const views = await listSchedules(await connect(), cluster);
  if (opts.json) {
    printJson(views);
    return 0;
  }
  if (views.length === 0) {
    say(`no scheduled drills${cluster ? ` for cluster ${cluster}` : ''}: \`haflow schedule create <cluster> --fault <fault> --every 7d\``);
    return 0;
  }
  say(views.map((v) => formatSchedule(v)).join('\n\n'));
  return 0;
}

async function scheduleDescribeCommand(id: string, opts: { json?: boolean }): Promise<number> {
  return refusable(async () => {
    const view = await describeSchedule(await connect(), id);
    if (opts.json) printJson(view);
    else say(formatSchedule(view, { runs: true }));
    return 0;
  });
}

async function schedulePauseCommand(id: string, opts: { reason?: string }): Promise<number> {
  return refusable(async () => {
    say(formatSchedule(await pauseSchedule(await connect(), id, opts.reason)));
    return 0;
  });
}

async function scheduleUnpauseCommand(id: string): Promise<number> {
  return refusable(async () => {
    say(formatSchedule(await unpauseSchedule(await connect(), id)));
    return 0;
  });
}

/** `haflow schedule trigger`: exit 0 when started (or, with --wait, when the drill passed), 1 when it did not pass. */
async function scheduleTriggerCommand(id: string, opts: { wait?: boolean; json?: boolean }): Promise<number> {
  return refusable(async () => {
    const client = await connect();
    const run = await triggerSchedule(client, id);
    say(`triggered schedule ${id}: run ${run.workflowId}`);
    if (!opts.wait) {
      say(`its result: haflow schedule describe ${id}`);
      return 0;
    }
    const view = await scheduledRunResult(client, run);
    if (opts.json) printJson(view);
    else say(formatRun(view));
    return view.result?.outcome === 'passed' ? 0 : 1;
  });
}

async function scheduleUpdateCommand(
  id: string,
  opts: WhenOptions & { fault?: FaultName; switchBack?: boolean; note?: string; topology?: Topology },
): Promise<number> {
  if (opts.cron && opts.every) {
    say('give one of --cron and --every');
    return 2;
  }
  return refusable(async () => {
    say(formatSchedule(await updateSchedule(await connect(), id, { when: when(opts), fault: opts.fault, switchBack: opts.switchBack, note: opts.note, topology: opts.topology })));
    return 0;
  });
}

async function scheduleDeleteCommand(id: string): Promise<number> {
  return refusable(async () => {
    await deleteSchedule(await connect(), id);
    say(`deleted schedule ${id} (its past runs stay in Temporal; a run in progress finishes)`);
    return 0;
  });
}

/** The `schedule` command and its subcommands. */
export function registerScheduleCommands(program: Command): void {
  const schedule = program.command('schedule');
  schedule.description('scheduled failover drills on Temporal Schedules: create, list, describe, pause, unpause, trigger, update, delete');

  schedule
    .command('create')
    .description('schedule a drill of a cluster: never beside another operation on it, a missed run made up within 1 h, paused when a run fails or misses the objectives and the topology says so (objectives.pause_schedules_on_miss)')
    .argument('<cluster>', 'cluster name (its topology is the one of its latest operation), or a topology YAML file')
    .requiredOption('--fault <fault>', `one of ${FAULT_NAMES.join(', ')}`, faultName)
    .option('--cron <expr>', "when, as cron in UTC: '0 3 * * 1' is Mondays at 03:00")
    .option('--every <duration>', 'when, as an interval: 7d, 12h, 30m (at least 1m)')
    .option('--switch-back', 'switch back to the original leader at the end of each drill')
    .option('--paused', 'create it paused')
    .option('--note <text>', 'a note shown with the schedule')
    .option('--id <id>', 'the schedule id (default <cluster>-<fault>)')
    .option('--json', 'print the schedule as JSON')
    .action(
      exits(async (target: string, opts: Parameters<typeof scheduleCreateCommand>[1]) => {
        const topology = await topologyNamed(target);
        return topology ? scheduleCreateCommand(topology, opts) : 1;
      }),
    );

  schedule
    .command('list')
    .description("haflow's schedules: next run, last run's result (verdict, write downtime, lost writes), paused and why")
    .argument('[cluster]', 'only this cluster')
    .option('--json', 'as JSON')
    .action(exits((cluster: string | undefined, opts: { json?: boolean }) => scheduleListCommand(cluster, opts)));

  schedule
    .command('describe')
    .description('one schedule with its recent runs, their results and notifications')
    .argument('<id>', 'schedule id')
    .option('--json', 'as JSON')
    .action(exits((id: string, opts: { json?: boolean }) => scheduleDescribeCommand(id, opts)));

  schedule
    .command('pause')
    .description('stop further runs until unpaused')
    .argument('<id>', 'schedule id')
    .option('--reason <text>', 'why (shown in list)')
    .action(exits((id: string, opts: { reason?: string }) => schedulePauseCommand(id, opts)));

  schedule
    .command('unpause')
    .description('resume the timetable')
    .argument('<id>', 'schedule id')
    .action(exits((id: string) => scheduleUnpauseCommand(id)));

  schedule
    .command('trigger')
    .description('run the drill now (also when paused); its gates still refuse a busy or unhealthy cluster')
    .argument('<id>', 'schedule id')
    .option('--wait', 'wait for the result; exit 0 when the drill passed, 1 otherwise')
    .option('--json', 'with --wait: the result as JSON')
    .action(exits((id: string, opts: { wait?: boolean; json?: boolean }) => scheduleTriggerCommand(id, opts)));

  schedule
    .command('update')
    .description("change a schedule's timetable, fault, switch-back, note, or the topology its drills use")
    .argument('<id>', 'schedule id')
    .option('--cron <expr>', 'new timetable, cron in UTC')
    .option('--every <duration>', 'new timetable, an interval')
    .option('--fault <fault>', 'another fault', faultName)
    .option('--switch-back', 'switch back at the end of each drill')
    .option('--no-switch-back', 'do not switch back')
    .option('--note <text>', 'a new note')
    .option('--topology <cluster-or-file>', "the cluster's topology now (say, after `haflow tune`): a topology file, or the cluster's name for the one of its latest operation")
    .action(
      exits(async (id: string, opts: WhenOptions & { fault?: FaultName; switchBack?: boolean; note?: string; topology?: string }) => {
        const topology = opts.topology ? await topologyNamed(opts.topology) : undefined;
        if (opts.topology && !topology) return 1;
        return scheduleUpdateCommand(id, { ...opts, topology });
      }),
    );

  schedule
    .command('delete')
    .description('remove a schedule (its past runs stay in Temporal)')
    .argument('<id>', 'schedule id')
    .action(exits((id: string) => scheduleDeleteCommand(id)));
}

