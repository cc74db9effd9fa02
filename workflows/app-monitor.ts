// The application monitor (the guide's Application HA Observer, its step 9, as a durable workflow; one per cluster). It
// watches the master application's health through one long heartbeating activity: healthy
// checks add nothing to the history. When the master fails often enough in a row, and the
// database tier has a leader, it runs the application failover runbook as a child and swaps the
// roles; the old master, fenced, stays slave until `haflow app switchback`. It continues as new
// after a bounded number of watch periods, carrying its state and event log, so its history
// stays small over months. Stopping it is cancelling it (`haflow monitor stop`).
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  executeChild,
  isCancellation,
  ParentClosePolicy,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  TemporalFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities';
import type { WatchResult } from '../activities/app/watch';
import { appFailoverSteps, appFenceSteps } from '../runbooks/app-failover';
import { formatEvent, initialMonitorState, secondsBetween, swapped, withEvent, type MonitorEvent, type MonitorState } from '../runbooks/app-monitor';
import type { Topology } from '../topology/schema';
import { monitorSettings } from '../topology/derive';
import { appFailoverWorkflow } from './app-failover';
import { statesWithMarks } from './legacy-marks';
import { holdUpdate, releaseUpdate, rolesQuery, type MonitorHold } from '../connection/monitor-messages';
import type { RunbookOutcome } from './protocol';

export interface AppMonitorInput {
  topology: Topology;
  /** Carried over continue-as-new. */
  state?: MonitorState;
  /** One watch period: the activity returns after it when all is well (default 1 h). */
  watchSeconds?: number;
  /** Watch periods before the workflow continues as new (default 24). */
  periodsPerRun?: number;
  /** How long a failover waits for a database leader before it watches again (default 10 min). */
  leaderWaitSeconds?: number;
}

export type MonitorPhase = 'watching' | 'waiting for a database leader' | 'failing over' | 'switching back';

export interface MonitorStatus extends MonitorState {
  phase: MonitorPhase;
  /** The child runbook running now (failover or switchback), for `haflow status`-like following. */
  runbookId?: string;
}

export const monitorStatusQuery = defineQuery<MonitorStatus>('monitorStatus');
/** Switch the application back to `to` (default: the slave); answers with the event's message. */
export const switchbackUpdate = defineUpdate<string, [{ to?: string }]>('switchback');

export { monitorWorkflowId } from '../connection/workflow-ids';

const { readClusterHealth, appAnswersWithin, runningClusterOperation } = proxyActivities<typeof activities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '30s',
  retry: { maximumAttempts: 3, initialInterval: '2s' },
});

/** A blocked step of a failover waits this long for an operator, then the monitor watches again. */
const BLOCKED_MINUTES = 10;

export async function appMonitorWorkflow(input: AppMonitorInput): Promise<void> {
  const { topology } = input;
  const watchSeconds = input.watchSeconds ?? 3600;
  const { watchAppHealth } = proxyActivities<typeof activities>({
    startToCloseTimeout: `${watchSeconds + 120}s`,
    // A worker that dies is noticed this fast; the retry on another worker carries the count on.
    heartbeatTimeout: `${Math.max(15, monitorSettings(topology).interval_seconds * 3)}s`,
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s' },
  });
  let state = input.state ?? initialMonitorState(topology, new Date());
  let phase: MonitorPhase = 'watching';
  let runbookId: string | undefined;
  let watchScope: CancellationScope | undefined;
  let switchback: { to: string; result?: { ok: boolean; message: string } } | undefined;

  const record = (event: Omit<MonitorEvent, 'at'> & { at?: string }) => {
    state = withEvent(state, { at: new Date().toISOString(), ...event });
    setCurrentDetails(`**${phase}** — master ${state.master}, slave ${state.slave}\n\n${state.events.slice(-5).map(formatEvent).join('\n\n')}`);
  };

  setHandler(monitorStatusQuery, () => ({ ...state, phase, ...(runbookId ? { runbookId } : {}) }));
  setHandler(rolesQuery, () => ({ master: state.master, slave: state.slave, ...(state.hold ? { hold: { workflowId: state.hold.workflowId, runId: state.hold.runId, what: state.hold.what } } : {}) }));
  setHandler(
    switchbackUpdate,
    async ({ to }) => {
      switchback = { to: to ?? state.slave };
      watchScope?.cancel();
      await condition(() => switchback?.result !== undefined);
      const { ok, message } = switchback.result!;
      switchback = undefined;
      if (!ok) throw ApplicationFailure.create({ type: 'SwitchbackFailed', nonRetryable: true, message });
      return message;
    },
    {
      validator: ({ to }) => {
        if (switchback) throw new Error('a switchback is in progress already');
        if (phase !== 'watching') throw new Error(`the monitor is ${phase}; switch back once it watches again`);
        if (state.hold) throw new Error(`the ${state.hold.what} (${state.hold.workflowId}) holds failovers and switchbacks until it ends`);
        const target = to ?? state.slave;
        if (target === state.master) throw new Error(`${target} is the application master already`);
        if (target !== state.slave) throw new Error(`${target} is not the application's slave (${state.slave})`);
      },
    },
  );
  // An operation that changes the application tier holds failovers and switchbacks until it ends:
  // the two never act at once, and the operation learns who the master is now.
  setHandler(
    holdUpdate,
    (hold) => {
      if (state.hold?.runId !== hold.runId) {
        state = { ...state, hold: { ...hold, since: new Date().toISOString() } };
        record({ kind: 'held', message: `failovers and switchbacks held by the ${hold.what} (${hold.workflowId}) until it ends` });
      }
      return { master: state.master, slave: state.slave };
    },
    {
      validator: (_hold: MonitorHold) => {
        if (phase === 'failing over' || phase === 'switching back' || switchback) throw new Error(`the application monitor is ${switchback ? 'switching back' : phase}; hold it once it watches again`);
      },
    },
  );
  setHandler(releaseUpdate, ({ runId }) => {
    if (state.hold?.runId !== runId) return false;
    record({ kind: 'released', message: `failovers and switchbacks released by the ${state.hold.what} (${state.hold.workflowId})` });
    state = { ...state, hold: undefined };
    return true;
  });

  /**
   * While an operation holds the monitor: waits until it releases it or no longer runs (an
   * install that blocked and was aborted releases nothing), saying so once.
   */
  const waitWhileHeld = async (what: string): Promise<void> => {
    let said = false;
    while (state.hold) {
      const running = await runningClusterOperation({ cluster: topology.cluster });
      if (!running || running.runId !== state.hold.runId) {
        record({ kind: 'released', message: `the ${state.hold.what} (${state.hold.workflowId}) that held failovers no longer runs: released` });
        state = { ...state, hold: undefined };
        return;
      }
      if (!said) {
        record({ kind: 'held', message: `${what} waits: the ${state.hold.what} (${state.hold.workflowId}) holds failovers until it ends` });
        said = true;
      }
      await condition(() => !state.hold, '10s');
    }
  };

  // A new run after continue-as-new adds no event: the log is for what happened to the application.
  setCurrentDetails(`**${phase}** — master ${state.master}, slave ${state.slave}`);

  /** The application failover or switchback runbook as a child; the roles swap when it completes. */
  const runFailover = async (planned: boolean, times: { firstFailureAt?: string; detectedAt?: string }): Promise<{ ok: boolean; message: string }> => {
    const from = state.master;
    const to = state.slave;
    const kind = planned ? 'switchback' : 'failover';
    runbookId = `${workflowInfo().workflowId}-${kind}-${state.failovers + 1}`;
    try {
      const outcome: RunbookOutcome = await executeChild(appFailoverWorkflow, {
        workflowId: runbookId,
        args: [{ runbook: appFailoverSteps(topology, { from, to, planned }), topology, abortBlockedAfterMinutes: BLOCKED_MINUTES }],
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      });
      const steps = statesWithMarks(planned ? 'app-switchback' : 'app-failover', outcome.steps);
      const verified = steps.filter((s) => s.mark === 'app-verified').map((s) => s.finishedAt!).sort().at(-1) ?? new Date().toISOString();
      // The classic layout fences the database too: either fence not done leaves the node unfenced.
      const fences = steps.filter((s) => s.mark === 'fence');
      const notFenced = fences.some((s) => s.facts?.fenced === false);
      const rebuilt = planned && topology.layout === 'classic' ? ` and rebuilt as a standby of ${to}` : '';
      const fenced = notFenced ? `; ${from} could not be fenced (unreachable): it will be when it answers again` : `; ${from} fenced${rebuilt}`;
      state = { ...swapped(state), failovers: state.failovers + 1, unfenced: notFenced ? from : undefined };
      const took = times.firstFailureAt ? `, ${secondsBetween(times.firstFailureAt, verified)} s after the first failed check` : '';
      const message = `${planned ? 'switched the application back' : 'failed the application over'} from ${from} to ${to}${fenced}; it answers through HAProxy from ${to} since ${verified}${took}`;
      record({ kind, message, ...times, answeringAt: verified });
      return { ok: true, message };
    } catch (err) {
      if (isCancellation(err) && !(err instanceof ChildWorkflowFailure)) throw err;
      const cause = err instanceof ChildWorkflowFailure ? (err.cause?.message ?? err.message) : err instanceof TemporalFailure ? err.message : String(err);
      const message = `${kind} from ${from} to ${to} did not complete: ${cause}; ${from} stays master in the monitor's view, see \`haflow monitor status ${topology.cluster}\``;
      record({ kind: planned ? 'switchback-failed' : 'failover-failed', message, ...times });
      return { ok: false, message };
    } finally {
      runbookId = undefined;
    }
  };

  /** The old master, down during the failover, answers again: fence it before it takes users. */
  const fenceReturned = async (node: string, answered: string): Promise<void> => {
    runbookId = `${workflowInfo().workflowId}-fence-${state.failovers}`;
    try {
      await executeChild(appFailoverWorkflow, {
        workflowId: runbookId,
        args: [{ runbook: appFenceSteps(topology, node, state.master), topology, abortBlockedAfterMinutes: BLOCKED_MINUTES }],
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      });
      state = { ...state, unfenced: undefined };
      const what = topology.layout === 'classic' ? 'its database stopped and read-only if started, nginx and the application stopped and disabled' : 'nginx and the application stopped and disabled';
      record({ kind: 'fenced', message: `${node} answered again (${answered}): fenced (${what}) and recorded as slave; \`haflow app switchback ${topology.cluster}\` makes it master again` });
    } catch (err) {
      if (isCancellation(err) && !(err instanceof ChildWorkflowFailure)) throw err;
      const cause = err instanceof ChildWorkflowFailure ? (err.cause?.message ?? err.message) : String(err);
      record({ kind: 'fence-failed', message: `${node} answers again (${answered}) but could not be fenced: ${cause}; stop ${topology.app!.nginx_service} on it by hand` });
      await sleep('1m');
    } finally {
      runbookId = undefined;
    }
  };

  /**
   * True once the database tier has a leader that HAProxy sends writes to (and whether it had to
   * wait for one); records a refusal (once) while it has none. Without HAProxy (the observer's
   * machine down) no application can write, whichever node serves it.
   */
  const databaseLeader = async (): Promise<{ leader: boolean; waited: boolean }> => {
    // The classic layout has no database leader to wait for: its failover promotes the slave's database.
    if (topology.layout === 'classic') return { leader: true, waited: false };
    const waitUntil = Date.now() + (input.leaderWaitSeconds ?? 600) * 1000;
    let refused = false;
    for (;;) {
      const health = await readClusterHealth({ topology });
      const routed = health.haproxy.length > 0 && health.haproxy.every((h) => h.routesTo.length === 1 && h.routesTo[0] === health.leader);
      if (health.leader && routed) return { leader: true, waited: refused };
      if (!refused) {
        phase = 'waiting for a database leader';
        const why = health.leader ? `HAProxy does not send writes to its leader ${health.leader}` : 'the database tier has no leader';
        record({ kind: 'failover-refused', message: `not failing the application over yet: ${why} (${health.problems.slice(0, 2).join('; ') || 'no leader in etcd'}); waiting for one` });
        refused = true;
      }
      if (Date.now() >= waitUntil) return { leader: false, waited: true };
      // Every second: users wait for this (a few events a second in the history, only while waiting).
      await sleep('1s');
    }
  };

  for (let period = 0; ; period++) {
    if (period >= (input.periodsPerRun ?? 24) || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof appMonitorWorkflow>({ ...input, state });
    }
    // Asked and not yet done (the update's handler clears it once it has read the result).
    if (switchback && !switchback.result) {
      phase = 'switching back';
      switchback.result = await runFailover(true, {});
      phase = 'watching';
      continue;
    }
    let watched: WatchResult;
    try {
      watchScope = new CancellationScope();
      watched = await watchScope.run(() => watchAppHealth({ topology, master: state.master, watchSeconds, ...(state.unfenced ? { unfenced: state.unfenced } : { syncTo: state.slave }) }));
    } catch (err) {
      // Cancelled to switch back (the monitor itself was not cancelled): do that next.
      if (isCancellation(err) && switchback && !CancellationScope.current().consideredCancelled) continue;
      throw err;
    } finally {
      watchScope = undefined;
    }
    if (watched.outcome === 'watched') continue;
    if (watched.outcome === 'unfenced-back') {
      await fenceReturned(state.unfenced!, watched.answered);
      continue;
    }

    const detectedAt = new Date().toISOString();
    const { firstFailureAt, consecutiveFailures, lastResult } = watched.state;
    record({ kind: 'master-failing', message: `the master application ${state.master} failed ${consecutiveFailures} checks in a row since ${firstFailureAt}: ${lastResult}`, firstFailureAt, detectedAt });
    const database = await databaseLeader();
    if (!database.leader) {
      phase = 'watching';
      record({ kind: 'failover-refused', message: `gave up waiting for a database leader after ${input.leaderWaitSeconds ?? 600} s; watching ${state.master} again` });
      continue;
    }
    if (watched.state.lastAnswered) {
      // Its web server answered, unhealthy: the application may have failed because its database
      // did (an etcd or observer outage, say). With the database taking writes it may answer 200
      // again, and then there is nothing to fail over. A machine that does not answer at all is not
      // waited for. After a database outage HAProxy needs a few checks to route to the leader again.
      const { interval_seconds: interval, failures } = monitorSettings(topology);
      const { inter, fall, rise } = topology.haproxy.check;
      const grace = database.waited ? Math.max(15, interval * failures + inter * (fall + rise + 2)) : interval * failures;
      const again = await appAnswersWithin({ topology, master: state.master, seconds: grace });
      if (again.healthy) {
        phase = 'watching';
        record({ kind: 'master-recovered', message: `${state.master} answers again now that the database has a leader (${again.result}): no application failover` });
        continue;
      }
    }
    if (state.hold) {
      // Held: once the holder has ended, the master is watched again before anything fails over.
      await waitWhileHeld(`the failover of ${state.master}`);
      phase = 'watching';
      continue;
    }
    phase = 'failing over';
    const failover = await runFailover(false, { firstFailureAt, detectedAt });
    phase = 'watching';
    // A failover that could not complete is not tried again at once: the master's checks fail
    // again within seconds, and an operator needs a moment to read the event log.
    if (!failover.ok) await sleep('1m');
  }
}
