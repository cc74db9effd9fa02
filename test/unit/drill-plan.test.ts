// The drill's and the switchover's steps as data (runbooks/drill.ts, runbooks/switchover.ts):
// the order a failover test must follow, for every fault, and every id of the documented form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { drillSteps, recoveryBound } from '../../runbooks/drill';
import { FAULT_NAMES, faultProblems } from '../../topology/faults';
import { predictDowntime } from '../../runbooks/report';
import { flattenSteps, stepIdProblems } from '../../runbooks/runbook';
import { switchoverSteps } from '../../runbooks/switchover';
import { tunedTopology, tuneSteps } from '../../runbooks/tune';
import { desiredDynamicConfig } from '../../activities/patroni/config';
import { dynamicConfigChanges } from '../../activities/patroni/dynamic-config';
import { loadTopology, TIMING_PROFILES } from '../../topology';
import { headroomProblems } from '../../activities/cluster/headroom';
import { runbookFor } from '../../client/runbooks';

const { topology } = loadTopology(join(__dirname, '../../lab/topologies/standalone.yaml'));
const ids = (runbook: ReturnType<typeof drillSteps>) => flattenSteps(runbook).map((s) => s.id);

test('every fault: gate, probe database, fault, recovery, heal, rejoin, healthy again, the archive checked (the lab has backups); ids of the documented form', () => {
  for (const fault of FAULT_NAMES) {
    const runbook = drillSteps(topology, { fault, leader: 'node1' });
    assert.deepEqual(stepIdProblems(runbook), [], fault);
    const steps = ids(runbook);
    assert.equal(steps[0], 'drill.gate', fault);
    assert.equal(steps[1], 'postgres.probe-database@node1', fault);
    assert.deepEqual(steps.slice(-2), ['drill.healthy-after', 'backup.archiving'], fault);
    const target = fault === 'crash-observer' ? 'observer' : 'node1';
    const struck = steps.indexOf(`fault.${fault}@${target}`);
    const heal = steps.indexOf(`fault.heal@${target}`);
    const recovered = steps.indexOf('failover.recovered');
    assert.ok(struck === 2 && heal > struck && recovered > struck, `${fault}: ${steps.join(', ')}`);
    if (fault === 'crash-observer') assert.ok(heal < recovered, 'writes cannot come back before the observer does');
    else assert.ok(recovered < heal, 'the recovery is measured with the fault still in place');
    assert.equal(steps.includes(`patroni.rejoined@${target}`), target === 'node1', `${fault}: the old leader rejoins`);
    const strike = flattenSteps(runbook).find((s) => s.id === `fault.${fault}@${target}`)!;
    assert.equal(strike.attempts, 3, 'retried (a lost worker): the attempt that injected records it, and a later one reports it without injecting again');
  }
});

test('--switch-back ends with a switchover to the original leader and a gate on it', () => {
  const runbook = drillSteps(topology, { fault: 'crash-leader', leader: 'node1', switchBack: true });
  const steps = flattenSteps(runbook);
  const back = steps.find((s) => s.id === 'patroni.switch-back@node1')!;
  assert.equal(back.activity, 'switchoverTo');
  assert.deepEqual(back.input, { candidate: 'node1', waitSeconds: 120 });
  assert.deepEqual(steps.find((s) => s.id === 'drill.healthy-after')!.input, { leader: 'node1', waitSeconds: 120 });
  assert.equal(flattenSteps(drillSteps(topology, { fault: 'kill-postgres', leader: 'node1', switchBack: true })).some((s) => s.id.includes('switch-back')), false, 'nothing to switch back when the leader stays');
});

test('without backups a drill ends with the health check, and checks no archive', () => {
  const { backup: _none, ...withoutBackups } = topology;
  assert.equal(ids(drillSteps(withoutBackups, { fault: 'crash-leader', leader: 'node1' })).at(-1), 'drill.healthy-after');
});

test('the recovery step may wait well beyond the predicted worst case, and its time limit allows for it', () => {
  for (const fault of FAULT_NAMES) {
    const bound = recoveryBound(topology, fault);
    assert.ok(bound >= predictDowntime(topology, fault).worstSeconds * 2, fault);
    const step = flattenSteps(drillSteps(topology, { fault, leader: 'node1' })).find((s) => s.id === 'failover.recovered')!;
    assert.ok(step.timeoutSeconds! > bound, fault);
  }
});

test('a switchover: gate, probe database, POST /switchover (one attempt), then verified three ways; with --at the same, the request scheduled', () => {
  const ids = ['switchover.gate', 'postgres.probe-database@node1', 'patroni.switchover@node2', 'switchover.recovered', 'patroni.rejoined@node1', 'switchover.write'];
  const now = flattenSteps(switchoverSteps(topology, { leader: 'node1', candidate: 'node2' }));
  assert.deepEqual(now.map((s) => s.id), ids);
  assert.equal(now[2].input.scheduledAt, undefined);
  const later = flattenSteps(switchoverSteps(topology, { leader: 'node1', candidate: 'node2', at: '2026-12-01T02:00:00.000Z' }));
  assert.deepEqual(later.map((s) => s.id), ids);
  assert.equal(later[2].input.scheduledAt, '2026-12-01T02:00:00.000Z');
  assert.match(later[3].title, /^At 2026-12-01T02:00:00.000Z: node2 leads/);
});

test('tune: the profile replaces every timing, the plan changes config.yml, the dynamic configuration and HAProxy, then verifies', () => {
  const fast = tunedTopology(topology, { profile: 'fast', synchronous: 'on' });
  assert.deepEqual([fast.patroni.ttl, fast.patroni.loop_wait, fast.patroni.retry_timeout, fast.patroni.synchronous_mode], [6, 1, 2, 'on']);
  assert.deepEqual(fast.haproxy.check, { inter: 0.5, fall: 2, rise: 1 });
  assert.deepEqual(desiredDynamicConfig(fast), { ttl: 6, loop_wait: 1, retry_timeout: 2, maximum_lag_on_failover: 1048576, synchronous_mode: true, synchronous_mode_strict: false });
  const steps = flattenSteps(tuneSteps(fast)).map((s) => s.id);
  assert.deepEqual(steps, ['tune.gate', 'patroni.config@node1', 'patroni.config@node2', 'patroni.dynamic-config', 'haproxy.config@observer', 'verify.haproxy@observer', 'tune.healthy-after']);
  assert.deepEqual(stepIdProblems(tuneSteps(fast)), []);
});

test('tune to aggressive measures the room for it first (etcd round trip, replica lag), before anything changes; every profile keeps Patroni\'s rule', () => {
  const aggressive = tunedTopology(topology, { profile: 'aggressive' });
  assert.deepEqual([aggressive.patroni.ttl, aggressive.patroni.loop_wait, aggressive.patroni.retry_timeout], [5, 1, 2]);
  assert.deepEqual(aggressive.haproxy.check, { inter: 0.25, fall: 2, rise: 1 });
  const steps = flattenSteps(tuneSteps(aggressive));
  assert.deepEqual(steps.slice(0, 3).map((s) => s.id), ['tune.gate', 'tune.headroom', 'patroni.config@node1']);
  assert.equal(steps[1].kind, 'guard');
  assert.match(steps[1].title, /etcd's round trip from every DB node under 200 ms/);
  for (const [name, p] of Object.entries(TIMING_PROFILES)) assert.ok(p.patroni.loop_wait + 2 * p.patroni.retry_timeout <= p.patroni.ttl, name);
  assert.ok(predictDowntime(aggressive, 'crash-leader').expectedSeconds < predictDowntime(tunedTopology(topology, { profile: 'fast' }), 'crash-leader').expectedSeconds);
});

test('the room aggressive timings need: a slow or failed etcd round trip, or a lagging replica, is a problem naming both figures', () => {
  const aggressive = tunedTopology(topology, { profile: 'aggressive' });
  const fine = { etcdWorstMs: [{ from: 'node1', to: 'observer', ms: 3.2 }], lagWorstBytes: [{ replica: 'node2', bytes: 0 }] };
  assert.deepEqual(headroomProblems(aggressive, fine), []);
  const slow = headroomProblems(aggressive, { etcdWorstMs: [{ from: 'node2', to: 'observer', ms: 250 }, { from: 'node1', to: 'node1', ms: Infinity }], lagWorstBytes: [{ replica: 'node2', bytes: 600_000 }, { replica: 'node3' }] });
  assert.equal(slow.length, 4);
  assert.match(slow[0], /from node2 to observer reached 250 ms, over 200 ms \(a tenth of retry_timeout 2 s\)/);
  assert.match(slow[1], /from node1 to node1 reached a failed request/);
  assert.match(slow[2], /node2 lagged 600000 bytes, over 524288 \(half of maximum_lag_on_failover\)/);
  assert.match(slow[3], /node3 lagged by an unknown amount/);
});

test("the dynamic configuration's changes: only what differs, and an absent synchronous mode is off", () => {
  const wanted = desiredDynamicConfig(topology);
  assert.deepEqual(dynamicConfigChanges({ ...wanted }, wanted), []);
  assert.deepEqual(dynamicConfigChanges({ ttl: 30, loop_wait: 2, retry_timeout: 4, maximum_lag_on_failover: 1048576 }, wanted), [{ key: 'ttl', from: 30, to: 10 }]);
  assert.deepEqual(dynamicConfigChanges({ ...wanted, synchronous_mode: true }, wanted).map((c) => c.key), ['synchronous_mode']);
});

test("crash-app-master strikes the observer's application master, waits for the application from another node before the heal, and is refused without an application tier", () => {
  const steps = flattenSteps(drillSteps(topology, { fault: 'crash-app-master', leader: 'node1', appMaster: 'node2' }));
  const order = steps.map((s) => s.id);
  assert.deepEqual(order.slice(2, 6), ['fault.crash-app-master@node2', 'failover.recovered', 'app.recovered', 'fault.heal@node2']);
  const app = steps.find((s) => s.id === 'app.recovered')!;
  assert.deepEqual([app.activity, app.host, app.input.notOn], ['appHealthyThroughHaproxy', 'observer', 'node2']);
  assert.ok(order.includes('patroni.rejoined@node2'), 'on the standalone layout it is a DB node too, and rejoins');
  // Without an observer's word, the topology's application master.
  assert.equal(flattenSteps(drillSteps(topology, { fault: 'crash-app-master', leader: 'node1' }))[2].id, 'fault.crash-app-master@node1');
  const noApp = { ...topology, hosts: topology.hosts.map((h) => ({ ...h, roles: h.roles.filter((r) => r !== 'app') })) };
  assert.match(faultProblems(noApp, 'crash-app-master').join('\n'), /needs an application tier with a master and a slave/);
  assert.deepEqual(faultProblems(topology, 'crash-app-master'), []);
  // Predicted from the observer's settings: 3 checks 3 s apart, each up to 3 s, then the failover and HAProxy's checks.
  const p = predictDowntime(topology, 'crash-app-master');
  assert.equal(p.expectedSeconds, 2.5 * 3 + 3 + 5 + 1.5 + 3);
  assert.match(p.formula, /interval \+ timeout \+ failover/);
});

test('the classic layout is drilled with crash-app-master only: gate on the machines, the fault, the slave promoted, the application from it, the heal, the old master fenced', () => {
  const classic = loadTopology(join(__dirname, '../../lab/topologies/classic.yaml')).topology;
  assert.deepEqual(faultProblems(classic, 'crash-app-master'), []);
  assert.match(faultProblems(classic, 'crash-leader')[0], /fault crash-leader works through Patroni, which a classic cluster \(layout: classic\) does not run; it is drilled with crash-app-master/);
  const runbook = runbookFor('drill', classic, { fault: 'crash-app-master', leader: 'master', appMaster: 'master' });
  assert.deepEqual(stepIdProblems(runbook), []);
  assert.deepEqual(ids(runbook), ['drill.gate', 'postgres.probe-database@master', 'fault.crash-app-master@master', 'db.promoted@slave', 'app.recovered', 'fault.heal@master', 'db.fenced@master']);
  const steps = flattenSteps(runbook);
  assert.deepEqual(steps[0].input, { host: 'master', standbys: ['slave'] });
  assert.equal(steps[0].activity, 'classicSourceReady', 'no Patroni gate');
  assert.deepEqual(steps.find((s) => s.id === 'app.recovered')!.input, { host: 'observer', notOn: 'master', waitSeconds: recoveryBound(classic, 'crash-app-master') });
  // After a failover the observer's master is the slave: the drill strikes it.
  assert.deepEqual(ids(runbookFor('drill', classic, { fault: 'crash-app-master', leader: 'slave', appMaster: 'slave' })).slice(2, 4), ['fault.crash-app-master@slave', 'db.promoted@master']);
});

test("the switchover fault goes to the candidate planned with the drill, so a retried fault step finds it leading instead of switching over again", () => {
  const steps = flattenSteps(drillSteps(topology, { fault: 'switchover', leader: 'node1', candidate: 'node2' }));
  const fault = steps.find((s) => s.mark === 'strike')!;
  assert.deepEqual(fault.input, { host: 'node1', fault: 'switchover', candidate: 'node2' });
  // The other faults strike a machine, not a member to go to.
  assert.equal('candidate' in flattenSteps(drillSteps(topology, { fault: 'kill-postgres', leader: 'node1' })).find((s) => s.mark === 'strike')!.input, false);
});
