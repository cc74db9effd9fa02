// Workflows find the steps they act around (the strike, the recovery, the heal, where the write
// probe starts and stops, the leader's switchover, the versions, the application verified, the
// fence) by a mark each runbook puts on them, not by rebuilding their ids; a run started before
// there were marks finds the same steps by the ids it had.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appFailoverSteps, appFenceSteps } from '../../runbooks/app-failover';
import { drillSteps } from '../../runbooks/drill';
import { classicDrillSteps } from '../../runbooks/drill-classic';
import { migrateSteps } from '../../runbooks/migrate';
import { restartSteps } from '../../runbooks/restart';
import { flattenSteps, mapSteps, stepsMarked, type Runbook, type StepMark } from '../../runbooks/runbook';
import { switchoverSteps } from '../../runbooks/switchover';
import { upgradeSteps } from '../../runbooks/upgrade';
import { FAULT_NAMES, FAULTS } from '../../topology/faults';
import { withMarks } from '../../workflows/legacy-marks';
import { join } from 'node:path';
import { loadTopology } from '../../topology';
import { hostNamed } from '../support/topologies';

const loadLab = (name: string) => loadTopology(join(__dirname, `../../lab/topologies/${name}.yaml`)).topology;

const marks = (runbook: Runbook): Partial<Record<StepMark, string[]>> => {
  const out: Partial<Record<StepMark, string[]>> = {};
  for (const step of flattenSteps(runbook)) if (step.mark) (out[step.mark] ??= []).push(step.id);
  return out;
};

const unmarked = (runbook: Runbook): Runbook => ({
  ...runbook,
  items: mapSteps(runbook.items, ({ mark: _m, ...step }) => step),
});

const lab = loadLab('standalone');
const classic = loadLab('classic');
const restartArgs = { leader: 'node1', candidate: 'node2', plannedStarts: {} };

/** Every runbook a workflow acts around, with the marks that workflow needs. */
const cases: [string, Runbook, StepMark[], { master?: string }?][] = [
  ...FAULT_NAMES.filter((f) => FAULTS[f].target !== 'app-master' || lab.app).map((fault): [string, Runbook, StepMark[]] => [`drill ${fault}`, drillSteps(lab, { fault, leader: 'node1', candidate: 'node2' }), ['probe-from', 'strike', 'recovered', 'heal']]),
  ['classic drill', classicDrillSteps(classic, { fault: 'crash-app-master', leader: 'master' }), ['probe-from', 'strike', 'recovered', 'heal']],
  ['switchover', switchoverSteps(lab, { leader: 'node1', candidate: 'node2', coordinated: true }), ['probe-from', 'strike', 'recovered']],
  ['scheduled switchover', switchoverSteps(lab, { leader: 'node1', candidate: 'node2', at: '2030-01-01T00:00:00Z' }), ['probe-from', 'strike', 'recovered']],
  ['restart', restartSteps(lab, restartArgs), ['probe-from', 'switchover', 'probe-until']],
  ['upgrade', upgradeSteps(lab, { ...restartArgs, versionsBefore: {} }), ['probe-from', 'switchover', 'probe-until', 'version']],
  ['migrate', migrateSteps(loadLab('classic-patroni'), { classicCluster: classic.cluster, master: 'master' }), ['probe-from', 'switchover', 'probe-until'], { master: 'master' }],
  ['app failover', appFailoverSteps(lab, { from: 'node1', to: 'node2', planned: false }), ['fence', 'app-verified']],
  ['app switchback', appFailoverSteps(lab, { from: 'node2', to: 'node1', planned: true }), ['fence', 'app-verified']],
  ['classic app failover', appFailoverSteps(classic, { from: 'master', to: 'slave', planned: false }), ['fence', 'app-verified']],
  ['app fence', appFenceSteps(lab, 'node1', 'node2'), ['fence']],
];

describe('step marks', () => {
  for (const [name, runbook, needed, context] of cases) {
    test(`the ${name} runbook marks what its workflow looks for, each once where it must be one step`, () => {
      const found = marks(runbook);
      for (const mark of needed) assert.ok(found[mark]?.length, `${name}: no step marked ${mark} (marks: ${JSON.stringify(found)})`);
      for (const single of ['strike', 'recovered', 'heal', 'probe-from', 'probe-until', 'switchover'] as const) {
        assert.ok((found[single]?.length ?? 0) <= 1, `${name}: ${found[single]?.length} steps marked ${single}`);
      }
    });

    test(`a ${name} run started before marks finds the same steps by their ids`, () => {
      assert.deepEqual(marks(withMarks(unmarked(runbook), context)), marks(runbook));
    });
  }

  test('a marked runbook keeps its own marks, whatever its ids say', () => {
    const runbook = switchoverSteps(lab, { leader: 'node1', candidate: 'node2' });
    assert.equal(withMarks(runbook), runbook);
  });

  test('the strike of a drill is its fault step, on the machine the fault strikes', () => {
    const [strike] = stepsMarked(drillSteps(lab, { fault: 'crash-leader', leader: 'node2' }), 'strike');
    assert.equal(strike.id, 'fault.crash-leader@node2');
    assert.equal(strike.host, hostNamed(lab, 'node2').name);
  });
});
