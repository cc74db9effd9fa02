// Scheduled drills as data: when a run is a problem, whom it notifies, when it pauses its
// schedule, the notification's body and links, and the schedule's timetable from the options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { intervalSeconds, scheduleSpec } from '../../client/schedules';
import { describeResult, isProblem, notificationOf, pausesSchedule, reportId, runLink, shouldNotify, type ScheduledRunResult } from '../../runbooks/scheduled';
import { loadTopology, topologySchema, type Topology } from '../../topology';

const { topology: lab } = loadTopology(join(__dirname, '../../lab/topologies/standalone.yaml'));

const withSettings = (extra: Record<string, unknown>): Topology => topologySchema.parse({ ...lab, ...extra });

const result = (outcome: ScheduledRunResult['outcome'], extra: Partial<ScheduledRunResult> = {}): ScheduledRunResult => ({
  scheduleId: 'lab-standalone-crash-leader',
  cluster: 'lab-standalone',
  fault: 'crash-leader',
  outcome,
  reasons: outcome === 'passed' ? [] : ['write downtime 14.2 s, over the objective of 10 s'],
  startedAt: '2026-11-29T03:00:00.000Z',
  finishedAt: '2026-11-29T03:01:10.000Z',
  notifications: [],
  ...extra,
});

test('a problem is a failed or missed drill, or a cluster left unhealthy; a skip or a pass is not', () => {
  assert.equal(isProblem(result('passed', { healthyAfter: true })), false);
  assert.equal(isProblem(result('skipped')), false);
  assert.equal(isProblem(result('missed')), true);
  assert.equal(isProblem(result('failed')), true);
  assert.equal(isProblem(result('passed', { healthyAfter: false })), true);
});

test('notify: nobody without settings; on problems only by default; every run with on: every', () => {
  assert.equal(shouldNotify(lab, result('missed')), false);
  const onProblems = withSettings({ notify: { command: '/usr/local/bin/page' } });
  assert.equal(onProblems.notify?.on, 'problems');
  assert.equal(shouldNotify(onProblems, result('missed')), true);
  assert.equal(shouldNotify(onProblems, result('passed', { healthyAfter: true })), false);
  assert.equal(shouldNotify(onProblems, result('skipped')), false, 'a busy cluster is nobody\'s problem');
  assert.equal(shouldNotify(onProblems, result('skipped', { unhealthyBefore: true })), true, 'an unhealthy cluster is');
  const every = withSettings({ notify: { command: '/usr/local/bin/page', on: 'every' } });
  assert.equal(shouldNotify(every, result('passed')), true);
  assert.equal(shouldNotify(every, result('skipped')), true);
});

test('a schedule pauses on a problem only when the objectives say so', () => {
  assert.equal(pausesSchedule(lab, result('missed')), false);
  const pausing = withSettings({ objectives: { rto_seconds: 10, pause_schedules_on_miss: true } });
  assert.equal(pausesSchedule(pausing, result('missed')), true);
  assert.equal(pausesSchedule(pausing, result('failed')), true);
  assert.equal(pausesSchedule(pausing, result('skipped')), false, 'a refused gate is no reason to stop testing');
  assert.equal(pausesSchedule(pausing, result('skipped', { unhealthyBefore: true })), false, 'nor an unhealthy cluster the drill found');
  assert.equal(pausesSchedule(pausing, result('passed', { healthyAfter: true })), false);
});

test('the notification says what happened, with the figures, a dedupe id and links to both runs', () => {
  const topology = withSettings({ notify: { webhook: { url: 'https://hooks.example.com/haflow' }, ui_url: 'https://temporal.example.com/' } });
  const r = result('missed', {
    drill: { workflowId: 'haflow-lab-standalone', runId: 'run-2', reportId: '20261129T030005Z-drill-crash-leader' },
    figures: { writeDowntimeSeconds: 14.2, lostWrites: 0, failedWrites: 120, newLeader: 'node2', predictedSeconds: 12.5, objectiveSeconds: 10 },
    healthyAfter: true,
    problemsAfter: [],
  });
  const n = notificationOf(topology, r, { namespace: 'default', workflowId: 'haflow-scheduled-x-2026-11-29T03:00:00Z', runId: 'run-1' });
  assert.equal(n.id, 'haflow-scheduled-x-2026-11-29T03:00:00Z/run-1');
  assert.equal(n.verdict, 'FAIL');
  assert.equal(n.why, 'the drill missed the objectives');
  assert.equal(n.figures?.writeDowntimeSeconds, 14.2);
  assert.equal(n.summary, 'MISSED crash-leader on lab-standalone — write downtime 14.2 s (objective 10 s), lost writes 0: write downtime 14.2 s, over the objective of 10 s');
  assert.equal(n.links.drillRun, 'https://temporal.example.com/namespaces/default/workflows/haflow-lab-standalone/run-2/history');
  assert.equal(n.links.scheduledRun, runLink('https://temporal.example.com', { namespace: 'default', workflowId: 'haflow-scheduled-x-2026-11-29T03:00:00Z', runId: 'run-1' }));
  assert.equal(n.links.report, 'haflow reports lab-standalone 20261129T030005Z-drill-crash-leader');
  const unhealthy = notificationOf(topology, result('passed', { healthyAfter: false, problemsAfter: ['node1 is not streaming'] }), { namespace: 'default', workflowId: 'w', runId: 'r' });
  assert.equal(unhealthy.why, 'the drill left the cluster unhealthy');
  assert.equal(unhealthy.verdict, 'PASS');
  const skipped = notificationOf(topology, result('skipped', { unhealthyBefore: true, reasons: ['the cluster is not healthy'] }), { namespace: 'default', workflowId: 'w', runId: 'r' });
  assert.equal(skipped.why, 'the cluster was not healthy, so the drill did not run');
  assert.equal(skipped.verdict, 'SKIPPED');
  assert.match(describeResult(result('skipped', { reasons: ['another operation holds the cluster'] })), /^SKIPPED crash-leader on lab-standalone: another operation holds the cluster$/);
});

test('report ids sort by time and say what ran', () => {
  assert.equal(reportId({ injectedAt: '2026-11-28T17:13:49.123Z', kind: 'drill', fault: 'crash-leader' }), '20261128T171349Z-drill-crash-leader');
});

test('the timetable: intervals of a minute or more, cron of five fields (UTC), each refusal saying what would be valid', () => {
  assert.equal(intervalSeconds('7d'), 604_800);
  assert.equal(intervalSeconds('90s'), 90);
  assert.equal(intervalSeconds('1 week'), undefined);
  assert.deepEqual(scheduleSpec({ every: '1m' }), { intervals: [{ every: '60s' }] });
  assert.deepEqual(scheduleSpec({ cron: '0 3 * * 1' }), { cronExpressions: ['0 3 * * 1'] });
  assert.deepEqual(scheduleSpec({ cron: '@weekly' }), { cronExpressions: ['@weekly'] });
  assert.throws(() => scheduleSpec({ every: '30s' }), /--every 30s: at least 60 s between drills/);
  assert.throws(() => scheduleSpec({ every: 'weekly' }), /--every weekly: write a duration such as 7d/);
  assert.throws(() => scheduleSpec({ cron: '0 3 * *' }), /five fields/);
});

test('notify settings: a URL with a token must be a reference, and its value is never echoed', () => {
  const bad = topologySchema.safeParse({ ...lab, notify: { webhook: { url: 'https://hooks.example.com/x?token=s3cr3t' } } });
  assert.equal(bad.success, false);
  assert.match(JSON.stringify(bad.error?.issues), /write the URL in a secret reference/);
  assert.doesNotMatch(JSON.stringify(bad.error?.issues.map((i) => i.message)), /s3cr3t/);
  assert.equal(topologySchema.safeParse({ ...lab, notify: { webhook: { url: 'https://u:p@hooks.example.com/x' } } }).success, false);
  assert.equal(topologySchema.safeParse({ ...lab, notify: { webhook: { url: { env: 'HAFLOW_WEBHOOK_URL' } } } }).success, true);
  assert.equal(topologySchema.safeParse({ ...lab, notify: { webhook: { url: 'ftp://hooks.example.com/' } } }).success, false);
  assert.equal(topologySchema.safeParse({ ...lab, notify: {} }).success, false, 'notify needs a webhook or a command');
  assert.equal(topologySchema.safeParse({ ...lab, notify: { command: 'page\nrm -rf /' } }).success, false);
});
