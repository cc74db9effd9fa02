// The application monitor's eyes: one long activity that asks the master application's health
// URL every interval and heartbeats what it saw. Healthy checks never reach the workflow's
// history (heartbeats are not history events); the activity returns only when the master has
// failed often enough in a row, or after its watch period, so the workflow can start a new one.
// A retried attempt (its worker died) goes on from the failure count of the last heartbeat.
import { CancelledFailure, Context } from '@temporalio/activity';
import { hostByName, monitorSettings, requireApp } from '../../topology/derive';
import type { Topology } from '../../topology/schema';
import { httpGet, portAnswers, sleep } from '../shared/step';
import { syncFiles } from './sync';

export interface WatchInput {
  topology: Topology;
  /** The application master the monitor watches now. */
  master: string;
  /** Return after this long even when all is well (the workflow then watches again). */
  watchSeconds: number;
  /** An old master that could not be fenced: the watch returns as soon as it answers again (unfencedAnswers). */
  unfenced?: string;
  /** Push app.sync_dirs from the master to this node every app.sync_interval_seconds, meanwhile. */
  syncTo?: string;
}

/** What the monitor last saw, kept in the heartbeat: `haflow monitor status` shows it. */
export interface WatchState {
  master: string;
  checks: number;
  consecutiveFailures: number;
  lastCheckAt?: string;
  lastResult?: string;
  /** The last check got an HTTP answer (the machine and its web server are up, whatever the status). */
  lastAnswered?: boolean;
  firstFailureAt?: string;
  /** The last file sync from the master to the slave: when, and what it did or why it failed. */
  lastSyncAt?: string;
  lastSync?: string;
}

export type WatchResult =
  | { outcome: 'watched'; state: WatchState }
  | { outcome: 'failing'; state: WatchState }
  | { outcome: 'unfenced-back'; state: WatchState; answered: string };

/** One check: 200 within the time limit is healthy; anything else is a failure, described. */
export async function checkAppHealth(url: string, timeoutMs: number): Promise<{ healthy: boolean; answered: boolean; result: string }> {
  try {
    const response = await httpGet(url, timeoutMs);
    const body = response.body.trim().split('\n')[0].slice(0, 160);
    return { healthy: response.status === 200, answered: true, result: `HTTP ${response.status}${body ? `: ${body}` : ''}` };
  } catch (err) {
    const { name, code, message } = err as Error & { code?: string };
    return { healthy: false, answered: false, result: name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (code ?? message) };
  }
}

/**
 * After the database came back: whether the master's application answers again within `seconds`
 * (it failed because its database did). Checks every monitor interval, heartbeating.
 */
export async function appAnswersWithin(input: { topology: Topology; master: string; seconds: number }): Promise<{ healthy: boolean; result: string }> {
  const settings = monitorSettings(input.topology);
  const url = masterHealthUrl(input.topology, input.master);
  const until = Date.now() + input.seconds * 1000;
  const cancelled = Context.current().cancellationSignal;
  for (;;) {
    // A worker shutting down cancels it after its grace time: stop, so the worker can exit.
    if (cancelled.aborted) throw cancelled.reason;
    const { healthy, answered, result } = await checkAppHealth(url, settings.timeout_seconds * 1000);
    Context.current().heartbeat(result);
    // A master that stops answering at all is not coming back with the database.
    if (healthy || !answered || Date.now() >= until) return { healthy, result };
    await sleep(settings.interval_seconds * 1000);
  }
}

/**
 * An old master that could not be fenced: back once its web server answers, or, in the classic
 * layout, once its database accepts connections (its web server may not come up at all).
 */
async function unfencedAnswers(topology: Topology, node: string, timeoutMs: number): Promise<{ answered: boolean; result: string }> {
  const app = await checkAppHealth(masterHealthUrl(topology, node), timeoutMs);
  if (app.answered || topology.layout !== 'classic') return app;
  const { address } = hostByName(topology, node);
  const port = topology.postgresql.port;
  return (await portAnswers(address, port, timeoutMs)) ? { answered: true, result: `PostgreSQL accepts connections on ${address}:${port}` } : app;
}

export function masterHealthUrl(topology: Topology, master: string): string {
  const app = requireApp(topology);
  return `http://${hostByName(topology, master).address}:${app.http_port}${app.health_path}`;
}

export async function watchAppHealth(input: WatchInput): Promise<WatchResult> {
  const { topology, master } = input;
  const settings = monitorSettings(topology);
  const url = masterHealthUrl(topology, master);
  const context = Context.current();
  const carried = context.info.heartbeatDetails as WatchState | undefined;
  // A retry of an attempt that died carries its count on, for the same master only.
  const state: WatchState = carried?.master === master ? carried : { master, checks: 0, consecutiveFailures: 0 };
  const until = Date.now() + input.watchSeconds * 1000;
  // File sync runs beside the checks, one at a time, so a long one never delays a check.
  let syncing: Promise<void> | undefined;
  let nextSyncAt = Date.now();
  const sync = (to: string) =>
    syncFiles(topology, hostByName(topology, master), hostByName(topology, to), { check: false, verify: false }).then(
      (outcome) => {
        state.lastSync = [...outcome.actions, ...outcome.transferred].join('; ');
      },
      (err: Error) => {
        state.lastSync = `failed: ${err.message.slice(0, 300)}`;
      },
    ).finally(() => {
      state.lastSyncAt = new Date().toISOString();
      syncing = undefined;
    });
  const cancelled = Context.current().cancellationSignal;
  for (;;) {
    // A worker shutting down cancels it after its grace time: stop (the heartbeat keeps the state).
    if (cancelled.aborted) throw cancelled.reason;
    if (input.syncTo && requireApp(topology).sync_dirs.length > 0 && !syncing && Date.now() >= nextSyncAt) {
      nextSyncAt = Date.now() + requireApp(topology).sync_interval_seconds * 1000;
      syncing = sync(input.syncTo);
    }
    const started = Date.now();
    const [seen, unfenced] = await Promise.all([
      checkAppHealth(url, settings.timeout_seconds * 1000),
      input.unfenced ? unfencedAnswers(topology, input.unfenced, settings.timeout_seconds * 1000) : undefined,
    ]);
    state.checks += 1;
    state.lastCheckAt = new Date().toISOString();
    state.lastResult = seen.result;
    state.lastAnswered = seen.answered;
    if (seen.healthy) {
      state.consecutiveFailures = 0;
      state.firstFailureAt = undefined;
    } else {
      state.consecutiveFailures += 1;
      state.firstFailureAt ??= state.lastCheckAt;
    }
    context.heartbeat(state);
    if (state.consecutiveFailures >= settings.failures) return { outcome: 'failing', state };
    if (unfenced?.answered) return { outcome: 'unfenced-back', state, answered: unfenced.result };
    if (Date.now() >= until) {
      await syncing;
      return { outcome: 'watched', state };
    }
    // The cancellation (monitor stopped, switchback asked) is delivered with a heartbeat.
    await Promise.race([sleep(Math.max(0, settings.interval_seconds * 1000 - (Date.now() - started))), context.cancelled]).catch((err) => {
      if (err instanceof CancelledFailure) throw err;
    });
  }
}
