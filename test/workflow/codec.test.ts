// Encrypted payloads (connection/codec.ts) on a real dev server with the real installWorkflow:
// with HAFLOW_CODEC_KEY, every payload of the run's history (input, activity arguments and
// results, the failure of a blocked step, query answers are not stored) is ciphertext, and the
// failure messages are too; a client with the key reads the run as usual, one without it gets
// an error saying what to set, and `haflow codec-server` decrypts a payload of that history
// over real HTTP, for a caller with its token, at its own address, from the UI's origin only.
// The worker's own converter refuses payloads that arrived in clear.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { followRun, getProgress, startInstall } from '../../client/api';
import { findTemporalCli } from '../../client/dev-server';
import { AesGcmCodec, codecKeysFromEnv, CodecSettingsError, ENCRYPTED_ENCODING, haflowDataConverter, workerDataConverter, type CodecKeys } from '../../connection/codec';
import { TASK_QUEUE } from '../../connection/temporal';
import { clusterWorkflowId } from '../../connection/workflow-ids';
import { checkActivityInputs } from '../../worker/input-checks';
import { workflowBundleOptions } from '../../worker/worker';
import { fakeCluster, fakeInstallActivities } from '../support/fake-install';
import { startDevServer, waitUntil } from '../support/temporal';
import { standalone } from '../support/topologies';

const root = join(__dirname, '../..');
const keyEnv = { HAFLOW_CODEC_KEY: randomBytes(32).toString('base64'), HAFLOW_CODEC_KEY_ID: 'test-2026-11' };
const keys = codecKeysFromEnv(keyEnv) as CodecKeys;
/** What callers of the codec server must show (`openssl rand -hex 32`). */
const SERVER_TOKEN = randomBytes(32).toString('hex');
/** Text the run carries in clear without encryption: the step's failure message and the topology. */
const FAILURE_TEXT = 'disk on fire in the lab';

let env: TestWorkflowEnvironment;
let worker: Worker;
let workerRun: Promise<void>;
const machines = fakeCluster();

before(async () => {
  env = await startDevServer();
  // The worker's own converter, which refuses payloads in clear: an encrypted run must still work end to end.
  const dataConverter = workerDataConverter(keys);
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    // The converters and the workflow interceptors run inside the workflow sandbox too: bundled with it.
    workflowBundle: await bundleWorkflowCode({ ...workflowBundleOptions(dataConverter), logger: new DefaultLogger('WARN') }),
    activities: fakeInstallActivities(() => machines),
    dataConverter,
    interceptors: { activity: [checkActivityInputs] },
  });
  workerRun = worker.run();
});

after(async () => {
  worker?.shutdown();
  await workerRun;
  await env?.teardown();
});

const text = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : '');

/** Every payload anywhere in an event (inputs, results, failures' encoded attributes, memos). */
function payloadsIn(value: unknown, found: Payload[] = []): Payload[] {
  if (!value || typeof value !== 'object') return found;
  if ('metadata' in value && 'data' in value && (value as Payload).metadata) found.push(value as Payload);
  else for (const v of Object.values(value)) payloadsIn(v, found);
  return found;
}

test('the history holds only ciphertext; a client with the key follows the run, one without is told what to set', async () => {
  machines.broken.set(`ensurePackages@node1`, { type: 'CommandFailed', message: FAILURE_TEXT, remedy: 'cool it down' });
  const encrypting = new Client({ connection: env.client.connection, dataConverter: haflowDataConverter(keys) });
  const topology = standalone({ cluster: 'sealed' });
  const handle = await startInstall(encrypting, topology);
  const result = await followRun(handle, () => {}, { pollIntervalMs: 100 });
  assert.equal(result.status, 'blocked', JSON.stringify(result).slice(0, 400));
  assert.ok(result.status === 'blocked' && JSON.stringify(result.step).includes(FAILURE_TEXT), 'the client with the key reads the failure');

  const history = await env.client.connection.workflowService.getWorkflowExecutionHistory({
    namespace: 'default',
    execution: { workflowId: clusterWorkflowId(topology.cluster) },
  });
  const events = history.history?.events ?? [];
  const payloads = payloadsIn(events);
  assert.ok(payloads.length >= 5, `${payloads.length} payloads in ${events.length} events`);
  for (const payload of payloads) assert.equal(text(payload.metadata?.encoding), ENCRYPTED_ENCODING);
  // What the run carries only in payloads: the topology (addresses, secret references) and the failure.
  // Workflow and activity ids (the cluster's name, step ids) are names Temporal needs in clear.
  const raw = Buffer.from(temporal.api.history.v1.History.encode({ events }).finish());
  for (const clear of [FAILURE_TEXT, 'cool it down', topology.hosts[1].address, 'HAFLOW_PG_SUPERUSER_PASSWORD', topology.postgresql.replication.username]) {
    assert.ok(!raw.includes(clear), `"${clear}" is not in the history in clear`);
  }

  // No key: a clear error, naming the key id and the variables.
  const plain = new Client({ connection: env.client.connection, dataConverter: haflowDataConverter(undefined) });
  await assert.rejects(getProgress(plain, topology.cluster), /encrypted \(key id test-2026-11\) and HAFLOW_CODEC_KEY is not set here: set HAFLOW_CODEC_KEY and HAFLOW_CODEC_KEY_ID/);
  // Another key under the same id: it does not decrypt, and says so.
  const wrong = codecKeysFromEnv({ HAFLOW_CODEC_KEY: randomBytes(32).toString('base64'), HAFLOW_CODEC_KEY_ID: 'test-2026-11' })!;
  await assert.rejects(new AesGcmCodec(wrong, { unencrypted: 'accept' }).decode(payloads.slice(0, 1)), /does not decrypt with that key/);
  // The next key, with the old one kept to read: it does.
  const rotated = codecKeysFromEnv({ HAFLOW_CODEC_KEY: randomBytes(32).toString('base64'), HAFLOW_CODEC_KEY_ID: 'next', HAFLOW_CODEC_PREVIOUS_KEYS: `test-2026-11:${keyEnv.HAFLOW_CODEC_KEY}` })!;
  const [readBack] = await new AesGcmCodec(rotated, { unencrypted: 'accept' }).decode(payloads.slice(0, 1));
  assert.equal(text(readBack.metadata?.encoding), 'json/plain', 'decrypted with the previous key, not passed through');

  // The operator's view of the same: `haflow status` without the key exits 1 with that error.
  const status = spawnHaflow(['status', topology.cluster], { TEMPORAL_ADDRESS: env.address });
  const code = await new Promise((resolve) => status.child.once('exit', resolve));
  assert.equal(code, 1, status.out + status.err);
  assert.match(status.err, /encrypted \(key id test-2026-11\) and HAFLOW_CODEC_KEY is not set here/);

  machines.broken.clear();
  await handle.terminate('test over');

  // The codec server, over real HTTP: decodes a payload of this history, and encodes.
  const server = spawnHaflow(['codec-server', '--port', String(await freePort())], { ...keyEnv, HAFLOW_CODEC_SERVER_TOKEN: SERVER_TOKEN });
  try {
    const url = await waitUntil('the codec server to say its address', async () => /codec server on (http:\/\/\S+) /.exec(server.out)?.[1], (u) => !!u, 30_000);
    const input = payloads[0];
    const body = { payloads: [temporal.api.common.v1.Payload.toObject(temporal.api.common.v1.Payload.create(input), { bytes: String })] };
    const decoded = await fetch(`${url}/decode`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', Authorization: `Bearer ${SERVER_TOKEN}` }, body: JSON.stringify(body) });
    assert.equal(decoded.status, 200);
    const clear = ((await decoded.json()) as { payloads: { metadata: Record<string, string>; data: string }[] }).payloads[0];
    assert.equal(Buffer.from(clear.metadata.encoding, 'base64').toString(), 'json/plain');
    assert.ok(Buffer.from(clear.data, 'base64').toString().includes(topology.cluster), 'the workflow input, in clear');
    const preflight = await fetch(`${url}/decode`, { method: 'OPTIONS', headers: { Origin: 'http://localhost:8233' } });
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'http://localhost:8233');
    const bad = await fetch(`${url}/decode`, { method: 'POST', headers: { Authorization: `Bearer ${SERVER_TOKEN}` }, body: 'not json' });
    assert.equal(bad.status, 400);
    // The Temporal CLI shows the history in clear through it, the token from its environment (TEMPORAL_CODEC_AUTH), not its command line.
    const shown = await new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
      execFile(
        findTemporalCli(),
        ['workflow', 'show', '--workflow-id', clusterWorkflowId(topology.cluster), '--address', env.address, '--namespace', 'default', '--codec-endpoint', String(url), '--output', 'json'],
        { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TEMPORAL_CODEC_AUTH: `Bearer ${SERVER_TOKEN}` }, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
        (err, out, errOut) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out, err: errOut }),
      ),
    );
    assert.equal(shown.code, 0, shown.err);
    // Its JSON keeps payloads in base64: decoded, they are json/plain; none is left encrypted.
    assert.ok(shown.out.includes(`"${Buffer.from('json/plain').toString('base64')}"`), 'payloads decoded by the codec server');
    assert.ok(!shown.out.includes(`"${Buffer.from(ENCRYPTED_ENCODING).toString('base64')}"`), 'no payload left encrypted');
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((resolve) => server.child.once('exit', resolve));
  }
});

test("a worker's codec hands on nothing of a payload that arrived in clear: its converter reads a refusal naming the encoding", async () => {
  const secretish = { payloads: 'topology with notify.command: rm -rf /' };
  const plain = { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(JSON.stringify(secretish)) };
  const [marker] = await new AesGcmCodec(keys, { unencrypted: 'refuse' }).decode([plain]);
  assert.equal(marker.data, undefined, 'no data is handed on');
  const { payloadConverter, refusalOf } = await import('../../connection/refused-payloads');
  const refusal = refusalOf([payloadConverter.fromPayload(marker)]);
  assert.equal(refusal?.type, 'UnencryptedPayload');
  assert.equal(refusal?.nonRetryable, true);
  assert.match(refusal?.message ?? '', /an unencrypted payload \(json\/plain\) arrived while HAFLOW_CODEC_KEY is set on this worker/);
  // A client and the codec server read it as it is (runs from before the key).
  assert.deepEqual(await new AesGcmCodec(keys, { unencrypted: 'accept' }).decode([plain]), [plain]);
  // Encrypted payloads decode as before, and empty lists stay empty.
  const codec = new AesGcmCodec(keys, { unencrypted: 'refuse' });
  const [roundTrip] = await codec.decode(await codec.encode([plain]));
  assert.equal(text(roundTrip.metadata?.encoding), 'json/plain');
  assert.deepEqual(JSON.parse(text(roundTrip.data)), secretish);
  assert.deepEqual(await codec.decode([]), []);
});

test('the codec server answers only its token, at its own address, from the UI it is told of: other callers get 401 or 403 and a short reason', async () => {
  const port = await freePort();
  const server = spawnHaflow(['codec-server', '--port', String(port), '--ui-origin', 'http://localhost:8233'], { ...keyEnv, HAFLOW_CODEC_SERVER_TOKEN: SERVER_TOKEN });
  try {
    await waitUntil('the codec server to say its address', async () => server.out, (out) => /codec server on /.test(out) || server.child.exitCode !== null, 30_000);
    assert.match(server.out, /codec server on http:\/\/127\.0\.0\.1:\d+ /, server.out + server.err);
    assert.ok(!server.out.includes(SERVER_TOKEN) && !server.err.includes(SERVER_TOKEN), 'the token is never printed');
    const [sealed] = await new AesGcmCodec(keys, { unencrypted: 'accept' }).encode([{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"in clear"') }]);
    const body = JSON.stringify({ payloads: [temporal.api.common.v1.Payload.toObject(temporal.api.common.v1.Payload.create(sealed), { bytes: String })] });
    const json = { 'Content-Type': 'application/json' };
    const bearer = { Authorization: `Bearer ${SERVER_TOKEN}` };
    const host = `127.0.0.1:${port}`;

    // The token: as a bearer token (the Temporal CLI's --codec-auth), or as the endpoint's first path segment (the web UI, which sends no header of its own).
    const decodedBy = async (answer: HttpAnswer) => {
      assert.equal(answer.status, 200, answer.body);
      return Buffer.from((JSON.parse(answer.body) as { payloads: { data: string }[] }).payloads[0].data, 'base64').toString();
    };
    assert.equal(await decodedBy(await request(port, 'POST', '/decode', { ...json, ...bearer, Host: host }, body)), '"in clear"');
    assert.equal(await decodedBy(await request(port, 'POST', '/decode', { ...json, ...bearer, Host: `localhost:${port}` }, body)), '"in clear"');
    assert.equal(await decodedBy(await request(port, 'POST', `/${SERVER_TOKEN}/decode`, { ...json, Host: host, Origin: 'http://localhost:8233' }, body)), '"in clear"');

    for (const [what, path, headers] of [
      ['no token', '/decode', { ...json, Host: host }],
      ['another token', '/decode', { ...json, Host: host, Authorization: 'Bearer not-the-token-but-long-enough-0123456789' }],
      ['another token in the path', '/not-the-token-but-long-enough-0123456789/decode', { ...json, Host: host }],
      ['a malformed path', '/%E0%A4%A/decode', { ...json, Host: host }],
      ['a token of another scheme', '/decode', { ...json, Host: host, Authorization: `Basic ${SERVER_TOKEN}` }],
    ] as const) {
      const answer = await request(port, 'POST', path, headers, body);
      assert.equal(answer.status, 401, `${what}: ${answer.body}`);
      assert.match(answer.body, /token/, what);
      assert.doesNotMatch(answer.body, /in clear/, what);
      assert.ok(!answer.body.includes(SERVER_TOKEN), `${what}: the answer does not echo the token`);
    }

    // A page in the operator's browser: another Host (DNS rebinding), or another Origin (CSRF), even with the token.
    for (const [what, headers, status] of [
      ['a name that points here (DNS rebinding)', { ...json, ...bearer, Host: `attacker.example:${port}` }, 403],
      ['another port', { ...json, ...bearer, Host: `127.0.0.1:${port + 1}` }, 403],
      // Node's HTTP server refuses an HTTP/1.1 request without a Host itself.
      ['no Host header', { ...json, ...bearer }, 400],
      ['another origin', { ...json, ...bearer, Host: host, Origin: 'http://attacker.example' }, 403],
      ['the UI origin on another port', { ...json, ...bearer, Host: host, Origin: 'http://localhost:9999' }, 403],
    ] as const) {
      const answer = await request(port, 'POST', '/decode', headers, body);
      assert.equal(answer.status, status, `${what}: ${answer.body}`);
      assert.doesNotMatch(answer.body, /in clear/, what);
      assert.equal(answer.headers['access-control-allow-origin'], undefined, `${what}: no CORS grant`);
    }

    // CORS preflight: granted to the UI's origin only.
    const preflightHeaders = { Host: host, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,x-namespace' };
    const granted = await request(port, 'OPTIONS', '/decode', { ...preflightHeaders, Origin: 'http://localhost:8233' });
    assert.equal(granted.status, 204);
    assert.equal(granted.headers['access-control-allow-origin'], 'http://localhost:8233');
    const refused = await request(port, 'OPTIONS', '/decode', { ...preflightHeaders, Origin: 'http://attacker.example' });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers['access-control-allow-origin'], undefined);
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((resolve) => (server.child.exitCode !== null ? resolve(undefined) : server.child.once('exit', resolve)));
  }
});

test('bad settings are refused before anything connects, naming the variable and never the value', async () => {
  assert.throws(() => codecKeysFromEnv({ HAFLOW_CODEC_KEY: 'c2hvcnQ=', HAFLOW_CODEC_KEY_ID: 'k' }), (err: unknown) => err instanceof CodecSettingsError && /HAFLOW_CODEC_KEY must be 32 random bytes in base64.*decodes to 5 bytes/.test(err.message) && !err.message.includes('c2hvcnQ'));
  assert.throws(() => codecKeysFromEnv({ HAFLOW_CODEC_KEY: keyEnv.HAFLOW_CODEC_KEY }), /HAFLOW_CODEC_KEY_ID must name the key/);
  assert.throws(() => codecKeysFromEnv({ HAFLOW_CODEC_KEY_ID: 'k' }), /HAFLOW_CODEC_KEY_ID is set but HAFLOW_CODEC_KEY is not/);
  assert.equal(codecKeysFromEnv({}), undefined);
  const exitOf = async (extraEnv: Record<string, string>) => {
    const cli = spawnHaflow(['codec-server', '--port', String(await freePort())], extraEnv);
    // One that starts anyway would run until stopped.
    const stop = setTimeout(() => cli.child.kill('SIGTERM'), 15_000);
    const code = await new Promise((resolve) => cli.child.once('exit', resolve));
    clearTimeout(stop);
    return { code, err: cli.err };
  };
  const noKey = await exitOf({});
  assert.equal(noKey.code, 1);
  assert.match(noKey.err, /set HAFLOW_CODEC_KEY and HAFLOW_CODEC_KEY_ID first/);
  // The codec server decrypts everything: it does not start without a token to ask of its callers.
  const noToken = await exitOf(keyEnv);
  assert.equal(noToken.code, 1, noToken.err);
  assert.match(noToken.err, /set HAFLOW_CODEC_SERVER_TOKEN/);
  const shortToken = await exitOf({ ...keyEnv, HAFLOW_CODEC_SERVER_TOKEN: 'tiny-secret' });
  assert.equal(shortToken.code, 1, shortToken.err);
  assert.match(shortToken.err, /HAFLOW_CODEC_SERVER_TOKEN must be at least 32 characters/);
  assert.ok(!shortToken.err.includes('tiny-secret'), 'the value is never named');
});

interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A request with exactly these headers (fetch would set Host itself), to 127.0.0.1. */
function request(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { ...headers, ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}) }, setHost: false }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

function spawnHaflow(args: string[], extraEnv: Record<string, string>): { child: ChildProcess; out: string; err: string } {
  const child = spawn(process.execPath, [join(root, 'bin/haflow.js'), ...args], { env: { PATH: process.env.PATH, ...extraEnv } });
  const io = { child, out: '', err: '' };
  child.stdout!.on('data', (d) => (io.out += d));
  child.stderr!.on('data', (d) => (io.err += d));
  return io;
}
