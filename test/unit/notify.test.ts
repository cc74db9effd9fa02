// Notifications of scheduled drills (activities/notify/activities.ts) against a real HTTP
// receiver on loopback and real shell commands: what a webhook receives (body, headers,
// Idempotency-Key, Authorization from a reference), which answers are retried and which are
// not, that no message names a URL or a token from a secret reference, a receiver that never
// answers, check mode, and the notify command (stdin, environment, exit codes, time limit, no
// secret of the worker in its environment or in what it prints that comes back).
// No Temporal server: the activities run through their step wrappers, outside an activity.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import * as notify from '../../activities/notify/activities';
import { stepActivity } from '../../activities/shared/step-activity';
import { notificationOf, type Notification, type ScheduledRunResult } from '../../runbooks/scheduled';
import { loadTopology, topologySchema, type Topology } from '../../topology';

const sendWebhook = stepActivity(notify.sendWebhook);
const runNotifyCommand = stepActivity(notify.runNotifyCommand);

/** The activity's expected failures are the tests' business, not the log's. */
const quiet = { logger: new DefaultLogger('ERROR') };

const { topology: lab } = loadTopology(join(__dirname, '../../lab/topologies/standalone.yaml'));
const withNotify = (settings: Record<string, unknown>): Topology => topologySchema.parse({ ...lab, notify: settings });

const result: ScheduledRunResult = {
  scheduleId: 'lab-standalone-crash-leader',
  cluster: 'lab-standalone',
  fault: 'crash-leader',
  outcome: 'missed',
  reasons: ['write downtime 14.2 s, over the objective of 10 s'],
  startedAt: '2026-11-29T03:00:00.000Z',
  finishedAt: '2026-11-29T03:01:10.000Z',
  drill: { workflowId: 'haflow-lab-standalone', runId: 'run-2', reportId: '20261129T030005Z-drill-crash-leader' },
  figures: { writeDowntimeSeconds: 14.2, lostWrites: 0, failedWrites: 120, newLeader: 'node2', predictedSeconds: 12.5, objectiveSeconds: 10 },
  healthyAfter: true,
  problemsAfter: [],
  notifications: [],
};
const notificationFor = (topology: Topology): Notification =>
  notificationOf(topology, result, { namespace: 'default', workflowId: 'haflow-scheduled-lab-standalone-crash-leader-2026-11-29T03:00:00Z', runId: 'run-1' });

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** What the receiver does with the next request: answer with a status (and body), or never answer. */
type Answer = { status: number; body?: string } | 'hang';

let server: Server;
let origin = '';
const received: Received[] = [];
let answer: Answer = { status: 204 };

const URL_ENV = 'HAFLOW_TEST_NOTIFY_URL';
const AUTH_ENV = 'HAFLOW_TEST_NOTIFY_AUTH';
const TOKEN = 'T0KEN-9f8e7d6c5b4a';
const SIG = 'sig-0a1b2c3d';
const AUTH = 'Bearer auth-value-5e6f7a8b';
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'haflow-notify-'));
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (answer === 'hang') return; // never answers: the client's timeout must end it
      res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env[URL_ENV] = `${origin}/hooks/${TOKEN}?sig=${SIG}`;
  process.env[AUTH_ENV] = AUTH;
});

after(async () => {
  delete process.env[URL_ENV];
  delete process.env[AUTH_ENV];
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** Everything a failure carries to the workflow's history, as one string. */
const everything = (err: ApplicationFailure) => JSON.stringify([err.message, err.type, err.details]);

/** The failure `promise` rejects with, checked to be an ApplicationFailure. */
async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, `not an ApplicationFailure: ${String(err)}`);
    return err;
  }
  assert.fail('expected a failure');
}

describe('sendWebhook', () => {
  const literal = () => withNotify({ webhook: { url: `${origin}/hooks/haflow?team=dba`, timeout_seconds: 5 } });
  const fromRefs = (timeout = 5) => withNotify({ webhook: { url: { env: URL_ENV }, authorization: { env: AUTH_ENV }, timeout_seconds: timeout } });

  test('a literal URL: one POST of the exact JSON, with its content type, User-Agent and Idempotency-Key, no Authorization', async () => {
    const topology = literal();
    const n = notificationFor(topology);
    received.length = 0;
    answer = { status: 204 };
    const out = await sendWebhook({ topology, notification: n });
    assert.equal(received.length, 1);
    const [req] = received;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/hooks/haflow?team=dba');
    assert.equal(req.body, JSON.stringify(n));
    assert.deepEqual(JSON.parse(req.body), n);
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['user-agent'], 'haflow');
    assert.equal(req.headers['idempotency-key'], n.id);
    assert.equal(req.headers.authorization, undefined);
    assert.equal(out.status, 204);
    assert.equal(out.summary, `sent the FAIL notification to the webhook at ${origin}: HTTP 204`);
  });

  test('url and authorization from references: sent right; a 500 is retried, and no message holds the URL or the token', async () => {
    const topology = fromRefs();
    const n = notificationFor(topology);
    received.length = 0;
    answer = { status: 200, body: 'ok' };
    const out = await sendWebhook({ topology, notification: n });
    assert.equal(received.length, 1);
    assert.equal(received[0].url, `/hooks/${TOKEN}?sig=${SIG}`);
    assert.equal(received[0].headers.authorization, AUTH);
    assert.equal(received[0].headers['idempotency-key'], n.id);
    assert.equal(out.summary, `sent the FAIL notification to the webhook (url from environment variable ${URL_ENV}): HTTP 200`);

    // A receiver that echoes what it got: the step wrapper still keeps the values out.
    answer = { status: 500, body: `internal error at /hooks/${TOKEN}?sig=${SIG} for ${AUTH}` };
    const err = await failureOf(sendWebhook({ topology, notification: n }));
    assert.equal(err.type, 'NotifyFailed');
    assert.equal(err.nonRetryable, false);
    assert.match(err.message, new RegExp(`^the webhook \\(url from environment variable ${URL_ENV}\\) answered HTTP 500: `));
    for (const secret of [TOKEN, SIG, AUTH, 'auth-value', '/hooks', process.env[URL_ENV]!]) {
      assert.ok(!everything(err).includes(secret), `${secret} is in ${everything(err)}`);
    }
  });

  test('408, 429 and 5xx are retried; other 4xx are refusals that are not', async () => {
    const topology = literal();
    const n = notificationFor(topology);
    for (const status of [408, 429, 502, 503]) {
      answer = { status };
      const err = await failureOf(sendWebhook({ topology, notification: n }));
      assert.equal(err.nonRetryable, false, `HTTP ${status}`);
      assert.equal(err.type, 'NotifyFailed');
    }
    for (const status of [401, 404, 422]) {
      answer = { status };
      const err = await failureOf(sendWebhook({ topology, notification: n }));
      assert.equal(err.nonRetryable, true, `HTTP ${status}`);
      assert.equal(err.type, 'NotifyRefused');
    }
  });

  test('a 400 is not retried: the status and the first 200 characters of the answer, the origin only', async () => {
    const topology = literal();
    answer = { status: 400, body: `bad payload: ${'x'.repeat(300)}` };
    const err = await failureOf(sendWebhook({ topology, notification: notificationFor(topology) }));
    assert.equal(err.nonRetryable, true);
    assert.equal(err.type, 'NotifyRefused');
    assert.equal(err.message, `the webhook at ${origin} answered HTTP 400: bad payload: ${'x'.repeat(200 - 'bad payload: '.length)}`);
    assert.doesNotMatch(everything(err), /\/hooks|team=dba/);
    assert.match(JSON.stringify(err.details), /not retried/);
  });

  test('a receiver that never answers fails within timeout_seconds, and is retried', async () => {
    const topology = fromRefs(1);
    answer = 'hang';
    received.length = 0;
    const started = Date.now();
    const err = await failureOf(sendWebhook({ topology, notification: notificationFor(topology) }));
    const took = Date.now() - started;
    assert.equal(received.length, 1, 'the request arrived; the answer did not');
    assert.ok(took >= 900 && took < 3_000, `ended after ${took} ms`);
    assert.equal(err.nonRetryable, false);
    assert.equal(err.type, 'NotifyFailed');
    assert.equal(err.message, `the webhook (url from environment variable ${URL_ENV}) did not answer within 1 s`);
    server.closeAllConnections();
    answer = { status: 204 };
  });

  test('an unreachable receiver is retried, named by its reference only', async () => {
    // A port nothing listens on: take one, then let it go.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    process.env.HAFLOW_TEST_NOTIFY_DEAD_URL = `http://127.0.0.1:${port}/hooks/${TOKEN}`;
    try {
      const topology = withNotify({ webhook: { url: { env: 'HAFLOW_TEST_NOTIFY_DEAD_URL' }, timeout_seconds: 5 } });
      const err = await failureOf(sendWebhook({ topology, notification: notificationFor(topology) }));
      assert.equal(err.nonRetryable, false);
      assert.equal(err.message, 'the webhook (url from environment variable HAFLOW_TEST_NOTIFY_DEAD_URL) could not be reached: ECONNREFUSED');
      assert.doesNotMatch(everything(err), new RegExp(`${TOKEN}|:${port}`));
    } finally {
      delete process.env.HAFLOW_TEST_NOTIFY_DEAD_URL;
    }
  });

  test('check mode sends nothing and says what would be sent, naming the reference, not the URL', async () => {
    received.length = 0;
    const topology = fromRefs();
    const n = notificationFor(topology);
    const out = await sendWebhook({ topology, notification: n, check: true });
    assert.equal(received.length, 0);
    assert.match(out.summary, /^would POST the FAIL notification of lab-standalone /);
    assert.ok(out.summary.includes(`to the webhook (url from environment variable ${URL_ENV})`), out.summary);
    assert.ok(out.summary.includes(`an Authorization header from environment variable ${AUTH_ENV}`), out.summary);
    assert.ok(out.summary.includes(`Idempotency-Key ${n.id}`), out.summary);
    assert.ok(!out.summary.includes(TOKEN) && !out.summary.includes(AUTH), out.summary);
    const literalOut = await sendWebhook({ topology: literal(), notification: n, check: true });
    assert.ok(literalOut.summary.includes(`to the webhook at ${origin},`), literalOut.summary);
    assert.doesNotMatch(literalOut.summary, /\/hooks|team=dba/);
    assert.equal(received.length, 0);
  });
});

describe('runNotifyCommand', () => {
  test('runs the command with the JSON on its standard input and the verdict in its environment', async () => {
    const json = join(dir, 'notification.json');
    const verdict = join(dir, 'verdict.txt');
    const topology = withNotify({ command: `cat > '${json}' && printf '%s|%s|%s' "$HAFLOW_VERDICT" "$HAFLOW_OUTCOME" "$HAFLOW_CLUSTER" > '${verdict}' && echo paged` });
    const n = notificationFor(topology);
    const out = await runNotifyCommand({ topology, notification: n });
    assert.equal(out.exitCode, 0);
    assert.match(out.summary, /: exit 0 \(paged\)$/);
    assert.equal(readFileSync(json, 'utf8'), JSON.stringify(n));
    assert.equal(readFileSync(verdict, 'utf8'), 'FAIL|missed|lab-standalone');
  });

  test('HAFLOW_SUMMARY holds the notification\'s summary line', async () => {
    const summary = join(dir, 'summary.txt');
    const topology = withNotify({ command: `printf '%s' "$HAFLOW_SUMMARY" > '${summary}'` });
    const n = notificationFor(topology);
    await runNotifyCommand({ topology, notification: n });
    assert.equal(readFileSync(summary, 'utf8'), n.summary);
  });

  test('a non-zero exit is retried, naming the exit code and the end of its standard error', async () => {
    const topology = withNotify({ command: `cat >/dev/null; for i in $(seq 1 100); do echo "noise line $i" >&2; done; echo 'pager: no route to host' >&2; exit 3` });
    const err = await failureOf(runNotifyCommand({ topology, notification: notificationFor(topology) }));
    assert.equal(err.type, 'NotifyFailed');
    assert.equal(err.nonRetryable, false);
    assert.match(err.message, /exited with code 3: /);
    assert.match(err.message, /pager: no route to host$/);
    assert.doesNotMatch(err.message, /noise line 1\n/, 'only the last lines');
    const tail = err.message.slice(err.message.indexOf('exited with code 3: ') + 'exited with code 3: '.length);
    assert.ok(tail.length <= 500, `${tail.length} characters of stderr`);
    assert.match(tail, /^noise line \d+\n/, 'whole lines');
  });

  test('a command that does not read its input is fine', async () => {
    const topology = withNotify({ command: 'true' });
    assert.equal((await runNotifyCommand({ topology, notification: notificationFor(topology) })).exitCode, 0);
  });

  test('a command past its time limit is stopped, with what it started, and retried', async () => {
    const pidFile = join(dir, 'background.pid');
    const topology = withNotify({ command: `sleep 30 & echo $! > '${pidFile}'; sleep 30` });
    const started = Date.now();
    // An attempt of 7 s leaves 2 s after the margin: the 60 s limit is cut to fit the attempt.
    const err = await failureOf(new MockActivityEnvironment({ startToCloseTimeoutMs: 7_000 }, quiet).run(runNotifyCommand, { topology, notification: notificationFor(topology) }));
    const took = Date.now() - started;
    assert.ok(took < 5_000, `ended after ${took} ms`);
    assert.equal(err.nonRetryable, false);
    assert.match(err.message, /did not finish within 2 s and was stopped$/);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const deadline = Date.now() + 3_000;
    while (alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(alive(pid), false, `the background sleep ${pid} was left running`);
  });

  test('the command gets a minimal environment: no codec key, no password of the worker, only what it is documented to get', async () => {
    const names = join(dir, 'env-names.txt');
    const secrets = { HAFLOW_CODEC_KEY: 'Y29kZWMta2V5LW9mLXRoZS13b3JrZXItMzItYnl0ZXM=', HAFLOW_PG_SUPERUSER_PASSWORD: 'pg-super-7d1e', SOME_TOKEN_OF_THE_WORKER: 'tok-55aa' };
    const topology = withNotify({ command: `env | cut -d= -f1 | sort > '${names}'` });
    await withEnv({ ...secrets, LANG: 'C.UTF-8', TZ: 'UTC' }, () => runNotifyCommand({ topology, notification: notificationFor(topology) }));
    const passed = readFileSync(names, 'utf8').split('\n').filter(Boolean).filter((name) => !SHELL_OWN.includes(name) && !name.startsWith('LC_'));
    assert.deepEqual(passed, ['HAFLOW_CLUSTER', 'HAFLOW_OUTCOME', 'HAFLOW_SUMMARY', 'HAFLOW_VERDICT', 'HOME', 'LANG', 'PATH', 'TZ']);
  });

  test('variables named in HAFLOW_COMMAND_ENV are passed on too, and their values never come back', async () => {
    const topology = withNotify({ command: `cat >/dev/null; echo "bmc says: $IPMI_PASSWORD" >&2; exit 1` });
    const err = await withEnv({ HAFLOW_COMMAND_ENV: 'IPMI_PASSWORD', IPMI_PASSWORD: 'ipmi-secret-93b2' }, () =>
      failureOf(runNotifyCommand({ topology, notification: notificationFor(topology) })),
    );
    assert.match(err.message, /bmc says: <redacted>$/);
    assert.doesNotMatch(JSON.stringify(err), /ipmi-secret-93b2/);
  });

  test('what the command prints reaches the result and errors without a secret the worker knows', async () => {
    // A command that finds the values some other way (a file, a vault) and prints them.
    const leak = join(dir, 'leak.txt');
    const secrets = { HAFLOW_PG_SUPERUSER_PASSWORD: 'pg-super-7d1e', HAFLOW_APP_DB_PASSWORD: 'app-db-0c4f', HAFLOW_CODEC_KEY: 'Y29kZWMta2V5LW9mLXRoZS13b3JrZXItMzItYnl0ZXM=' };
    writeFileSync(leak, `${Object.values(secrets).join(' ')}\n`);
    const ok = withNotify({ command: `cat '${leak}'` });
    const out = await withEnv(secrets, () => runNotifyCommand({ topology: ok, notification: notificationFor(ok) }));
    assert.match(out.summary, /exit 0 \(<redacted> <redacted> <redacted>\)$/);
    const failing = withNotify({ command: `cat '${leak}' >&2; exit 2` });
    const err = await withEnv(secrets, () => failureOf(runNotifyCommand({ topology: failing, notification: notificationFor(failing) })));
    assert.match(err.message, /exited with code 2: <redacted> <redacted> <redacted>$/);
    for (const value of Object.values(secrets)) assert.doesNotMatch(JSON.stringify([out, err.message]), new RegExp(value));
  });

  test('check mode runs nothing and says what would run', async () => {
    const marker = join(dir, 'check-marker');
    const topology = withNotify({ command: `touch '${marker}'` });
    const out = await runNotifyCommand({ topology, notification: notificationFor(topology), check: true });
    assert.equal(out.exitCode, undefined);
    assert.match(out.summary, /^would run `touch .*check-marker'` on the worker with \/bin\/sh -c, the FAIL notification of lab-standalone/);
    assert.equal(existsSync(marker), false);
  });
});

test('without notify settings, or without the channel, nothing is sent and nothing fails', async () => {
  received.length = 0;
  const n = notificationFor(lab);
  assert.match((await sendWebhook({ topology: lab, notification: n })).summary, /^no webhook is configured/);
  assert.match((await runNotifyCommand({ topology: lab, notification: n })).summary, /^no notify command is configured/);
  const commandOnly = withNotify({ command: 'true' });
  assert.match((await sendWebhook({ topology: commandOnly, notification: n })).summary, /^no webhook is configured/);
  const webhookOnly = withNotify({ webhook: { url: `${origin}/x` } });
  assert.match((await runNotifyCommand({ topology: webhookOnly, notification: n })).summary, /^no notify command is configured/);
  assert.equal(received.length, 0);
});

/** Variables a shell sets itself, whatever its environment. */
const SHELL_OWN = ['PWD', 'OLDPWD', 'SHLVL', '_'];

/** Runs `body` with `vars` set in the worker's environment, then puts it back. */
async function withEnv<T>(vars: Record<string, string>, body: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  Object.assign(process.env, vars);
  try {
    return await body();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

/** Whether a process still runs (a zombie waiting for its reaper does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
