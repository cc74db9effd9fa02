// An operation that changes the application tier and the application monitor that fails it
// over never act at once, and agree on who the master is: at its start the operation holds the
// running monitor (whose answer says who it sees as master), and reads the roles the failovers
// recorded on the nodes; at its end it releases the monitor, or starts one (the guide's setup
// ends with its Application HA Observer running). Both use the worker's own Temporal client.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { holdUpdate, releaseUpdate, rolesQuery, type MonitorHold } from '../../connection/monitor-messages';
import { earlierMonitorWorkflowId, monitorWorkflowId } from '../../connection/workflow-ids';
import { appHosts, appMaster, monitorSettings, requireApp } from '../../topology/derive';
import type { Topology } from '../../topology/schema';
import type { ClusterInput, StepResult } from '../contract';
import { shellQuote } from '../shared/shell';
import { targetFor, withHostSsh } from '../shared/ssh';
import { guardFailed, sleep, stepResult } from '../shared/step';
import { withinAttempt } from '../shared/step-activity';
import { roleFilePath } from './config';

/** The cluster's running application monitors: under its id, and one started by an earlier version under its earlier id. */
async function runningMonitors(cluster: string): Promise<WorkflowHandle[]> {
  const client = Context.current().client;
  const running: WorkflowHandle[] = [];
  for (const workflowId of [monitorWorkflowId(cluster), earlierMonitorWorkflowId(cluster)]) {
    const handle = client.workflow.getHandle(workflowId);
    const runs = await handle
      .describe()
      .then((d) => d.status.name === 'RUNNING')
      .catch((err) => {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      });
    if (runs) running.push(handle);
  }
  return running;
}

const runningMonitor = async (cluster: string) => (await runningMonitors(cluster))[0];

/** This operation, as it holds a monitor. */
function holder(topology: Topology): MonitorHold {
  const info = Context.current().info;
  const run = info.workflowExecution!;
  return { workflowId: run.workflowId, runId: run.runId, what: `${(info.workflowType ?? 'operation').replace(/Workflow$/, '')} of cluster ${topology.cluster}` };
}

const remedyFor = (topology: Topology, master: string) =>
  `set app.master: ${master} in the topology (the application runs there now) and run it again; or make ${appMaster(topology)!.name} the master first: \`haflow app switchback ${topology.cluster}\` (with the application monitor running)`;

/** The roles the failovers and the install recorded on the nodes (/opt/HA/role): who says it is master. */
async function recordedMasters(topology: Topology): Promise<string[]> {
  const file = shellQuote(roleFilePath(topology));
  const roles = await Promise.all(
    appHosts(topology).map((host) => withHostSsh(targetFor(topology, host), async (ssh) => ({ host: host.name, role: (await ssh.exec(`cat ${file} 2>/dev/null`)).stdout.trim() }))),
  );
  return roles.filter((r) => r.role === 'master').map((r) => r.host);
}

/**
 * Gate of an operation on the application tier: the recorded roles and the running monitor (if
 * any) agree that the topology's app.master is the master, and the monitor holds its failovers
 * and switchbacks until this run ends or releases it. A monitor failing over is waited for.
 */
export async function holdAppMonitor(input: ClusterInput & { waitSeconds?: number }): Promise<StepResult> {
  const { topology } = input;
  const master = appMaster(topology)!.name;
  const elsewhere = (await recordedMasters(topology)).filter((host) => host !== master);
  if (elsewhere.length > 0) {
    throw guardFailed(
      `the topology says app.master ${master}, but ${elsewhere.join(', ')} ${elsewhere.length > 1 ? 'are' : 'is'} recorded as the application master (${roleFilePath(topology)}): the application was failed over, and acting on the topology's word would stop it where it runs`,
      remedyFor(topology, elsewhere[0]),
    );
  }
  const monitor = await runningMonitor(topology.cluster);
  if (!monitor) return stepResult([], `no application monitor runs for cluster ${topology.cluster}; the recorded roles agree: ${master} is the master`);
  if (input.check) {
    const roles = await monitor.query(rolesQuery);
    if (roles.master !== master) throw guardFailed(`the application monitor (${monitor.workflowId}) sees ${roles.master} as the application master, not the topology's app.master ${master}`, remedyFor(topology, roles.master));
    return stepResult([], `would hold the application monitor's failovers (${monitor.workflowId}) until this run ends; it sees ${master} as master too`);
  }
  const me = holder(topology);
  const deadline = Date.now() + withinAttempt((input.waitSeconds ?? 300) * 1000);
  for (;;) {
    try {
      const roles = await monitor.executeUpdate(holdUpdate, { args: [me] });
      if (roles.master !== master) {
        await monitor.executeUpdate(releaseUpdate, { args: [{ runId: me.runId }] });
        throw guardFailed(`the application monitor (${monitor.workflowId}) sees ${roles.master} as the application master, not the topology's app.master ${master}`, remedyFor(topology, roles.master));
      }
      // A hold changes nothing on the cluster: a second install still changes nothing.
      return stepResult([], `held the application monitor's failovers and switchbacks (${monitor.workflowId}) until this run ends; it sees ${master} as master too`);
    } catch (err) {
      // Refused while it fails over or switches back: that ends within minutes.
      if (!(err instanceof WorkflowUpdateFailedError) || Date.now() > deadline) throw err;
      Context.current().heartbeat(err.cause?.message ?? err.message);
      await sleep(2000);
    }
  }
}

/**
 * The end of an operation on the application tier: the monitor this run held is released; with
 * none running, one is started (unless app.monitor.autostart is false), so the application fails
 * over from now on, as at the end of the guide's setup.
 */
export async function startAppMonitor(input: ClusterInput): Promise<StepResult> {
  const { topology } = input;
  requireApp(topology);
  const monitor = await runningMonitor(topology.cluster);
  if (monitor) {
    if (input.check) return stepResult([], `the application monitor runs (${monitor.workflowId}); this run's hold would be released`);
    const released = await monitor.executeUpdate(releaseUpdate, { args: [{ runId: Context.current().info.workflowExecution!.runId }] });
    const running = `the application monitor runs (${monitor.workflowId}) with the topology it was started with; \`haflow monitor stop ${topology.cluster}\` and \`haflow monitor start\` give it this one's settings`;
    return stepResult([], released ? `released the application monitor's failovers: ${running}` : running);
  }
  if (!monitorSettings(topology).autostart) {
    return stepResult([], `no application monitor runs, and app.monitor.autostart is false: start it with \`haflow monitor start ${topology.cluster}\``);
  }
  const workflowId = monitorWorkflowId(topology.cluster);
  if (input.check) return stepResult([`would start the application monitor of cluster ${topology.cluster} (${workflowId})`], '');
  const { interval_seconds: interval, failures } = monitorSettings(topology);
  await Context.current()
    .client.workflow.start('appMonitorWorkflow', {
      workflowId,
      taskQueue: Context.current().info.taskQueue,
      args: [{ topology }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      staticSummary: `application monitor of cluster ${topology.cluster}`,
    });
  return stepResult([`started the application monitor of cluster ${topology.cluster} (${workflowId}): a check every ${interval} s, failover after ${failures} failures in a row; \`haflow monitor status ${topology.cluster}\``], '');
}

/**
 * The application monitor of a cluster stopped (cancelled, as `haflow monitor stop` does), so
 * that nothing fails the application over while a migration moves it; one started by an earlier
 * version, under its earlier workflow id, too. Idempotent: a monitor that does not run is left
 * so. Uses the worker's own client.
 */
export async function stopAppMonitor(input: Omit<ClusterInput, 'topology'> & { cluster: string }): Promise<StepResult> {
  const running = await runningMonitors(input.cluster);
  if (running.length === 0) return stepResult([], `no application monitor runs for cluster ${input.cluster}`);
  const ids = running.map((h) => h.workflowId).join(', ');
  if (input.check) return stepResult([`would stop the application monitor of cluster ${input.cluster} (${ids})`], '');
  for (const handle of running) {
    await handle.cancel();
    // Ended, or the step fails (and is retried): a monitor still running could fail the application over mid-migration.
    const deadline = Date.now() + 60_000;
    while ((await handle.describe()).status.name === 'RUNNING') {
      if (Date.now() > deadline) throw new Error(`the application monitor ${handle.workflowId} was asked to stop but still runs after 60 s`);
      Context.current().heartbeat();
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  return stepResult([`stopped the application monitor of cluster ${input.cluster} (${ids}): nothing fails the application over until \`haflow monitor start\``], '');
}
