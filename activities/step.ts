// What every step activity shares: its input (the topology, the host, check mode), its
// result, a bounded wait that heartbeats, and guard failures with the guide's remedy.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Host, Topology } from '../topology/schema';
import type { StepInput, StepResult } from '../workflows/runbook';
import { targetFor, withSsh, type SshSession } from './ssh';
import { timed } from './timing';

export type ClusterInput = StepInput<{ topology: Topology }>;
export type HostInput = StepInput<{ topology: Topology; host: string }>;

export function hostOf(input: HostInput): Host {
  const host = input.topology.hosts.find((h) => h.name === input.host);
  if (!host) {
    throw ApplicationFailure.create({ type: 'InvalidInput', nonRetryable: true, message: `no host ${input.host} in cluster ${input.topology.cluster}` });
  }
  return host;
}

/** Runs `body` with one SSH session to the step's host. */
export function onHost<T>(input: HostInput, body: (ssh: SshSession, host: Host) => Promise<T>): Promise<T> {
  const host = hostOf(input);
  return withSsh(targetFor(input.topology, host), (ssh) => body(ssh, host));
}

export function onEachHost<T>(topology: Topology, hosts: Host[], body: (ssh: SshSession, host: Host) => Promise<T>): Promise<T[]> {
  return Promise.all(hosts.map((host) => withSsh(targetFor(topology, host), (ssh) => body(ssh, host))));
}

/** A step's result from the actions it took (or, in check mode, would take). */
export function stepResult(actions: string[], upToDate: string, details: string[] = []): StepResult {
  return actions.length === 0
    ? { changed: false, summary: upToDate, details: details.length > 0 ? details : undefined }
    : { changed: true, summary: actions.join('; '), details: details.length > 0 ? details : undefined };
}

export function guardFailed(message: string, remedy: string): ApplicationFailure {
  return ApplicationFailure.create({ type: 'GuardFailed', nonRetryable: true, message, details: [{ remedy }] });
}

function heartbeat(detail?: unknown): void {
  try {
    Context.current().heartbeat(detail);
  } catch {
    // not inside an activity (unit tests)
  }
}

/** What a probe of `waitFor` saw: done with a value, or not yet and why. */
export type Probe<T> = { done: T } | { notYet: string };

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` until it returns a value (not undefined), heartbeating, for at most
 * `timeoutMs`; then fails with the last thing seen, so the operator knows what was missing.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<Probe<T>>,
  options: { timeoutMs: number; intervalMs?: number; remedy?: string },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let last = 'nothing yet';
  for (;;) {
    try {
      const seen = await probe();
      if ('done' in seen) return seen.done;
      last = seen.notYet;
    } catch (err) {
      if (err instanceof ApplicationFailure && err.nonRetryable) throw err;
      last = (err as Error).message;
    }
    heartbeat(last);
    if (Date.now() >= deadline) {
      throw ApplicationFailure.create({
        type: 'Timeout',
        message: `timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for ${what}; last seen: ${last}`,
        details: options.remedy ? [{ remedy: options.remedy }] : undefined,
      });
    }
    await timed('wait', () => sleep(options.intervalMs ?? 1000));
  }
}

/** GET a URL with a time limit; resolves with status and body, rejects on network errors. */
export function httpGet(url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return timed('remote', async () => {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: response.status, body: await response.text() };
  });
}
