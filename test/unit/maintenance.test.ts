// The rolling restart as data (runbooks/restart.ts) and what its report makes of a probe's
// measurement (runbooks/maintenance-report.ts): each write pause put on the step it began in,
// and a verdict that holds the promise that the leader's switchover pauses writes, nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { FailoverMeasurement } from '../../activities/failover/measure';
import { formatMaintenanceSummary } from '../../client/report';
import { maintenanceReport, type MaintenanceInput } from '../../runbooks/maintenance-report';
import { restartSteps } from '../../runbooks/restart';
import { upgradeSteps } from '../../runbooks/upgrade';
import { parseAptPolicy } from '../../activities/postgres/upgrade';
import { parsePostgresVersion, serverVersionText } from '../../activities/postgres/version';
import { flattenSteps, stepIdProblems } from '../../runbooks/runbook';
import { loadTopology } from '../../topology';
import { generic } from '../support/topologies';

const { topology: lab } = loadTopology(join(__dirname, '../../lab/topologies/standalone.yaml'));

test('restart: replicas one at a time (the candidate last), each streaming before the next, then the leader by a coordinated switchover', () => {
  const three = generic();
  const db = three.hosts.filter((h) => h.roles.includes('db')).map((h) => h.name);
  const [leader, candidate] = [db[0], db[1]];
  const runbook = restartSteps(three, { leader, candidate, plannedStarts: { [db[2]]: '2026-11-29 06:00:00.000000+00:00' } });
  assert.deepEqual(stepIdProblems(runbook), []);
  const ids = flattenSteps(runbook).map((s) => s.id);
  assert.deepEqual(ids, [
    'restart.gate',
    `postgres.probe-database@${leader}`,
    `postgres.restart@${db[2]}`,
    `patroni.streaming@${db[2]}`,
    `postgres.restart@${candidate}`,
    `patroni.streaming@${candidate}`,
    `patroni.switchover@${candidate}`,
    'restart.recovered',
    `patroni.rejoined@${leader}`,
    `postgres.restart@${leader}`,
    `patroni.streaming@${leader}`,
    'restart.write',
    'restart.healthy-after',
  ]);
  const steps = flattenSteps(runbook);
  assert.equal(steps.find((s) => s.id === `patroni.switchover@${candidate}`)!.activity, 'coordinatedSwitchoverTo');
  // The planned start is what makes a restart idempotent; a member without one is restarted.
  assert.equal((steps.find((s) => s.id === `postgres.restart@${db[2]}`)!.input as { plannedStart?: string }).plannedStart, '2026-11-29 06:00:00.000000+00:00');
  assert.equal((steps.find((s) => s.id === `postgres.restart@${candidate}`)!.input as { plannedStart?: string }).plannedStart, undefined);
});

const T0 = 1_800_000_000_000;
const at = (s: number) => T0 + s * 1000;

function measurement(outages: FailoverMeasurement['outages']): FailoverMeasurement {
  return {
    drill: 'haflow-lab/run-1',
    startedAt: at(0),
    endedAt: at(100),
    intervalMs: 100,
    attempts: 1000,
    acked: [[1, 990]],
    ackedCount: 990,
    ackedBy: { '127.0.0.12': 600, '127.0.0.13': 390 },
    outages,
    lost: { checkedOn: '127.0.0.13', count: 0, sample: [] },
    events: [],
    splitBrain: [],
    interruptions: [],
    stoppedBecause: "the run's step restart.healthy-after is done, and writes flowed for 5 s after it",
  };
}

const steps: MaintenanceInput['steps'] = [
  { id: 'postgres.restart@node2', startedAt: at(5), finishedAt: at(20) },
  { id: 'patroni.streaming@node2', startedAt: at(20), finishedAt: at(30) },
  { id: 'patroni.switchover@node2', startedAt: at(30), finishedAt: at(33) },
  { id: 'restart.healthy-after', startedAt: at(60), finishedAt: at(90) },
];

const input = (outages: FailoverMeasurement['outages']): MaintenanceInput => ({
  kind: 'restart',
  cluster: lab.cluster,
  startedAt: at(0),
  finishedAt: at(100),
  measurement: measurement(outages),
  steps,
  switchoverStep: 'patroni.switchover@node2',
  switchoverFacts: { coordinated: true, requestedAt: at(30), promotedAt: at(31.3), routedAt: at(31.35) },
  completed: true,
});

test("the switchover's pause alone passes, with its phases", () => {
  const report = maintenanceReport(input([{ lastAckAt: at(30.2), firstFailAt: at(30.3), firstAckAfterAt: at(31.5), failed: 11, firstError: 'terminating connection due to administrator command' }]));
  assert.equal(report.verdict.pass, true, report.verdict.reasons.join('; '));
  assert.equal(report.totalPauseSeconds, 1.3);
  assert.deepEqual(report.pauses.map((p) => [p.duringStep, p.seconds]), [['patroni.switchover@node2', 1.3]]);
  assert.deepEqual([report.switchover?.coordinated, report.switchover?.patroniSeconds, report.switchover?.routingSeconds], [true, 1.3, 0.1]);
  const summary = formatMaintenanceSummary(report);
  assert.match(summary, /restart of cluster lab-standalone: PASS/);
  assert.match(summary, /write pauses +1\.3 s during patroni\.switchover@node2; total 1\.3 s/);
});

test('a pause during a replica restart fails the verdict and names the step; pauses add up', () => {
  const report = maintenanceReport(
    input([
      { lastAckAt: at(6), firstFailAt: at(6.1), firstAckAfterAt: at(6.5), failed: 3, firstError: 'canceling statement due to statement timeout' },
      { lastAckAt: at(30.2), firstFailAt: at(30.3), firstAckAfterAt: at(31.5), failed: 11, firstError: 'terminating connection' },
    ]),
  );
  assert.equal(report.verdict.pass, false);
  assert.deepEqual(report.verdict.reasons, ['writes paused 0.5 s during postgres.restart@node2, not during the switchover']);
  assert.equal(report.totalPauseSeconds, 1.8);
});

test('writes still failing at the end, lost writes, and an unfinished run each fail it', () => {
  const report = maintenanceReport({
    ...input([{ lastAckAt: at(30.2), firstFailAt: at(30.3), failed: 600, firstError: 'no server available' }]),
    measurement: { ...measurement([{ lastAckAt: at(30.2), firstFailAt: at(30.3), failed: 600, firstError: 'no server available' }]), lost: { checkedOn: '127.0.0.13', count: 2, sample: [7, 8] } },
    completed: false,
  });
  assert.equal(report.verdict.pass, false);
  assert.deepEqual(report.verdict.reasons, [
    'the operation did not complete',
    `writes had not resumed when the measurement ended (failing since ${new Date(at(30.2)).toISOString()}: no server available)`,
    '2 acknowledged write(s) lost',
  ]);
  assert.equal(report.totalPauseSeconds, 0, 'an open pause has no length to add');
});

test('a pause the probe did not watch throughout (its worker was lost) is an upper bound', () => {
  const outage = { lastAckAt: at(29), firstFailAt: at(30.3), firstAckAfterAt: at(31.5), failed: 11, firstError: 'terminating connection' };
  const report = maintenanceReport({ ...input([outage]), measurement: { ...measurement([outage]), interruptions: [{ from: at(29.1), to: at(30.2) }] } });
  assert.equal(report.pauses[0].upperBound, true);
  assert.match(formatMaintenanceSummary(report), /write pauses +at most 2\.5 s during patroni\.switchover@node2/);
  assert.equal(maintenanceReport(input([outage])).pauses[0].upperBound, undefined);
});

test('a pause between two steps is put on the step that ran last before it', () => {
  const report = maintenanceReport(input([{ lastAckAt: at(20), firstFailAt: at(20.0005), firstAckAfterAt: at(20.4), failed: 2, firstError: 'x' }]));
  assert.equal(report.pauses[0].duringStep, 'patroni.streaming@node2');
  const between = maintenanceReport({ ...input([{ lastAckAt: at(45), firstFailAt: at(45.1), firstAckAfterAt: at(45.4), failed: 2, firstError: 'x' }]), steps: steps.filter((s) => s.id !== 'restart.healthy-after') });
  assert.equal(between.pauses[0].duringStep, 'patroni.switchover@node2');
});

test('upgrade --minor: packages, restart until the installed version runs, streaming and the version, node by node; the leader after a coordinated switchover; one version at the end', () => {
  const three = generic();
  const db = three.hosts.filter((h) => h.roles.includes('db')).map((h) => h.name);
  const runbook = upgradeSteps(three, { leader: db[0], candidate: db[1], versionsBefore: { [db[0]]: '16.4', [db[1]]: '16.4', [db[2]]: '16.4' } });
  assert.deepEqual(stepIdProblems(runbook), []);
  const perNode = (h: string) => [`postgres.packages@${h}`, `postgres.restart@${h}`, `patroni.streaming@${h}`, `postgres.version@${h}`];
  assert.deepEqual(
    flattenSteps(runbook).map((s) => s.id),
    ['upgrade.gate', `postgres.probe-database@${db[0]}`, ...perNode(db[2]), ...perNode(db[1]), `patroni.switchover@${db[1]}`, 'upgrade.recovered', `patroni.rejoined@${db[0]}`, ...perNode(db[0]), 'upgrade.versions', 'upgrade.write', 'upgrade.healthy-after'],
  );
  // The old leader was restarted by its demotion before its packages changed: its restart goes by version, not by start time.
  assert.deepEqual(flattenSteps(runbook).find((s) => s.id === `postgres.restart@${db[0]}`)!.input, { host: db[0], untilInstalledVersion: true, waitSeconds: 150 });
});

test("what apt and PostgreSQL say about versions, read", () => {
  const policy = ['postgresql-15:', '  Installed: 15.18-0+deb12u1', '  Candidate: 15.20-0+deb12u1', '  Version table:', '     15.20-0+deb12u1 500', ' *** 15.18-0+deb12u1 500'].join('\n');
  assert.deepEqual(parseAptPolicy(policy), { installed: '15.18-0+deb12u1', candidate: '15.20-0+deb12u1' });
  assert.deepEqual(parseAptPolicy('libpq5:\n  Installed: (none)\n  Candidate: 15.20-0+deb12u1\n'), { installed: undefined, candidate: '15.20-0+deb12u1' });
  assert.equal(serverVersionText(150020), '15.20');
  assert.equal(serverVersionText(90624), '9.6.24');
  assert.equal(parsePostgresVersion('postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)'), '15.18');
  assert.equal(parsePostgresVersion('command not found'), undefined);
});
