// Notifications of scheduled drills (`notify:` in the topology): a JSON POST to a webhook and/or
// a command run on the worker with the same JSON on its standard input.
//
// Delivery is at least once: an attempt that timed out may have been received, and Temporal
// retries it, so a receiver can see one notification twice. Both channels carry the
// notification's id (the webhook's Idempotency-Key header, the `id` of the JSON a command reads)
// for the receiver to drop the duplicate; nothing here keeps state of its own.
//
// A webhook URL from a secret reference often holds a token in its path or query (Slack, Teams),
// so messages name the reference it came from, never the URL; a literal URL is named by its
// origin only. The authorization value is never named. The step wrapper (stepActivity) also
// redacts every resolved value, in case a receiver echoes one back in its answer.
import { spawn } from 'node:child_process';
import { ApplicationFailure } from '@temporalio/common';
import type { SecretRef, Topology } from '../../topology';
import type { Notification } from './notification';
import { StepFailureTypes } from '../contract';
import { commandEnvironment, redactCommandOutput } from '../shared/local-process';
import { describeSecret, resolveSecret } from '../shared/secrets';
import { currentActivity, heartbeat, rememberSecret, withinAttempt } from '../shared/step-activity';

export const NotifyFailureTypes = {
  /** The receiver did not take it (network, timeout, 5xx, 408, 429, a command's exit): worth retrying. */
  failed: 'NotifyFailed',
  /** The receiver refused the request itself (4xx, a redirect): retrying the same request cannot help. */
  refused: 'NotifyRefused',
} as const;

export interface NotifyInput {
  topology: Topology;
  notification: Notification;
  /** Check mode: send nothing, say what would be sent. */
  check?: boolean;
}

/** How long a notify command may run (the workflow gives an attempt 2 minutes). */
const COMMAND_TIMEOUT_MS = 60_000;
/** After SIGTERM to a timed-out command's process group, how long before SIGKILL. */
const KILL_GRACE_MS = 2_000;
/** After the shell exited, how long to wait for its output pipes (held by something it left running). */
const PIPE_GRACE_MS = 500;

/** The webhook as messages may name it: the reference it came from, or a literal URL's origin. */
export function describeWebhook(url: string | SecretRef): string {
  if (typeof url !== 'string') return `the webhook (url from ${describeSecret(url)})`;
  return URL.canParse(url) ? `the webhook at ${new URL(url).origin}` : 'the webhook (notify.webhook.url)';
}

function refused(message: string, remedy: string, type: string = NotifyFailureTypes.refused): ApplicationFailure {
  return ApplicationFailure.create({ type, nonRetryable: true, message, details: [{ remedy }] });
}

function failed(message: string, remedy: string): ApplicationFailure {
  return ApplicationFailure.create({ type: NotifyFailureTypes.failed, message, details: [{ remedy }] });
}

/** A timeout, or the activity's cancellation (whichever comes first) for a request. */
function requestSignal(timeout: AbortSignal): AbortSignal {
  const cancelled = currentActivity()?.cancellationSignal;
  return cancelled ? AbortSignal.any([timeout, cancelled]) : timeout;
}

/** The first characters of an answer's body, on one line, for a message. */
function bodyExcerpt(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}

export async function sendWebhook(input: NotifyInput): Promise<{ summary: string; status?: number }> {
  const webhook = input.topology.notify?.webhook;
  if (!webhook) return { summary: 'no webhook is configured (notify.webhook): nothing sent' };
  const n = input.notification;
  const where = describeWebhook(webhook.url);
  const auth = webhook.authorization ? `, an Authorization header from ${describeSecret(webhook.authorization)}` : '';
  if (input.check) {
    return {
      summary: `would POST the ${n.verdict} notification of ${n.cluster} (${Buffer.byteLength(JSON.stringify(n))} bytes of JSON, Idempotency-Key ${n.id}${auth}) to ${where}, waiting up to ${webhook.timeout_seconds} s`,
    };
  }

  const url = typeof webhook.url === 'string' ? webhook.url : resolveSecret(webhook.url, 'notify.webhook.url');
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
    throw refused(`${where} is not an http:// or https:// URL`, `put the webhook's full http(s) URL in notify.webhook.url, then retry`, StepFailureTypes.invalidConfig);
  }
  if (typeof webhook.url !== 'string') {
    // The token of such a URL is usually its path or query: keep those out of anything returned, too.
    const { pathname, search } = new URL(url);
    if (pathname.length > 1) rememberSecret(pathname);
    if (search.length > 1) rememberSecret(search);
  }
  let headers: Headers;
  try {
    headers = new Headers({ 'Content-Type': 'application/json', 'User-Agent': 'haflow', 'Idempotency-Key': n.id });
    if (webhook.authorization) headers.set('Authorization', resolveSecret(webhook.authorization, 'notify.webhook.authorization'));
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err;
    // Headers' own message quotes the value: never pass it on.
    throw refused(
      `notify.webhook.authorization: the value of ${describeSecret(webhook.authorization!)} is not a valid HTTP header value`,
      `write the header's value (such as "Bearer <token>") in ${describeSecret(webhook.authorization!)}, then retry`,
      StepFailureTypes.invalidConfig,
    );
  }

  const timeoutMs = withinAttempt(webhook.timeout_seconds * 1000);
  const timeout = AbortSignal.timeout(timeoutMs);
  const waited = `${Math.round(timeoutMs / 100) / 10} s`;
  heartbeat(`POST to ${where}`);
  const beat = setInterval(() => heartbeat(`POST to ${where}`), 1000);
  let status: number;
  let text: string;
  let location: string | null;
  try {
    // Redirects are not followed: fetch would turn the POST into a GET, or carry the
    // Authorization header to wherever the receiver points.
    const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(n), signal: requestSignal(timeout), redirect: 'manual' });
    status = response.status;
    location = response.headers.get('location');
    text = await response.text();
  } catch (err) {
    if (timeout.aborted) {
      throw failed(`${where} did not answer within ${waited}`, `check that the receiver is up and answers within notify.webhook.timeout_seconds; haflow retries the delivery`);
    }
    const cancelled = currentActivity()?.cancellationSignal;
    if (cancelled?.aborted) throw cancelled.reason;
    // undici says "fetch failed" and puts the reason (ECONNREFUSED, ENOTFOUND, …) in its cause. Only
    // its code: the cause's message may hold the host of a URL from a reference.
    const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
    const code = typeof cause?.code === 'string' ? cause.code : undefined;
    const detail = code ?? (typeof webhook.url === 'string' && typeof cause?.message === 'string' ? cause.message : (err as Error).name);
    throw failed(`${where} could not be reached: ${detail}`, `check the worker's network path to the receiver, and that the receiver is up; haflow retries the delivery`);
  } finally {
    clearInterval(beat);
  }
  heartbeat(`${where} answered HTTP ${status}`);

  if (status >= 200 && status < 300) return { summary: `sent the ${n.verdict} notification to ${where}: HTTP ${status}`, status };
  const body = bodyExcerpt(text);
  const answered = `${where} answered HTTP ${status}${body ? `: ${body}` : ''}`;
  if (status >= 300 && status < 400) {
    const to = typeof webhook.url === 'string' && location && URL.canParse(location, url) ? ` to ${new URL(location, url).origin}` : '';
    throw refused(`${where} answered HTTP ${status}, a redirect${to}, which haflow does not follow`, `set notify.webhook.url to the URL the receiver redirects to, then retry`);
  }
  if (status >= 500 || status === 408 || status === 429) {
    throw failed(answered, `the receiver failed or is busy; haflow retries the delivery. If it persists, look at the receiver's logs`);
  }
  if (status >= 400) {
    // The receiver refuses the request itself (a wrong path, token or payload): the same request again will not help.
    const remedy =
      status === 401 || status === 403
        ? `check the token: notify.webhook.authorization${webhook.authorization ? ` (${describeSecret(webhook.authorization)})` : ' is not set'}, or the token in the URL`
        : `check notify.webhook.url and what the receiver expects`;
    throw refused(answered, `${remedy}; the receiver refused the notification, so it is not retried`);
  }
  throw failed(answered, `the receiver answered with an unexpected status; haflow retries the delivery`);
}

interface CommandRun {
  /** The exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Output kept of a command: its end, enough that a secret cut at the start of it is far from the lines shown. */
const OUTPUT_KEPT = 64 * 1024;

/**
 * Runs `command` with /bin/sh -c in a process group of its own; stops the whole group on timeout
 * or cancellation. Its environment is the worker's minimal one (shared/local-process.ts) and `env`.
 */
function runShell(command: string, stdin: string, env: Record<string, string>, timeoutMs: number): Promise<CommandRun> {
  return new Promise((resolve, reject) => {
    // Its own process group (detached), so a timeout stops whatever the command started too.
    const child = spawn('/bin/sh', ['-c', command], { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: commandEnvironment(env) });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let done = false;
    const timers: NodeJS.Timeout[] = [];
    const cancelled = currentActivity()?.cancellationSignal;

    const killGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, signal);
      } catch {
        // the group is gone already
      }
    };
    const stop = () => {
      killGroup('SIGTERM');
      // Not cleared when the shell is gone: whatever it started and ignores SIGTERM still ends.
      setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS).unref();
    };
    const onCancel = () => stop();
    const finish = (outcome: () => void) => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      clearInterval(beat);
      cancelled?.removeEventListener('abort', onCancel);
      // If the command left something running that holds its pipes, stop reading them.
      child.stdout.destroy();
      child.stderr.destroy();
      outcome();
    };
    const settle = () =>
      finish(() => {
        if (cancelled?.aborted) reject(cancelled.reason);
        else resolve({ code: exited!.code, signal: exited!.signal, stdout, stderr, timedOut });
      });

    child.stdout.on('data', (chunk: Buffer) => (stdout = (stdout + chunk.toString()).slice(-OUTPUT_KEPT)));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-OUTPUT_KEPT)));
    const beat = setInterval(() => heartbeat(`notify command: ${command}`), 1000);
    timers.push(
      setTimeout(() => {
        timedOut = true;
        stop();
      }, timeoutMs),
    );
    cancelled?.addEventListener('abort', onCancel, { once: true });
    child.on('error', (err) => finish(() => reject(err)));
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      // 'close' follows once the output pipes are drained; don't wait on them for long.
      timers.push(setTimeout(settle, PIPE_GRACE_MS));
    });
    child.on('close', () => {
      if (exited) settle();
    });
    // A command that does not read its input may exit before taking it all: that is fine.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}

/** The last lines of a command's output, at most `max` characters. */
function lastLines(text: string, max: number): string {
  const trimmed = text.trim();
  if (trimmed.length <= max) return trimmed;
  const tail = trimmed.slice(-max);
  const cut = tail.indexOf('\n');
  return cut >= 0 && cut < tail.length - 1 ? tail.slice(cut + 1) : tail;
}

export async function runNotifyCommand(input: NotifyInput): Promise<{ summary: string; exitCode?: number }> {
  const command = input.topology.notify?.command;
  if (!command) return { summary: 'no notify command is configured (notify.command): nothing run' };
  const n = input.notification;
  if (input.check) {
    return {
      summary: `would run \`${command}\` on the worker with /bin/sh -c, the ${n.verdict} notification of ${n.cluster} (JSON, id ${n.id}) on its standard input and HAFLOW_CLUSTER, HAFLOW_OUTCOME, HAFLOW_VERDICT, HAFLOW_SUMMARY set; time limit ${COMMAND_TIMEOUT_MS / 1000} s`,
    };
  }
  const timeoutMs = withinAttempt(COMMAND_TIMEOUT_MS);
  heartbeat(`notify command: ${command}`);
  let run: CommandRun;
  try {
    run = await runShell(
      command,
      JSON.stringify(n),
      { HAFLOW_CLUSTER: n.cluster, HAFLOW_OUTCOME: n.outcome, HAFLOW_VERDICT: n.verdict, HAFLOW_SUMMARY: n.summary },
      timeoutMs,
    );
  } catch (err) {
    if (currentActivity()?.cancellationSignal.aborted) throw err;
    throw failed(`the notify command \`${command}\` could not be started on the worker: ${(err as Error).message}`, `check that /bin/sh exists on the worker; haflow retries`);
  }
  // What it printed goes into the result or the error: never a secret the worker knows.
  const stderr = lastLines(redactCommandOutput(run.stderr, input.topology), 500);
  const said = stderr ? `: ${stderr}` : '';
  if (run.timedOut) {
    throw failed(
      `the notify command \`${command}\` did not finish within ${Math.round(timeoutMs / 1000)} s and was stopped${said}`,
      `make the command finish within ${COMMAND_TIMEOUT_MS / 1000} s (hand long work to the background of the receiver); haflow retries`,
    );
  }
  if (run.code === 0) {
    const out = lastLines(redactCommandOutput(run.stdout, input.topology), 200).split('\n').pop() ?? '';
    return { summary: `ran \`${command}\` on the worker: exit 0${out ? ` (${out})` : ''}`, exitCode: 0 };
  }
  const how = run.code === null ? `was killed by ${run.signal}` : `exited with code ${run.code}`;
  throw failed(`the notify command \`${command}\` ${how}${said}`, `run the command by hand on the worker, with the notification's JSON on its standard input, to see why; haflow retries`);
}
