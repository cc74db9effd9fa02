// Scheduled drills on the standalone lab, through the CLI as an operator runs them: a schedule
// every minute runs two real switchover drills by itself, `list` shows both results, each drill
// that misses a deliberately low objective sends one webhook call with its figures (a real
// receiver on loopback), `pause` stops the timetable, a triggered run that finds an install
// holding the cluster records a skip with the reason, `trigger` runs a drill at once, the trend
// page draws every drill, and `delete` removes the schedule.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { describeSchedule, listSchedules } from '../../client/schedules';
import type { Notification } from '../../runbooks/scheduled';
import { waitHealthy } from '../support/cluster';
import { completedOrBlocked, haflowCli, labSecrets, startInstall, useInstallEnvironment, waitForProgress } from '../support/install';
import { labTopology, useLab } from '../support/lab';
import { longTest } from '../support/long';
import { waitUntil } from '../support/temporal';

labSecrets();
process.env.XDG_DATA_HOME = mkdtempSync(join(tmpdir(), 'haflow-schedule-data-'));
const currentLab = useLab(labTopology('standalone'));
const installEnv = useInstallEnvironment();
const cli = (...args: string[]) => haflowCli(installEnv(), ...args);

let receiver: Server;
const received: Notification[] = [];
let topologyFile = '';

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push(JSON.parse(body) as Notification);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  // The lab's topology with a webhook and an objective no switchover can meet.
  const doc = parseDocument(readFileSync(labTopology('standalone'), 'utf8'));
  doc.set('notify', { webhook: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/haflow` } });
  doc.setIn(['objectives', 'rto_seconds'], 0.2);
  topologyFile = join(mkdtempSync(join(tmpdir(), 'haflow-schedule-topology-')), 'standalone.yaml');
  writeFileSync(topologyFile, doc.toString());
});

after(async () => {
  await new Promise((resolve) => receiver?.close(resolve));
});

const id = 'lab-standalone-switchover';

test('a schedule runs drills by itself, lists their results, notifies each miss, pauses, skips while an install runs, triggers, and is deleted', longTest(), async () => {
  const env = installEnv();
  const lab = currentLab();
  await completedOrBlocked(await startInstall(env, lab.topology));
  await waitHealthy(lab);

  const created = await cli('schedule', 'create', topologyFile, '--fault', 'switchover', '--every', '1m', '--note', 'proves the switchover');
  assert.equal(created.code, 0, created.out);
  assert.match(created.out, /created schedule lab-standalone-switchover/);

  // Runs on the minute: two within about two and a half minutes.
  const twoRuns = await waitUntil(
    'two finished runs of the schedule',
    () => describeSchedule(env.client, id),
    (v) => v.runs.filter((r) => r.result).length >= 2,
    240_000,
  );
  const results = twoRuns.runs.filter((r) => r.result).map((r) => r.result!);
  for (const result of results) {
    assert.equal(result.outcome, 'missed', JSON.stringify(result));
    assert.ok((result.figures?.writeDowntimeSeconds ?? 0) > 0.2, JSON.stringify(result.figures));
    assert.equal(result.figures?.lostWrites, 0);
    assert.equal(result.healthyAfter, true, (result.problemsAfter ?? []).join('; '));
  }
  const listed = await cli('schedule', 'list', 'lab-standalone');
  assert.equal(listed.code, 0, listed.out);
  assert.match(listed.out, /lab-standalone-switchover {2}\(switchover drill of cluster lab-standalone, every 1m\)/);
  assert.match(listed.out, /last run +\S+ \(.*\) {2}MISSED switchover on lab-standalone — write downtime [\d.]+ s \(objective 0.2 s\), lost writes 0/);
  assert.match(listed.out, /recent +\d+ run\(s\): \d+ missed/);
  // One webhook call per missed drill, with that drill's figures.
  for (const result of results) {
    const calls = received.filter((n) => n.links.drillRun?.includes(result.drill!.runId));
    assert.equal(calls.length, 1, `webhook calls for drill ${result.drill!.runId}: ${JSON.stringify(received.map((n) => n.links))}`);
    assert.equal(calls[0].verdict, 'FAIL');
    assert.deepEqual(calls[0].figures, result.figures);
  }

  // Paused: no run of its own from here on.
  const paused = await cli('schedule', 'pause', id, '--reason', 'install window');
  assert.equal(paused.code, 0, paused.out);
  assert.match(paused.out, /PAUSED: paused by an operator: install window/);
  await waitUntil('no run of the schedule running', () => describeSchedule(env.client, id), (v) => v.runs.every((r) => r.status !== 'running'), 120_000);
  const pausedAt = Date.now();
  const runsWhenPaused = (await describeSchedule(env.client, id)).runs.length;

  // An install holds the cluster: a triggered run is a skip with the reason.
  const install = await startInstall(env, lab.topology);
  await waitForProgress(install, 'the install running', (p) => p.steps.some((s) => s.status === 'done'));
  const skipped = await cli('schedule', 'trigger', id, '--wait');
  assert.equal(skipped.code, 1, skipped.out);
  assert.match(skipped.out, /SKIPPED switchover on lab-standalone: another operation holds the cluster: installWorkflow haflow-lab-standalone/);
  await completedOrBlocked(install);
  await waitHealthy(lab);

  // Triggered: a drill at once, although paused.
  const now = await cli('schedule', 'trigger', id, '--wait');
  assert.equal(now.code, 1, now.out);
  assert.match(now.out, /MISSED switchover on lab-standalone — write downtime [\d.]+ s \(objective 0.2 s\), lost writes 0/);
  // A minute paused has passed without a run of the timetable's own: only the two triggers.
  const idle = 65_000 - (Date.now() - pausedAt);
  if (idle > 0) await new Promise((resolve) => setTimeout(resolve, idle));
  const afterPause = await describeSchedule(env.client, id);
  assert.equal(afterPause.paused, true);
  assert.equal(afterPause.runs.length, runsWhenPaused + 2, JSON.stringify(afterPause.runs.map((r) => r.startedAt)));

  // The trend page draws every stored drill.
  const page = join(mkdtempSync(join(tmpdir(), 'haflow-trend-')), 'trend.html');
  const reports = await cli('reports', 'lab-standalone', '--html', page);
  assert.equal(reports.code, 0, reports.out);
  const drills = (await cli('reports', 'lab-standalone', '--json')).out;
  const count = (JSON.parse(drills.slice(drills.indexOf('['))) as unknown[]).length;
  assert.ok(count >= 3, drills);
  assert.equal(readFileSync(page, 'utf8').match(/<circle[^>]*class="point /g)?.length, count);

  const deleted = await cli('schedule', 'delete', id);
  assert.equal(deleted.code, 0, deleted.out);
  assert.deepEqual(await listSchedules(env.client, 'lab-standalone'), []);
});
