// `haflow plan` as an operator runs it on the lab topologies: the guide's order, every step
// with its host, kind and guard, parallel groups marked, and no connection to anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { initialLeader, loadTopology } from '../../topology';
import { installSteps } from '../../runbooks/install';
import { flattenSteps, runsBefore, stepIdProblems } from '../../runbooks/runbook';

const root = join(__dirname, '../..');
const forbidNetwork = join(root, 'test/support/forbid-network.ts');

/** The CLI in a process where any network connection ends it with exit 99, and Temporal's address is a dead port. */
const haflowOffline = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', '--import', forbidNetwork, join(root, 'bin/haflow.js'), ...args], {
    encoding: 'utf8',
    cwd: root,
    env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:9' },
  });

/** Step ids as the plan prints them, in order: `<number>  <id>  <host>  <kind>  <title>`. */
const printedSteps = (stdout: string) =>
  [...stdout.matchAll(/^\s*(\d+)\s{2,}(\S+)\s{2,}(\S+)\s{2,}(guard|change|verify)\s{2,}(.+)$/gm)].map((m) => ({
    number: Number(m[1]),
    id: m[2],
    host: m[3],
    kind: m[4],
    title: m[5],
  }));

/**
 * The order the Patroni guide's steps must keep, as pairs of its phases: every step of the first
 * finishes before any step of the second starts. The guide lists the tiers one after another; the
 * install overlaps those with no order between them (HAProxy and the application's files beside
 * etcd and Patroni; the application's start beside the replicas' clone), and these pairs are what
 * remains.
 */
const GUIDE_ORDER: [string, string][] = [
  ['preflight', 'packages'],
  ['packages', 'certificates'],
  ['certificates', 'etcd'],
  ['certificates', 'haproxy'],
  ['packages', 'app config'],
  ['etcd', 'patroni leader'],
  ['patroni leader', 'db config'],
  // A slave's Patroni started early must find a cluster to join, not bootstrap a second one.
  ['patroni leader', 'replica config'],
  ['replica config', 'replica-inactive guard'],
  ['replica-inactive guard', 'db config'],
  ['replica-inactive guard', 'replica start'],
  ['patroni leader', 'replica start'],
  ['db config', 'replica start'],
  ['replica start', 'streaming'],
  ['db config', 'app serving'],
  ['app config', 'app serving'],
  ['haproxy', 'app serving'],
  ['app serving', 'app verify'],
  ['streaming', 'verify'],
  ['haproxy', 'verify'],
  ['verify', 'app monitor'],
  ['app verify', 'app monitor'],
  // pgBackRest needs only its packages; its stanza and first backup need a streaming replica.
  ['packages', 'backup config'],
  ['backup config', 'backup start'],
  ['streaming', 'backup start'],
];
/** Tiers the install runs at once: no order between them. */
const OVERLAPS: [string, string][] = [
  ['haproxy', 'etcd'],
  ['app config', 'patroni leader'],
  ['app serving', 'streaming'],
  ['backup config', 'etcd'],
];

function phaseOf(id: string, leader: string): string {
  const [what, host] = id.split('@');
  // The install's gate before anything changes, with preflight.
  if (what.startsWith('preflight.') || what === 'app.monitor-hold') return 'preflight';
  if (what === 'packages.install') return 'packages';
  if (what === 'backup.config' || what === 'backup.access') return 'backup config';
  if (what === 'backup.stanza' || what === 'backup.first') return 'backup start';
  // TLS (on by default): the cluster's CA, then each host's certificate, before any service uses them.
  if (what.startsWith('tls.')) return 'certificates';
  if (what.startsWith('etcd.')) return 'etcd';
  if (what === 'haproxy.config') return 'haproxy';
  if (what === 'patroni.leader' || what === 'patroni.dynamic-config' || ((what === 'patroni.config' || what === 'patroni.start') && host === leader)) return 'patroni leader';
  if (what === 'patroni.config') return 'replica config';
  if (what === 'patroni.replica-inactive') return 'replica-inactive guard';
  if (what === 'db.config') return 'db config';
  if (what === 'patroni.start') return 'replica start';
  if (what === 'patroni.streaming') return 'streaming';
  if (what === 'app.serving' || what === 'app.standby') return 'app serving';
  if (what === 'verify.app') return 'app verify';
  // The guide's step 9: its Application HA Observer configured last.
  if (what === 'app.monitor') return 'app monitor';
  if (what.startsWith('app.')) return 'app config';
  if (what.startsWith('verify.')) return 'verify';
  throw new Error(`step ${id} belongs to no phase of the guide`);
}

for (const lab of ['standalone', 'distributed', 'generic']) {
  const file = join('lab/topologies', `${lab}.yaml`);

  test(`plan ${file}: every step in the guide's order, with host, kind and guard; connects nowhere`, () => {
    const run = haflowOffline('plan', file);
    assert.equal(run.status, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /NETWORK ATTEMPT/);
    const { topology } = loadTopology(join(root, file));
    const expected = flattenSteps(installSteps(topology));
    const printed = printedSteps(run.stdout);
    assert.deepEqual(
      printed.map((s) => [s.number, s.id, s.host, s.kind]),
      expected.map((s, i) => [i + 1, s.id, s.host ?? '(cluster)', s.kind]),
    );
    assert.deepEqual(printed.map((s) => s.title), expected.map((s) => s.title));
    for (const step of expected.filter((s) => s.guard)) {
      assert.ok(run.stdout.includes(`guard: ${step.guard}`), `the guard of ${step.id} is printed`);
    }

    const leader = initialLeader(topology).name;
    const runbook = installSteps(topology);
    const inPhase = (phase: string) => expected.filter((s) => phaseOf(s.id, leader) === phase).map((s) => s.id);
    for (const [first, then] of GUIDE_ORDER) {
      for (const a of inPhase(first)) for (const b of inPhase(then)) assert.ok(runsBefore(runbook, a, b), `${a} (${first}) runs before ${b} (${then})`);
    }
    for (const [one, other] of OVERLAPS) {
      const [a, b] = [inPhase(one)[0], inPhase(other)[0]];
      if (a === undefined || b === undefined) continue;
      assert.ok(!runsBefore(runbook, a, b) && !runsBefore(runbook, b, a), `${a} (${one}) and ${b} (${other}) run at once`);
    }

    const hosts = topology.hosts.length;
    assert.match(run.stdout, new RegExp(`1-${hosts}  at once \\(preflight.hosts\\): Preflight on every machine`));
    assert.match(run.stdout, new RegExp(`at once \\(packages.hosts\\): Packages on every machine`));
    assert.deepEqual(stepIdProblems(installSteps(topology)), [], 'every step id has the documented form');
  });
}

test('plan of an invalid topology prints its errors and exits 1', () => {
  const run = haflowOffline('plan', 'topology/examples/no-such-file.yaml');
  assert.equal(run.status, 1);
  assert.match(run.stderr, /no-such-file\.yaml/);
});

test('the network guard itself works: a command that talks to Temporal is stopped by it', () => {
  const run = haflowOffline('status', 'lab-standalone');
  assert.equal(run.status, 99, run.stderr);
  assert.match(run.stderr, /NETWORK ATTEMPT/);
});

test('slow HAProxy checks get a step long enough to see them agree with Patroni', () => {
  const { topology } = loadTopology(join(root, 'lab/topologies/standalone.yaml'));
  const slow = { ...topology, haproxy: { ...topology.haproxy, check: { inter: 10, fall: 5, rise: 5 } } };
  const step = flattenSteps(installSteps(slow)).find((s) => s.id === 'verify.haproxy@observer')!;
  // rise good checks inter apart, after up to fall bad ones: 10 × (5 + 5) s at least, plus the wait's margin.
  assert.ok(step.timeoutSeconds! >= 10 * (5 + 5) + 30, `time limit ${step.timeoutSeconds} s`);
  const fast = flattenSteps(installSteps(topology)).find((s) => s.id === 'verify.haproxy@observer')!;
  assert.equal(fast.timeoutSeconds, 120, 'the usual limit with the guide\'s timings');
});
