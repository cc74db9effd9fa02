// The move of a running cluster from plain text to TLS as a plan (runbooks/tls-move.ts): the order
// that keeps it writable, without a server or a machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runbookFor } from '../../client/runbooks';
import { peerUrlScript } from '../../activities/etcd/tls-move';
import { flattenSteps, isGroup, stepsIn } from '../../runbooks/runbook';
import { tlsMoveSteps } from '../../runbooks/tls-move';
import { dbHosts, etcdMembers, haproxyHosts } from '../../topology';
import { plainTextOf } from '../../topology/tls';
import { hostNamed, topologies } from '../support/topologies';

const { loopbackLab, generic } = topologies(15);

const idsOf = (steps: { id: string }[]) => steps.map((s) => s.id);
const at = (ids: string[], id: string) => {
  const i = ids.indexOf(id);
  assert.ok(i >= 0, `the move has no step ${id}`);
  return i;
};

test('the move: certificates first, Patroni paused and the leader held before etcd restarts, Patroni leader first, HAProxy released and checked before Patroni resumes', () => {
  const topology = generic({ tls: {} });
  const leader = dbHosts(topology)[1].name;
  const steps = flattenSteps(tlsMoveSteps(topology, { leader }));
  const ids = idsOf(steps);
  const proxy = haproxyHosts(topology)[0].name;
  const before = (a: string, b: string) => assert.ok(at(ids, a) < at(ids, b), `${a} runs before ${b}`);
  for (const host of topology.hosts) before(`tls.certificate@${host.name}`, 'tls.pause');
  before('tls.pause', `tls.hold@${proxy}`);
  const members = etcdMembers(topology).map((m) => `tls.etcd@${m.name}`);
  before(`tls.hold@${proxy}`, members[0]);
  members.slice(1).forEach((m, i) => before(members[i], m));
  const patroni = ids.filter((id) => id.startsWith('tls.patroni@'));
  assert.equal(patroni[0], `tls.patroni@${leader}`, "the leader's Patroni first: its PostgreSQL has ssl on before a replica asks for verify-full");
  assert.equal(patroni.length, dbHosts(topology).length);
  before(members[members.length - 1], patroni[0]);
  before(patroni[patroni.length - 1], `tls.haproxy@${proxy}`);
  before(`tls.haproxy@${proxy}`, `tls.release@${proxy}`);
  before(`tls.release@${proxy}`, `tls.haproxy-leader@${proxy}`);
  before(`tls.haproxy-leader@${proxy}`, 'tls.resume');
  // The install's own steps follow, addressing the leader the cluster has.
  before('tls.resume', `etcd.member@${etcdMembers(topology)[0].name}`);
  before('tls.resume', `patroni.config@${leader}`);
  assert.ok(at(ids, `patroni.leader@${leader}`) > at(ids, 'tls.resume'));
  // Every step in one kind of group at most: the move's own are one at a time (the holds at once).
  const runbook = tlsMoveSteps(topology, { leader });
  const grouped = runbook.items.filter(isGroup).flatMap((group) => stepsIn(group).map((s) => s.id));
  assert.ok(!grouped.some((id) => /^tls\.(etcd|patroni)@/.test(id)), 'etcd members and Patroni restart one at a time');
});

test('the move tells preflight to expect etcd on http; an ordinary install does not', () => {
  const topology = loopbackLab({ tls: {} });
  const moving = flattenSteps(runbookFor('install', topology, { leader: 'node1' })).filter((s) => s.activity === 'preflightHost');
  assert.equal(moving.length, topology.hosts.length);
  assert.ok(moving.every((s) => s.input.movingToTls === true));
  const ordinary = flattenSteps(runbookFor('install', topology, undefined)).filter((s) => s.activity === 'preflightHost');
  assert.ok(ordinary.every((s) => s.input.movingToTls === undefined));
  assert.ok(!idsOf(flattenSteps(runbookFor('install', topology, undefined))).some((id) => id.startsWith('tls.pause')));
});

test('a move needs the topology that asks for TLS', () => {
  assert.throws(() => tlsMoveSteps(plainTextOf(loopbackLab({ tls: {} })), { leader: 'node1' }), /has no tls section/);
});

test("an etcd member's peer URL: asked over plain text, as root, changed only when it is not https yet; check mode only says so", () => {
  const topology = loopbackLab({ tls: {} });
  const member = hostNamed(topology, 'observer');
  const script = peerUrlScript(topology, member, 'root pw', false);
  assert.match(script, /E=--endpoints='?http:\/\/127\.0\.0\.11:2379'?\n/);
  assert.match(script, /export ETCDCTL_USER="root:\$ROOT_PW"/);
  assert.match(script, /if \[ "\$peers" != '?https:\/\/127\.0\.0\.11:2380'? \]; then\n {2}etcdctl "\$E" member update "\$id" --peer-urls='?https:\/\/127\.0\.0\.11:2380'?/);
  const check = peerUrlScript(topology, member, undefined, true);
  assert.doesNotMatch(check, /member update "\$id"/);
  assert.doesNotMatch(check, /ETCDCTL_USER/);
  assert.match(check, /would set observer.*peer URL to https:\/\/127\.0\.0\.11:2380/);
});
