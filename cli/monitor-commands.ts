// `haflow monitor start|stop|status` and `haflow app switchback`: the application monitor
// (workflows/app-monitor.ts; the guide's Application HA Observer) as an operator drives it.
import type { Command } from 'commander';
import { formatEvent } from '../runbooks/app-monitor';
import { monitorSettings, type Topology } from '../topology';
import { connect, exits, printJson, refusable, say, topologyNamed } from './support';
import { monitorStatus, startMonitor, stopMonitor, switchbackApp, type MonitorView } from '../client/monitor';

/** The monitor as `status` shows it: roles, phase, last check, events. */
export function formatMonitor(view: MonitorView, events = 10): string {
  const check = view.lastCheck;
  const lines = [
    `application monitor of cluster ${view.cluster} (${view.workflowId}), watching since ${view.since.replace(/\.\d+Z$/, 'Z')}`,
    `  master      ${view.master}`,
    `  slave       ${view.slave}`,
    `  phase       ${view.phase}${view.runbookId ? ` (runbook ${view.runbookId})` : ''}`,
    `  last check  ${check?.lastCheckAt ? `${check.lastCheckAt.replace(/\.\d+Z$/, 'Z')} ${check.master}: ${check.lastResult}` : 'none yet'}`,
    `  failures    ${check ? `${check.consecutiveFailures} in a row${check.firstFailureAt ? ` since ${check.firstFailureAt.replace(/\.\d+Z$/, 'Z')}` : ''} (${check.checks} checks this watch period)` : '-'}`,
    `  file sync   ${check?.lastSyncAt ? `${check.lastSyncAt.replace(/\.\d+Z$/, 'Z')} ${check.lastSync}` : 'none yet'}`,
    `  failovers   ${view.failovers}${view.unfenced ? `; ${view.unfenced} is not fenced yet (it was down): fenced when it answers` : ''}`,
    `  events (newest last):`,
    ...view.events.slice(-events).map((e) => `    ${formatEvent(e)}`),
  ];
  return lines.join('\n');
}

/** `haflow monitor start`. */
function monitorStartCommand(topology: Topology): Promise<number> {
  return refusable(async () => {
    const started = await startMonitor(await connect(), topology);
    const settings = monitorSettings(topology);
    say(`started the application monitor of cluster ${topology.cluster} (${started.workflowId}): a check every ${settings.interval_seconds} s, failover after ${settings.failures} failures in a row\nsee it: haflow monitor status ${topology.cluster}`);
    return 0;
  });
}

/** `haflow monitor status`: exit 1 while a failover runs or when the last one failed. */
function monitorStatusCommand(cluster: string, opts: { json?: boolean } = {}): Promise<number> {
  return refusable(async () => {
    const view = await monitorStatus(await connect(), cluster);
    if (opts.json) printJson(view);
    else say(formatMonitor(view));
    const last = view.events.at(-1)?.kind;
    return view.phase === 'watching' && last !== 'failover-failed' && last !== 'switchback-failed' ? 0 : 1;
  });
}

/** `haflow app switchback`. */
function appSwitchbackCommand(cluster: string, opts: { to?: string } = {}): Promise<number> {
  return refusable(async () => {
    say(await switchbackApp(await connect(), cluster, opts.to));
    return 0;
  });
}

export function registerMonitorCommands(program: Command): void {
  const monitor = program.command('monitor');
  monitor.description("the application monitor (the guide's Application HA Observer, its step 9): a durable workflow that watches the master application and fails it over to the slave when it stops answering");
  monitor
    .command('start')
    .description('start the application monitor of a cluster (one per cluster); it runs on the workers until stopped')
    .argument('<cluster>', 'cluster name (its topology is the one of its latest operation), or a topology YAML file')
    .action(
      exits(async (target: string) => {
        const topology = await topologyNamed(target);
        return topology ? monitorStartCommand(topology) : 1;
      }),
    );
  monitor
    .command('status')
    .description('the master and slave as the monitor sees them, its last check, failures in a row and event log; exit 1 when a failover is in progress or failed last')
    .argument('<cluster>', 'cluster name')
    .option('--json', 'as JSON')
    .action(exits(monitorStatusCommand));
  monitor
    .command('stop')
    .description('stop the application monitor of a cluster (a failover in progress is cancelled with it); exit 0 once it has ended')
    .argument('<cluster>', 'cluster name')
    .action(
      exits((cluster: string) =>
        refusable(async () => {
          await stopMonitor(await connect(), cluster);
          say(`stopped the application monitor of cluster ${cluster}`);
          return 0;
        }),
      ),
    );

  const app = program.command('app');
  app.description('the application tier');
  app
    .command('switchback')
    .description('switch the application back to the slave the monitor keeps fenced (the old master, once it is repaired): fence the current master, start the application there, swap the roles, verify through HAProxy')
    .argument('<cluster>', 'cluster name')
    .option('--to <host>', 'the node to make master (default: the slave)')
    .action(exits(appSwitchbackCommand));
}
