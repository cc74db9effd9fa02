// Lanes: a parallel group whose members are sequences. The order their steps are listed and
// numbered in, the checks a runbook with lanes gets before it runs, the marks an unmarked run
// finds through them, and the plan an operator reads.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPlan } from '../../cli/progress';
import { flattenSteps, isLane, runbookProblems, stepIdProblems, type Runbook, type Step, type StepGroup, type StepLane } from '../../runbooks/runbook';
import { withMarks } from '../../workflows/legacy-marks';

const step = (id: string, kind: Step['kind'], title: string, extra: Partial<Step> = {}): Step => ({
  id,
  title,
  kind,
  host: id.split('@')[1],
  activity: 'preflightHost',
  input: {},
  ...extra,
});

/**
 * A step, then a group of two lanes and a plain step (the database lane has a group of its own),
 * then a step.
 */
const tiered = (): Runbook => ({
  name: 'install',
  cluster: 'demo',
  items: [
    step('preflight.host@node1', 'guard', 'Preflight'),
    {
      id: 'install.tiers',
      title: 'The tiers at once',
      parallel: [
        {
          id: 'tier.database',
          title: 'etcd, then Patroni',
          lane: [
            step('etcd.member@node1', 'change', 'etcd member'),
            {
              id: 'patroni.starts',
              title: 'Patroni on both nodes',
              parallel: [step('patroni.start@node1', 'change', 'Patroni starts'), step('patroni.start@node2', 'change', 'Patroni starts')],
            },
          ],
        },
        { id: 'tier.proxy', title: 'HAProxy', lane: [step('haproxy.config@observer', 'change', 'HAProxy configured', { guard: 'haproxy -c passes' })] },
        step('app.config@node1', 'change', "The application's files"),
      ],
    },
    step('verify.cluster', 'verify', 'The cluster is healthy'),
  ],
});

const tiersOf = (runbook: Runbook) => runbook.items[1] as StepGroup;
const laneOf = (runbook: Runbook, index: number) => tiersOf(runbook).parallel[index] as StepLane;

describe('the order of a runbook with lanes', () => {
  test("flattenSteps lists a group's members in their order, each lane's items in theirs", () => {
    assert.deepEqual(
      flattenSteps(tiered()).map((s) => s.id),
      ['preflight.host@node1', 'etcd.member@node1', 'patroni.start@node1', 'patroni.start@node2', 'haproxy.config@observer', 'app.config@node1', 'verify.cluster'],
    );
  });

  test('isLane tells a lane from a step and a group', () => {
    const runbook = tiered();
    assert.deepEqual(tiersOf(runbook).parallel.map((m) => isLane(m)), [true, true, false]);
    assert.equal(isLane(runbook.items[0]), false);
    assert.equal(isLane(runbook.items[1]), false);
  });
});

describe('the checks of a runbook with lanes', () => {
  test('a well-formed runbook with lanes has no problems, and its group and lane ids have the documented form', () => {
    assert.deepEqual(runbookProblems(tiered(), ['preflightHost']), []);
    assert.deepEqual(stepIdProblems(tiered()), []);
  });

  test('a step id used in two lanes, or a lane id used again, is a problem', () => {
    const runbook = tiered();
    laneOf(runbook, 1).lane.push(step('etcd.member@node1', 'change', 'the same id in the other lane'));
    laneOf(runbook, 1).id = 'patroni.starts';
    assert.deepEqual(runbookProblems(runbook), [
      'step id patroni.starts is used twice; step ids must be unique',
      'step id etcd.member@node1 is used twice; step ids must be unique',
    ]);
  });

  test('a lane with no items and a group with no members are problems', () => {
    const runbook = tiered();
    laneOf(runbook, 1).lane = [];
    (laneOf(runbook, 0).lane[1] as StepGroup).parallel = [];
    assert.deepEqual(runbookProblems(runbook), ['group patroni.starts has no members', 'lane tier.proxy has no steps']);
    assert.deepEqual(runbookProblems({ ...tiered(), items: [{ id: 'install.none', title: 'nothing', parallel: [] }] }), ['group install.none has no members']);
  });

  test('a lane outside a group, or a group directly inside a group, is a problem', () => {
    const lane: StepLane = { id: 'tier.alone', title: 'alone', lane: [step('etcd.member@node1', 'change', 'etcd member')] };
    const outside = { ...tiered(), items: [lane as unknown as Step] };
    assert.deepEqual(runbookProblems(outside), ['lane tier.alone is not a member of a group; a lane runs beside the other members of its group']);
    const inner: StepGroup = { id: 'install.inner', title: 'inner', parallel: [step('etcd.member@node1', 'change', 'etcd member')] };
    const nested = { ...tiered(), items: [{ id: 'install.outer', title: 'outer', parallel: [inner as unknown as Step] }] };
    assert.deepEqual(runbookProblems(nested), ['group install.inner is a member of group install.outer; a group inside a group belongs in a lane']);
  });

  test('a lane id not of the documented form is reported, like a group id', () => {
    const runbook = tiered();
    laneOf(runbook, 1).id = 'Proxy_Lane';
    assert.deepEqual(stepIdProblems(runbook), ['step id Proxy_Lane is not of the form <component>.<what>[@<host>]']);
  });

  test('a runbook without lanes is checked as before', () => {
    const plain: Runbook = {
      name: 'install',
      cluster: 'demo',
      items: [
        { id: 'preflight.hosts', title: 'Preflight', parallel: [step('preflight.host@node1', 'guard', 'Preflight'), step('preflight.host@node2', 'guard', 'Preflight')] },
        step('preflight.host@node1', 'guard', 'again'),
        step('verify.cluster', 'verify', 'healthy', { activity: 'patroniClusterHealthy' }),
      ],
    };
    assert.deepEqual(runbookProblems(plain, ['preflightHost']), [
      'step id preflight.host@node1 is used twice; step ids must be unique',
      'step verify.cluster names activity patroniClusterHealthy, which this worker does not have; known: preflightHost',
    ]);
  });
});

test('an unmarked run finds its marks through lanes, and keeps the lanes as they are', () => {
  const drill: Runbook = {
    name: 'drill',
    cluster: 'demo',
    items: [
      step('postgres.probe-database@node1', 'change', 'probe database'),
      {
        id: 'drill.tiers',
        title: 'at once',
        parallel: [
          { id: 'drill.strike', title: 'the fault', lane: [step('fault.crash-leader@node1', 'change', 'crash'), step('failover.recovered', 'verify', 'recovered')] },
          step('app.config@node2', 'change', 'unrelated'),
        ],
      },
      step('fault.heal@node1', 'change', 'heal'),
    ],
  };
  const marked = withMarks(drill);
  assert.deepEqual(
    flattenSteps(marked).map((s) => [s.id, s.mark ?? '-']),
    [
      ['postgres.probe-database@node1', 'probe-from'],
      ['fault.crash-leader@node1', 'strike'],
      ['failover.recovered', 'recovered'],
      ['app.config@node2', '-'],
      ['fault.heal@node1', 'heal'],
    ],
  );
  const lane = (marked.items[1] as StepGroup).parallel[0];
  assert.ok(isLane(lane));
  assert.equal(lane.id, 'drill.strike');
  assert.deepEqual(
    lane.lane.map((s) => s.id),
    ['fault.crash-leader@node1', 'failover.recovered'],
  );
  assert.equal(flattenSteps(drill)[1].mark, undefined, 'the given runbook is left as it was');
});

test('the plan shows each lane under its group, its steps one level deeper, numbered in execution order', () => {
  assert.deepEqual(formatPlan(tiered(), 'a test').split('\n'), [
    'install plan for cluster demo (a test): 7 steps, in this order',
    '',
    '    #  step                         host       kind    what',
    '    1  preflight.host@node1         node1      guard   Preflight',
    '  2-6  at once (install.tiers): The tiers at once',
    '         lane (tier.database): etcd, then Patroni',
    '    2      etcd.member@node1        node1      change  etcd member',
    '  3-4      at once (patroni.starts): Patroni on both nodes',
    '    3        patroni.start@node1    node1      change  Patroni starts',
    '    4        patroni.start@node2    node2      change  Patroni starts',
    '         lane (tier.proxy): HAProxy',
    '    5      haproxy.config@observer  observer   change  HAProxy configured',
    '             guard: haproxy -c passes',
    "    6    app.config@node1           node1      change  The application's files",
    '    7  verify.cluster               (cluster)  verify  The cluster is healthy',
  ]);
});

test('the plan of a runbook without lanes is laid out as before', () => {
  const plain: Runbook = {
    name: 'install',
    cluster: 'demo',
    items: [
      { id: 'preflight.hosts', title: 'Preflight on every machine', parallel: [step('preflight.host@node1', 'guard', 'Preflight', { guard: 'the host answers' }), step('preflight.host@node2', 'guard', 'Preflight')] },
      step('verify.cluster', 'verify', 'The cluster is healthy'),
    ],
  };
  assert.deepEqual(formatPlan(plain, 'a test').split('\n'), [
    'install plan for cluster demo (a test): 3 steps, in this order',
    '',
    '    #  step                    host       kind    what',
    '  1-2  at once (preflight.hosts): Preflight on every machine',
    '    1    preflight.host@node1  node1      guard   Preflight',
    '           guard: the host answers',
    '    2    preflight.host@node2  node2      guard   Preflight',
    '    3  verify.cluster          (cluster)  verify  The cluster is healthy',
  ]);
});
