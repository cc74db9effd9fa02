// The platforms as data: what each OS release is known to run, what haflow claims of it, and
// what differs between Patroni 3.0 and later (its timing floors, its words for a member's state)
// where a runbook or a prediction depends on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memberIsReplica, memberRuns } from '../../activities/patroni/member-state';
import { predictDowntime } from '../../runbooks/report';
import { checkTopology, effectivePatroniTimings, loadTopology, patroniHasQuorum, patroniTimingFloors, PLATFORMS, platformClaim, platformOf } from '../../topology';
import { desiredDynamicConfig } from '../../activities/patroni/config';
import { join } from 'node:path';

test('an OS release is found by its id and version, a point release too; an unknown one is not', () => {
  assert.equal(platformOf('debian 13')?.postgresql.majors.join(), '17');
  assert.equal(platformOf('debian 12.7')?.os, 'debian 12');
  assert.equal(platformOf('rhel 9.6')?.binDir(17), '/usr/pgsql-17/bin');
  assert.equal(platformOf('debian 14'), undefined);
  assert.equal(platformOf(undefined), undefined);
});

test('only what the lab runs is claimed as tested; Ubuntu and RHEL are written for, not tested', () => {
  assert.deepEqual(PLATFORMS.filter((p) => p.tested).map((p) => p.os), ['debian 12', 'debian 13']);
  assert.match(platformClaim(platformOf('debian 13')!), /^debian 13: tested \(PostgreSQL 17, Patroni 4\.0\.7, etcd 3\.5\.16, HAProxy 3\.0\)$/);
  for (const os of ['ubuntu 22.04', 'ubuntu 24.04', 'rhel 9.4', 'rhel 9.6']) assert.match(platformClaim(platformOf(os)!), /written for, not tested here/, os);
});

test('Patroni 3.0 takes its timings as written; from 3.1 on ttl is at least 20, loop_wait 1, retry_timeout 3', () => {
  assert.equal(patroniTimingFloors('3.0.2'), undefined);
  assert.equal(patroniTimingFloors(undefined), undefined);
  assert.deepEqual(patroniTimingFloors('3.1.0'), { ttl: 20, loop_wait: 1, retry_timeout: 3 });
  assert.deepEqual(patroniTimingFloors('4.0.7'), { ttl: 20, loop_wait: 1, retry_timeout: 3 });
  assert.deepEqual(patroniTimingFloors("3.2 (Ubuntu's)"), { ttl: 20, loop_wait: 1, retry_timeout: 3 });
  assert.equal(patroniTimingFloors("apt.postgresql.org's"), undefined, 'a version not known: as written');
  const written = { ttl: 10, loop_wait: 2, retry_timeout: 4 };
  assert.deepEqual(effectivePatroniTimings(written, '3.0.2'), written);
  assert.deepEqual(effectivePatroniTimings(written, '4.0.7'), { ttl: 20, loop_wait: 2, retry_timeout: 4 });
  assert.deepEqual(effectivePatroniTimings({ ttl: 30, loop_wait: 10, retry_timeout: 10 }, '4.0.7'), { ttl: 30, loop_wait: 10, retry_timeout: 10 });
});

test("a crashed leader's predicted downtime uses the ttl the leader's Patroni runs with, and says so", () => {
  const { topology } = loadTopology(join(__dirname, '../../lab/topologies/standalone.yaml')); // ttl 10
  const asWritten = predictDowntime(topology, 'crash-leader', { patroniVersion: '3.0.2' });
  const raised = predictDowntime(topology, 'crash-leader', { patroniVersion: '4.0.7' });
  assert.equal(raised.expectedSeconds - asWritten.expectedSeconds, 10, 'ttl 20 instead of 10');
  assert.match(raised.formula, /ttl 20: Patroni 4\.0\.7 raises the written 10/);
  assert.doesNotMatch(asWritten.formula, /raises/);
  assert.deepEqual(predictDowntime(topology, 'crash-leader'), asWritten, 'an unknown version: as written');
});

test("a member's state that means its PostgreSQL runs: Patroni 3.0's running, later ones' streaming for a replica", () => {
  for (const state of ['running', 'streaming', 'in archive recovery']) assert.equal(memberRuns(state), true, state);
  for (const state of ['starting', 'stopped', 'start failed', 'crashed', undefined]) assert.equal(memberRuns(state), false, String(state));
});

test("synchronous_mode quorum: Patroni 4's word in the dynamic configuration; refused where the OS's Patroni is older", () => {
  assert.equal(patroniHasQuorum('4.0.7'), true);
  assert.equal(patroniHasQuorum('3.0.2'), false);
  assert.equal(patroniHasQuorum(undefined), false);
  const { topology } = loadTopology(join(__dirname, '../../lab/topologies/standalone-debian13.yaml'));
  const quorum = { ...topology, patroni: { ...topology.patroni, synchronous_mode: 'quorum' as const } };
  assert.deepEqual(
    [desiredDynamicConfig(quorum).synchronous_mode, desiredDynamicConfig(quorum).synchronous_mode_strict],
    ['quorum', false],
  );
  assert.deepEqual(checkTopology(quorum).filter((i) => i.severity === 'error'), []);
  const onDebian12 = { ...quorum, os: 'debian 12', supported_os: ['debian 12'] };
  const errors = checkTopology(onDebian12).filter((i) => i.severity === 'error');
  assert.deepEqual(errors.map((e) => e.path), ['patroni.synchronous_mode']);
  assert.match(errors[0].message, /synchronous_mode quorum needs Patroni 4 or later, and debian 12 has Patroni 3\.0\.2; use on or strict there/);
});

test("a member's role that is a replica: replica, and in synchronous mode sync_standby or (Patroni 4's quorum) quorum_standby", () => {
  for (const role of ['replica', 'sync_standby', 'quorum_standby']) assert.equal(memberIsReplica(role), true, role);
  for (const role of ['leader', 'standby_leader', 'uninitialized', undefined]) assert.equal(memberIsReplica(role), false, String(role));
});
