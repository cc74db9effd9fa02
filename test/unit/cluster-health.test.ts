// The verdict on a cluster's readings (activities/cluster/health.ts) and how `haflow list` shows
// it: every way a cluster is not healthy is named. Readings are written by hand, in the shapes
// Patroni 3.0.2, etcd and HAProxy answer with on the lab.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { clusterHealth, leaderPatroniVersion, type ClusterReadings } from '../../activities/cluster/health';
import { formatHealth } from '../../cli/health';
import { loadTopology } from '../../topology';

const { topology } = loadTopology(join(__dirname, '../../lab/topologies/standalone.yaml'));
const at = new Date('2026-11-28T12:00:00Z');

function healthy(): ClusterReadings {
  return {
    nodes: [
      { host: 'node1', role: 'primary', state: 'running', timeline: 2, replication: [{ name: 'node2', state: 'streaming', syncState: 'async' }] },
      { host: 'node2', role: 'replica', state: 'running', timeline: 2 },
    ],
    members: [
      { name: 'node1', host: '127.0.0.12', port: 5432, role: 'leader', state: 'running', timeline: 2 },
      { name: 'node2', host: '127.0.0.13', port: 5432, role: 'replica', state: 'running', timeline: 2, lag: 0 },
    ],
    membersFrom: 'node1',
    etcd: [{ host: 'observer', healthy: true }],
    haproxy: [{ host: 'observer', endpoint: '127.0.0.11:5000', servers: [{ name: 'node1', status: 'UP' }, { name: 'node2', status: 'DOWN' }] }],
  };
}

const problemsOf = (change: (r: ClusterReadings) => void) => {
  const readings = healthy();
  change(readings);
  const health = clusterHealth(topology, readings, at);
  assert.equal(health.healthy, health.problems.length === 0);
  return health.problems;
};

describe('clusterHealth', () => {
  test('one leader, a streaming replica with no lag, HAProxy on the leader, etcd healthy: healthy', () => {
    const health = clusterHealth(topology, healthy(), at);
    assert.deepEqual(health.problems, []);
    assert.equal(health.healthy, true);
    assert.equal(health.leader, 'node1');
    assert.equal(health.members.find((m) => m.name === 'node2')!.streaming, true);
    assert.deepEqual(health.haproxy[0].routesTo, ['node1']);
  });

  test('no leader', () => {
    assert.deepEqual(problemsOf((r) => (r.members![0].role = 'replica')).filter((p) => /leader/.test(p)).slice(0, 1), ['no leader: no member holds the leader key in etcd']);
  });

  test('two nodes running as primary is a split brain, named as such', () => {
    const problems = problemsOf((r) => (r.nodes[1] = { host: 'node2', role: 'primary', state: 'running', timeline: 3 }));
    assert.ok(problems.some((p) => /2 nodes run PostgreSQL as a primary: node1, node2 \(split brain/.test(p)), problems.join('\n'));
  });

  test('a replica the leader has no streaming WAL sender for', () => {
    assert.ok(problemsOf((r) => (r.nodes[0].replication = [])).includes('node2 is not streaming from node1 (node1 has no WAL sender for it)'));
    assert.ok(problemsOf((r) => (r.nodes[0].replication![0].state = 'catchup')).includes('node2 is not streaming from node1 (its WAL sender is catchup)'));
  });

  test('lag over maximum_lag_on_failover, and lag unknown', () => {
    assert.ok(problemsOf((r) => (r.members![1].lag = 2 * 1048576)).includes('node2 lags 2097152 bytes behind, over maximum_lag_on_failover (1048576)'));
    assert.ok(problemsOf((r) => (r.members![1].lag = 'unknown')).includes("node2's lag is unknown"));
  });

  test('HAProxy routing writes to no server, to two, or to one that is not the leader', () => {
    assert.ok(problemsOf((r) => (r.haproxy[0].servers[0].status = 'DOWN')).some((p) => /sends writes to no server: node1 DOWN, node2 DOWN/.test(p)));
    assert.ok(problemsOf((r) => (r.haproxy[0].servers[1].status = 'UP')).some((p) => /sends writes to 2 servers: node1, node2/.test(p)));
    assert.ok(
      problemsOf((r) => {
        r.haproxy[0].servers[0].status = 'DOWN';
        r.haproxy[0].servers[1].status = 'UP 1/2';
      }).some((p) => /sends writes to node2, but the leader is node1/.test(p)),
    );
  });

  test('a DB node that does not answer, a member missing, etcd unhealthy', () => {
    const problems = problemsOf((r) => {
      r.nodes[1] = { host: 'node2', role: 'unknown', error: 'connect ECONNREFUSED 127.0.0.13:8008' };
      r.members = r.members!.slice(0, 1);
      r.nodes[0].replication = [];
      r.etcd[0] = { host: 'observer', healthy: false, error: 'connect ETIMEDOUT' };
    });
    assert.ok(problems.includes("node2 does not answer Patroni's REST API on port 8008: connect ECONNREFUSED 127.0.0.13:8008"), problems.join('\n'));
    assert.ok(problems.some((p) => /^node2 is not a member of the cluster/.test(p)));
    assert.ok(problems.includes('etcd on observer is not healthy: connect ETIMEDOUT'));
  });
});

describe('haflow list', () => {
  test("prints patronictl's table, where HAProxy sends writes, etcd, and the verdict", () => {
    const text = formatHealth(clusterHealth(topology, healthy(), at));
    const lines = text.split('\n');
    assert.match(lines[0], /^\+ Cluster: lab-standalone -+\+$/);
    assert.match(lines[1], /^\| Member \| Host {12}\| Role {4}\| State {5}\| TL \| Lag in MB \|$/);
    assert.match(text, /^\| node1 {2}\| 127\.0\.0\.12:5432 \| Leader {2}\| running {3}\| {2}2 \| {11}\|$/m);
    assert.match(text, /^\| node2 {2}\| 127\.0\.0\.13:5432 \| Replica \| streaming \| {2}2 \| {9}0 \|$/m);
    assert.match(text, /^HAProxy observer \(127\.0\.0\.11:5000\) sends writes to node1 {3}\[node1 UP, node2 DOWN\]$/m);
    assert.match(text, /^etcd: observer healthy$/m);
    assert.match(lines.at(-1)!, /^healthy \(checked 2026-11-28T12:00:00\.000Z\)$/);
  });

  test('an unhealthy cluster ends with every problem, one per line', () => {
    const readings = healthy();
    readings.haproxy[0].servers[0].status = 'DOWN';
    const text = formatHealth(clusterHealth(topology, readings, at));
    assert.match(text, /NOT HEALTHY \(checked .*\):\n {2}- HAProxy on observer \(127\.0\.0\.11:5000\) sends writes to no server/);
  });
});

test("the leader's Patroni version is the one its own REST API reports, not a replica's; none without a leader", () => {
  const readings = healthy();
  readings.nodes[0].patroniVersion = '4.0.7';
  readings.nodes[1].patroniVersion = '3.0.2';
  assert.equal(leaderPatroniVersion(clusterHealth(topology, readings, at)), '4.0.7');
  readings.members!.reverse().forEach((m) => (m.role = m.name === 'node2' ? 'leader' : 'replica'));
  readings.nodes.forEach((n) => (n.role = n.host === 'node2' ? 'primary' : 'replica'));
  assert.equal(leaderPatroniVersion(clusterHealth(topology, readings, at)), '3.0.2');
  readings.members!.forEach((m) => (m.role = 'replica'));
  assert.equal(leaderPatroniVersion(clusterHealth(topology, readings, at)), undefined);
});
