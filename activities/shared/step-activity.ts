// The wrapper every step activity is registered through (activities/index.ts). It gives the
// activity a scope that remembers when the attempt started (so waits and commands end before
// Temporal's own time limit, with their own error) and every secret value the activity
// resolved, which it then removes from the result and from any error: a password cannot reach
// the workflow history, whatever path it took into a message or a diff.
import { AsyncLocalStorage } from 'node:async_hooks';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { redactValues } from './redact';

interface StepScope {
  startedAt: number;
  secrets: Set<string>;
}

const scope = new AsyncLocalStorage<StepScope>();

/** Called by resolveSecret: the value will be redacted from the activity's result and errors. */
export function rememberSecret(value: string): void {
  scope.getStore()?.secrets.add(value);
}

/** When the current attempt of the running step activity started; undefined outside one. */
export function attemptStartedAt(): number | undefined {
  return scope.getStore()?.startedAt;
}

/** The running activity's context, or undefined outside one (unit tests, the lab). */
export function currentActivity(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

export function heartbeat(detail?: unknown): void {
  currentActivity()?.heartbeat(detail);
}

/** Time kept back at the end of an attempt, so that a wait or a command fails with its own error first. */
const MARGIN_MS = 5_000;

/**
 * How long an activity may still wait or run a command: `wantedMs`, but never past its own
 * time limit (less a margin). Otherwise Temporal's timeout would fire first and the operator
 * would read "activity timed out" instead of what was being waited for.
 */
export function withinAttempt(wantedMs: number): number {
  const started = attemptStartedAt();
  const limit = currentActivity()?.info.startToCloseTimeoutMs;
  if (started === undefined || !limit) return wantedMs;
  return Math.max(1_000, Math.min(wantedMs, started + limit - Date.now() - MARGIN_MS));
}

/** Registers `body` as a step activity: same signature, with the scope above. */
export function stepActivity<I, R>(body: (input: I) => Promise<R>): (input: I) => Promise<R> {
  return (input: I) => {
    const current: StepScope = { startedAt: Date.now(), secrets: new Set() };
    return scope.run(current, async () => {
      try {
        return redactDeep(await body(input), current.secrets);
      } catch (err) {
        throw redactError(err, current.secrets);
      }
    });
  };
}

/** Every string inside a JSON-like value, with the secrets replaced. */
export function redactDeep<T>(value: T, secrets: ReadonlySet<string>): T {
  if (secrets.size === 0) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return redactValues(v, secrets);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/** The same error with its message and details cleaned; an ApplicationFailure keeps its type and retryability. */
export function redactError(err: unknown, secrets: ReadonlySet<string>): unknown {
  if (secrets.size === 0 || !(err instanceof Error)) return err;
  const message = redactValues(err.message, secrets);
  if (err instanceof ApplicationFailure) {
    return ApplicationFailure.create({
      type: err.type ?? undefined,
      message,
      nonRetryable: err.nonRetryable ?? undefined,
      details: redactDeep(err.details ?? [], secrets) as unknown[],
    });
  }
  if (message === err.message) return err;
  // A plain error (a library's): Temporal reports it as retryable, as it would the original.
  return new Error(message);
}
