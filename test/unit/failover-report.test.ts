// The drill report's arithmetic on made-up measurements (runbooks/report.ts), the predicted
// downtime against the settings, the fault catalog's refusals, the fault drivers' command
// lines, the probe's bookkeeping, and how a report reads (Markdown, SVG).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { driverCommand } from '../../activities/failover/drivers';
import { addToRanges, missingFrom, rangesCount, type FailoverMeasurement } from '../../activities/failover/measure';
import { formatReportMarkdown, formatReportSummary, reportSvg } from '../../client/report';
import { faultProblems, FAULT_NAMES } from '../../topology/faults';
import { drillReport, predictDowntime } from '../../runbooks/report';
import { loadTopology, parseTopology, type Topology } from '../../topology';

const { topology: lab } = loadTopology(join(__dirname, '../../lab/topologies/standalone.yaml'));
const T0 = 1_800_000_000_000; // the fault

/** A crash of node1 as the lab shows one: writes fail at once, node2 leads after 11 s, HAProxy after 15 s, writes back at 16 s. */
function crashObservation(): FailoverMeasurement {
  const at = (s: number) => T0 + s * 1000;
  return {
    drill: 'haflow-lab/run-1',
    startedAt: at(-5),
    endedAt: at(22),
    intervalMs: 100,
    attempts: 270,
    acked: [
      [1, 50],
      [211, 270],
    ],
    ackedCount: 110,
    ackedBy: { '127.0.0.12': 50, '127.0.0.13': 60 },
    outages: [{ lastAckAt: at(-0.1), firstFailAt: at(0.05), firstAckAfterAt: at(16.1), failed: 160, firstError: 'connection error' }],
    lost: { checkedOn: '127.0.0.13', count: 0, sample: [] },
    events: [
      { at: at(-5), subject: 'role:node1', value: 'primary' },
      { at: at(-5), subject: 'role:node2', value: 'replica' },
      { at: at(-5), subject: 'leader', value: 'node1' },
      { at: at(-5), subject: 'routing', value: 'node1' },
      { at: at(0.1), subject: 'role:node1', value: 'unreachable' },
      { at: at(9.3), subject: 'leader', value: 'none' },
      { at: at(11.3), subject: 'leader', value: 'node2' },
      { at: at(11.4), subject: 'role:node2', value: 'primary' },
      { at: at(14.8), subject: 'routing', value: 'node1+node2' },
      { at: at(17.1), subject: 'routing', value: 'node2' },
    ],
    splitBrain: [],
    interruptions: [],
    stoppedBecause: 'writes flowed for 5 s after the outage, to the leader',
  };
}

const report = (o: FailoverMeasurement, topology: Topology = lab, completed = true) =>
  drillReport({ topology, fault: 'crash-leader', target: 'node1', oldLeader: 'node1', startedAt: T0 - 5500, injectedAt: T0, finishedAt: T0 + 34_000, measurement: o, completed });

describe('drillReport', () => {
  test('write downtime runs from the last acknowledged write before the fault to the first after; phases from the watcher', () => {
    const r = report(crashObservation());
    assert.equal(r.figures.writeDowntimeSeconds, 16.2);
    assert.equal(r.figures.failedWrites, 160);
    assert.equal(r.figures.lostWrites, 0);
    assert.equal(r.figures.newLeader, 'node2');
    assert.equal(r.figures.timeToNewLeaderSeconds, 11.3);
    assert.equal(r.figures.timeToRoutingSeconds, 14.8, 'HAProxy routes to node2 once its checks mark it UP, even while the dead node1 still counts as UP');
    assert.deepEqual(r.figures.phases, { detectionSeconds: 9.3, promotionSeconds: 2.1, routingSeconds: 3.4 });
    assert.equal(r.verdict.pass, true, r.verdict.reasons.join('; '));
    assert.deepEqual(r.probe.acked, [[1, 50], [211, 270]]);
  });

  test('a fault that struck while the probe was down (its worker lost) is not 0 s: at most until the probe wrote again', () => {
    const gap = crashObservation();
    // The worker died at -0.5 s and its successor wrote again at 20 s: no failed write was ever seen.
    gap.outages = [];
    gap.interruptions = [{ from: T0 - 500, to: T0 + 20_000 }];
    const r = report(gap);
    assert.equal(r.figures.writeDowntimeSeconds, 20.5);
    assert.equal(r.figures.downtimeIsUpperBound, true);
  });

  test('fails on lost writes, on downtime over the objective, on a split brain, and when writes never resumed', () => {
    const lost = crashObservation();
    lost.lost = { checkedOn: '127.0.0.13', count: 2, sample: [49, 50] };
    assert.match(report(lost).verdict.reasons.join(), /2 acknowledged write\(s\) lost, over the objective of 0/);

    const strict = parseTopology(`${JSON.stringify({ ...lab, objectives: { rto_seconds: 10 } })}`, 'x.json').topology;
    assert.match(report(crashObservation(), strict).verdict.reasons.join(), /write downtime 16\.2 s, over the objective of 10 s/);

    const brain = crashObservation();
    brain.splitBrain = [{ at: T0 + 12_000, primaries: ['node1', 'node2'] }];
    assert.match(report(brain).verdict.reasons.join(), /two nodes ran as primaries at once \(node1\+node2\)/);

    const stuck = crashObservation();
    stuck.outages[0].firstAckAfterAt = undefined;
    const r = report(stuck);
    assert.equal(r.figures.writeDowntimeSeconds, undefined);
    assert.match(r.verdict.reasons.join(), /writes did not resume/);
    assert.equal(r.verdict.pass, false);
  });

  test('a drill that did not complete, or after which the leader did not move, fails', () => {
    assert.match(report(crashObservation(), lab, false).verdict.reasons.join(), /did not complete/);
    const stayed = crashObservation();
    stayed.events = stayed.events.filter((e) => !(e.subject === 'leader' && e.value === 'node2'));
    assert.match(report(stayed).verdict.reasons.join(), /leadership did not move from node1/);
  });

  test('the timeline is in seconds from the fault, in order', () => {
    const r = report(crashObservation());
    const times = r.timeline.map((e) => e.t);
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    assert.ok(r.timeline.some((e) => e.t === 0 && e.what === 'fault: crash-leader on node1'));
    assert.ok(r.timeline.some((e) => e.t === 11.3 && e.what === 'node2 holds the leader key'));
    assert.ok(r.timeline.some((e) => e.t === 16.1 && e.what === 'writes acknowledged again'));
  });
});

describe('predictDowntime', () => {
  test('faster settings predict less downtime for every fault; the worst case is never below the expected', () => {
    const fast = { ...lab, patroni: { ...lab.patroni, ttl: 6, loop_wait: 1, retry_timeout: 2 }, haproxy: { ...lab.haproxy, check: { inter: 0.5, fall: 2, rise: 1 } } };
    for (const fault of FAULT_NAMES) {
      const slow = predictDowntime(lab, fault);
      const quick = predictDowntime(fast, fault);
      assert.ok(quick.expectedSeconds <= slow.expectedSeconds, `${fault}: ${quick.expectedSeconds} > ${slow.expectedSeconds}`);
      assert.ok(slow.worstSeconds >= slow.expectedSeconds && quick.worstSeconds >= quick.expectedSeconds, fault);
    }
  });

  test('a crash of the leader waits for the leader key to expire: ttl dominates', () => {
    const p = predictDowntime(lab, 'crash-leader');
    assert.equal(p.expectedSeconds, 10 - 1 + 2 + 0.3 + 1.5 + 3);
    assert.match(p.formula, /ttl - loop_wait\/2/);
  });

  test("a coordinated switchover does not wait for HAProxy's checks: its prediction is the same whatever they are", () => {
    const slowChecks = { ...lab, haproxy: { ...lab.haproxy, check: { inter: 10, fall: 3, rise: 3 } } };
    const coordinated = predictDowntime(slowChecks, 'switchover', { coordinated: true });
    assert.deepEqual(coordinated, predictDowntime(lab, 'switchover', { coordinated: true }));
    assert.equal(coordinated.expectedSeconds, 1.6);
    assert.ok(coordinated.expectedSeconds < predictDowntime(lab, 'switchover').expectedSeconds);
    assert.ok(predictDowntime(slowChecks, 'switchover').expectedSeconds > predictDowntime(lab, 'switchover').expectedSeconds);
  });
});

describe('the fault catalog', () => {
  test('a fault whose driver the topology does not set is refused, naming the setting', () => {
    const bare = { ...lab, faults: {} };
    assert.deepEqual(faultProblems(bare, 'switchover'), []);
    assert.deepEqual(faultProblems(bare, 'kill-postgres'), []);
    const problems = faultProblems(bare, 'crash-leader');
    assert.equal(problems.length, 2);
    assert.match(problems[0], /fault crash-leader needs the fault driver faults\.power_off/);
    assert.match(faultProblems(bare, 'partition-leader').join(), /faults\.partition.*faults\.heal/);
    assert.deepEqual(faultProblems(lab, 'crash-observer'), []);
  });

  test('driver commands get the host and address shell-quoted', () => {
    const host = { name: 'node1', address: '10.0.0.12', roles: ['db' as const] };
    assert.equal(driverCommand('ipmitool -H {host}-bmc chassis power off', host), 'ipmitool -H node1-bmc chassis power off');
    assert.equal(driverCommand("aws ec2 stop-instances --filters 'Name=ip,Values={address}'", host), "aws ec2 stop-instances --filters 'Name=ip,Values=10.0.0.12'");
  });

  test('the topology refuses a driver with an unknown placeholder or a line break', () => {
    const text = (command: string) => JSON.stringify({ ...lab, faults: { power_off: command } });
    assert.throws(() => parseTopology(text('poweroff {hostname}'), 'x.json'), /faults\.power_off: may only use the placeholders \{host\} and \{address\}/);
    assert.throws(() => parseTopology(text('poweroff {host}\nreboot'), 'x.json'), /faults\.power_off: must be one line/);
  });
});

describe("the probe's bookkeeping", () => {
  test('acknowledged numbers are kept as ranges, and missing ones found', () => {
    const ranges: [number, number][] = [];
    for (const n of [1, 2, 3, 7, 8, 10]) addToRanges(ranges, n);
    assert.deepEqual(ranges, [[1, 3], [7, 8], [10, 10]]);
    assert.equal(rangesCount(ranges), 6);
    assert.deepEqual(missingFrom(ranges, new Set([1, 2, 3, 8, 10, 11])), [7]);
    assert.throws(() => addToRanges(ranges, 9), /not after 10/);
  });
});

describe('how a report reads', () => {
  test('the summary, the Markdown and the SVG carry the figures; the SVG stands alone', () => {
    const r = report(crashObservation());
    const summary = formatReportSummary(r);
    assert.match(summary, /drill crash-leader on node1 on cluster lab-standalone: PASS/);
    assert.match(summary, /write downtime {3}16\.2 s {3}\(predicted 15\.8 s, at worst/);
    const markdown = formatReportMarkdown(r);
    assert.match(markdown, /^# Drill crash-leader on lab-standalone: PASS$/m);
    assert.match(markdown, /\| acknowledged writes lost \(RPO\) \| 0 of 110 \|/);
    assert.match(markdown, /^- \+11\.3 s: node2 holds the leader key$/m);
    const svg = reportSvg(r);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal((svg.match(/<g>/g) ?? []).length, (svg.match(/<\/g>/g) ?? []).length);
    for (const lane of ['writes (probe)', 'leader key', 'HAProxy routes to', 'node1', 'node2']) assert.ok(svg.includes(`>${lane}</text>`), lane);
    assert.doesNotMatch(svg, /<script/i);
  });
});

describe('the application path', () => {
  const at = (s: number) => T0 + s * 1000;
  const withApp = (events: FailoverMeasurement['events']): FailoverMeasurement => {
    const o = crashObservation();
    return { ...o, events: [...o.events, ...events].sort((a, b) => a.at - b.at) };
  };

  test('from the first failed answer after the fault to the first 200 after the last failed one; in the summary and the Markdown', () => {
    const r = report(withApp([
      { at: at(-5), subject: 'app', value: 'up' },
      { at: at(0.3), subject: 'app', value: 'down' },
      { at: at(12), subject: 'app', value: 'up' },
      { at: at(13), subject: 'app', value: 'down' },
      { at: at(20.5), subject: 'app', value: 'up' },
    ]));
    assert.equal(r.figures.appDowntimeSeconds, 20.2);
    assert.equal(r.figures.appDownAtLeastSeconds, undefined);
    assert.match(formatReportSummary(r), /application +down 20\.2 s through HAProxy/);
    assert.match(formatReportMarkdown(r), /\| application path \(its health URL through HAProxy\) \| down 20\.2 s/);
    assert.ok(r.timeline.some((e) => e.what === 'the application answers 200 through HAProxy' && e.t === 20.5));
  });

  test('not back when the measurement ended: down at least until then; no application tier: no figure and no line', () => {
    const r = report(withApp([{ at: at(-5), subject: 'app', value: 'up' }, { at: at(1), subject: 'app', value: 'down' }]));
    assert.equal(r.figures.appDowntimeSeconds, undefined);
    assert.equal(r.figures.appDownAtLeastSeconds, 21);
    assert.match(formatReportSummary(r), /down at least 21\.0 s: it had not answered 200 through HAProxy again/);
    const none = report(crashObservation());
    assert.equal('appDowntimeSeconds' in none.figures, false);
    assert.doesNotMatch(formatReportSummary(none), /application/);
    const untouched = report(withApp([{ at: at(-5), subject: 'app', value: 'up' }]));
    assert.equal(untouched.figures.appDowntimeSeconds, 0, 'up throughout');
  });
});
