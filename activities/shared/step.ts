// What every step activity shares: the host it acts on, its result, a bounded wait that
// heartbeats, and guard failures with the guide's remedy.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createConnection } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import type { Host, Topology } from '../../topology/schema';
import { StepFailureTypes, type HostInput, type StepResult } from '../contract';
import { targetFor, withHostSsh, type SshSession } from './ssh';
import { currentActivity, heartbeat, withinAttempt } from './step-activity';

export function hostOf(input: HostInput): Host {
  const host = input.topology.hosts.find((h) => h.name === input.host);
  if (!host) {
    throw ApplicationFailure.create({ type: StepFailureTypes.invalidInput, nonRetryable: true, message: `no host ${input.host} in cluster ${input.topology.cluster}` });
  }
  return host;
}

/** Runs `body` with one SSH session to the step's host. */
export function onHost<T>(input: HostInput, body: (ssh: SshSession, host: Host) => Promise<T>): Promise<T> {
  const host = hostOf(input);
  return withHostSsh(targetFor(input.topology, host), (ssh) => body(ssh, host));
}

export function onEachHost<T>(topology: Topology, hosts: Host[], body: (ssh: SshSession, host: Host) => Promise<T>): Promise<T[]> {
  return Promise.all(hosts.map((host) => withHostSsh(targetFor(topology, host), (ssh) => body(ssh, host))));
}

/** A step's result from the actions it took (or, in check mode, would take). */
export function stepResult(actions: string[], upToDate: string, details: string[] = [], facts?: StepResult['facts']): StepResult {
  const more = { details: details.length > 0 ? details : undefined, ...(facts ? { facts } : {}) };
  return actions.length === 0 ? { changed: false, summary: upToDate, ...more } : { changed: true, summary: actions.join('; '), ...more };
}

export function guardFailed(message: string, remedy: string): ApplicationFailure {
  return ApplicationFailure.create({ type: StepFailureTypes.guardFailed, nonRetryable: true, message, details: [{ remedy }] });
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
  const timeoutMs = withinAttempt(options.timeoutMs);
  const deadline = Date.now() + timeoutMs;
  let last = 'nothing yet';
  // A worker shutting down cancels its activities once its grace time is over: stop waiting then,
  // so the worker can exit and the step's next attempt runs on another one.
  // A probe may take seconds (a host that does not answer): the cancellation does not wait for it.
  const cancelled = currentActivity()?.cancellationSignal;
  const onCancel = cancelled
    ? new Promise<never>((_, reject) => {
        if (cancelled.aborted) reject(cancelled.reason);
        cancelled.addEventListener('abort', () => reject(cancelled.reason), { once: true });
      })
    : undefined;
  onCancel?.catch(() => undefined);
  const unlessCancelled = <V>(work: Promise<V>) => (onCancel ? Promise.race([work, onCancel]) : work);
  for (;;) {
    if (cancelled?.aborted) throw cancelled.reason;
    try {
      const seen = await unlessCancelled(probe());
      if ('done' in seen) return seen.done;
      last = seen.notYet;
    } catch (err) {
      if (cancelled?.aborted) throw cancelled.reason;
      if (err instanceof ApplicationFailure && err.nonRetryable) throw err;
      last = (err as Error).message;
    }
    heartbeat(last);
    if (Date.now() >= deadline) {
      throw ApplicationFailure.create({
        type: StepFailureTypes.timeout,
        message: `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}; last seen: ${last}`,
        details: options.remedy ? [{ remedy: options.remedy }] : undefined,
      });
    }
    await unlessCancelled(sleep(options.intervalMs ?? 1000));
  }
}

/** What an https:// request trusts: the cluster's CA bundle (./tls-client.ts). */
export interface TlsTrust {
  ca: string;
}

/** A request's method, headers, body and time limit; `tls` for an https:// URL. */
export interface HttpOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
  tls?: TlsTrust;
}

/**
 * An HTTP(S) request with a time limit; resolves with status and body, rejects on network and TLS
 * errors (with Node's code: ECONNREFUSED, CERT_HAS_EXPIRED, …) and on the time limit (name
 * `TimeoutError`). At the limit the socket is destroyed, connecting or not: fetch() leaves a
 * connection attempt to a host that drops packets running for its own 10 s, which kept a stopped
 * worker's process alive. An https:// URL is verified against `tls.ca` and the URL's host name or
 * address, as any TLS client does.
 */
export function httpCall(url: string, options: HttpOptions = {}): Promise<{ status: number; body: string }> {
  const { method = 'GET', headers = {}, body, timeoutMs = 3000, tls } = options;
  return new Promise((resolve, reject) => {
    const secure = url.startsWith('https:');
    if (secure && !tls) {
      reject(new Error(`${url}: an https:// request needs the CA bundle to verify the server with`));
      return;
    }
    const onResponse = (response: import('node:http').IncomingMessage) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        clearTimeout(limit);
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      response.on('error', fail);
    };
    const request = secure ? httpsRequest(url, { agent: false, method, headers, ca: tls!.ca }, onResponse) : httpRequest(url, { agent: false, method, headers }, onResponse);
    const limit = setTimeout(() => {
      const err = new Error(`no answer from ${url} within ${timeoutMs} ms`);
      err.name = 'TimeoutError';
      request.destroy(err);
    }, timeoutMs);
    function fail(err: Error) {
      clearTimeout(limit);
      reject(err);
    }
    request.on('error', fail);
    request.end(body);
  });
}

/** GET with a time limit: httpCall's GET. */
export function httpGet(url: string, timeoutMs = 3000, headers: Record<string, string> = {}, tls?: TlsTrust): Promise<{ status: number; body: string }> {
  return httpCall(url, { timeoutMs, headers, ...(tls ? { tls } : {}) });
}

/** Does anything accept a TCP connection on address:port within `timeoutMs`? A powered-off host does not. */
export function portAnswers(address: string, port: number, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: address, port });
    const done = (up: boolean) => {
      socket.destroy();
      resolve(up);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
