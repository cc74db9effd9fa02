// No secret value anywhere haflow writes outside the hosts: a full install, a switchover, the
// application monitor failing the application over (the master's power cut, which also fails
// the database over) and a schedule-started drill that notifies a webhook, all through the CLI
// with a real `haflow worker` process. Then every workflow history of the namespace (every run,
// continued-as-new and schedule-started ones included), payloads decoded, the CLI's output, the
// worker's log, the stored reports and the webhook bodies are searched for every password, the
// webhook's token and URL token, and every line of the TLS private key (a multi-line secret).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { labPaths, LAB_SECRET_VARIABLES } from '../../lab/paths';
import { waitHealthy } from '../support/cluster';
import { haflowCli, labSecrets } from '../support/install';
import { labTopology, sshRun, useLab } from '../support/lab';
import { longTest } from '../support/long';
import { freePort } from '../support/worker-process';
import { startDevServer, waitUntil } from '../support/temporal';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

const root = join(__dirname, '../..');
labSecrets();
process.env.HAFLOW_TEST_WEBHOOK_TOKEN = `Bearer tok-${randomBytes(12).toString('hex')}`;
const urlToken = `u${randomBytes(10).toString('hex')}`;
process.env.XDG_DATA_HOME = mkdtempSync(join(tmpdir(), 'haflow-secrets-data-'));
const currentLab = useLab(labTopology('standalone'));

let env: TestWorkflowEnvironment;
let worker: ChildProcess;
let workerLog = '';
let receiver: Server;
const bodies: string[] = [];
const authorizations: string[] = [];
let topologyFile = '';

before(async () => {
  env = await startDevServer({ port: await freePort() });
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      bodies.push(body); // the URL itself carries the token the receiver is given; the body must not
      authorizations.push(String(req.headers.authorization));
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  process.env.HAFLOW_TEST_WEBHOOK_URL = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook?token=${urlToken}`;
  const doc = parseDocument(readFileSync(labTopology('standalone'), 'utf8'));
  doc.set('notify', { webhook: { url: { env: 'HAFLOW_TEST_WEBHOOK_URL' }, authorization: { env: 'HAFLOW_TEST_WEBHOOK_TOKEN' } }, on: 'every' });
  topologyFile = join(mkdtempSync(join(tmpdir(), 'haflow-secrets-topology-')), 'standalone.yaml');
  writeFileSync(topologyFile, doc.toString());
  worker = spawn(process.execPath, [join(root, 'bin/haflow.js'), 'worker', '--grace', '1'], {
    env: { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  worker.stdout!.on('data', (d: Buffer) => (workerLog += d.toString()));
  worker.stderr!.on('data', (d: Buffer) => (workerLog += d.toString()));
  await waitUntil('the worker to poll', async () => workerLog, (log) => log.includes('haflow worker polling'), 60_000);
});

after(async () => {
  worker?.kill('SIGKILL');
  await new Promise((resolve) => receiver?.close(resolve));
  await env?.teardown();
});

/** Every file under a directory, as text. */
function filesUnder(dir: string): string {
  let text = '';
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    text += statSync(path).isDirectory() ? filesUnder(path) : `\n${readFileSync(path, 'utf8')}`;
  }
  return text;
}

/** A history with every payload's data decoded to text (JSON payloads are UTF-8). */
function decoded(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value)) return value.map(decoded);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decoded(v)]));
  return value;
}

test('install, switchover, application failover and a scheduled drill leave no secret in any history, output, log, report or notification', longTest(), async () => {
  const lab = currentLab();
  const cli = (...args: string[]) => haflowCli(env, ...args);
  const outputs: string[] = [];
  const run = async (...args: string[]) => {
    const result = await cli(...args);
    outputs.push(`$ haflow ${args.join(' ')}\n${result.out}`);
    return result;
  };

  assert.equal((await run('install', topologyFile)).code, 0, outputs.at(-1));
  await waitHealthy(lab);
  assert.equal((await run('switchover', 'lab-standalone')).code, 0, outputs.at(-1));
  await waitHealthy(lab);
  assert.equal((await run('switchover', 'lab-standalone', '--to', 'node1')).code, 0, outputs.at(-1));
  await waitHealthy(lab);
  assert.equal((await run('monitor', 'start', 'lab-standalone')).code, 0, outputs.at(-1));
  // The master application's machine (node1, also the leader) loses its power: the monitor fails the application over.
  const appDrill = await run('drill', 'lab-standalone', '--fault', 'crash-app-master');
  assert.ok(appDrill.code === 0 || appDrill.code === 1, outputs.at(-1));
  await waitUntil('the application monitor to fail the application over', () => cli('monitor', 'status', 'lab-standalone').then((r) => r.out), (out) => /master\s+node2/.test(out), 180_000);
  await waitHealthy(lab, 180_000);
  assert.equal((await run('schedule', 'create', topologyFile, '--fault', 'switchover', '--every', '1h')).code, 0, outputs.at(-1));
  const triggered = await run('schedule', 'trigger', 'lab-standalone-switchover', '--wait');
  assert.ok(triggered.code === 0 || triggered.code === 1, outputs.at(-1));
  await waitUntil('a notification', async () => bodies.length, (n) => n > 0, 60_000);
  assert.ok(authorizations.includes(process.env.HAFLOW_TEST_WEBHOOK_TOKEN!), 'the webhook got the token, in its header');
  await run('monitor', 'stop', 'lab-standalone');
  await run('schedule', 'delete', 'lab-standalone-switchover');

  // Every run of every workflow the namespace holds.
  const histories: string[] = [];
  const types = new Set<string>();
  for await (const execution of env.client.workflow.list()) {
    types.add(execution.type);
    const history = await env.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    histories.push(JSON.stringify(decoded(history)));
  }
  for (const type of ['installWorkflow', 'switchoverWorkflow', 'appMonitorWorkflow', 'drillWorkflow', 'scheduledDrillWorkflow']) assert.ok(types.has(type), `a ${type} history among ${[...types].join(', ')}`);

  const keyLines = readFileSync(labPaths.tlsKey, 'utf8').split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----'));
  // The cluster's CA key on the worker, and every host's key (made on the host): none in any place.
  const pemLines = (text: string) => text.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----'));
  const caKeyLines = pemLines(readFileSync(join(process.env.HOME!, '.haflow/pki/lab-standalone/ca.key'), 'utf8'));
  const hostKeyLines = (await Promise.all(['observer', 'node1', 'node2'].map(async (host) => pemLines((await sshRun(lab, host, 'cat /etc/haflow/tls/host.key', { sudo: true })).stdout)))).flat();
  assert.ok(caKeyLines.length > 0 && hostKeyLines.length >= 3, 'the keys were read');
  const secrets: Record<string, string> = {
    ...Object.fromEntries(LAB_SECRET_VARIABLES.map((name) => [name, process.env[name]!])),
    webhookToken: process.env.HAFLOW_TEST_WEBHOOK_TOKEN!.replace(/^Bearer /, ''),
    webhookUrlToken: urlToken,
    ...Object.fromEntries(keyLines.map((line, i) => [`TLS key line ${i + 1}`, line])),
    ...Object.fromEntries(caKeyLines.map((line, i) => [`CA key line ${i + 1}`, line])),
    ...Object.fromEntries(hostKeyLines.map((line, i) => [`host key line ${i + 1}`, line])),
  };
  const places: Record<string, string> = {
    histories: histories.join('\n'),
    'the CLI output': outputs.join('\n'),
    "the worker's log": workerLog,
    'the stored reports': filesUnder(process.env.XDG_DATA_HOME!),
    'the webhook bodies': bodies.join('\n'),
  };
  assert.ok(places.histories.includes('patroni.replica-inactive@node2'), 'the histories are decoded (step inputs readable)');
  const leaks = Object.entries(places).flatMap(([place, text]) => Object.entries(secrets).filter(([, value]) => text.includes(value)).map(([name]) => `${name} in ${place}`));
  assert.deepEqual(leaks, []);
  for (const [place, text] of Object.entries(places)) assert.ok(!text.includes('PRIVATE KEY'), `no private key in ${place}`);
});
