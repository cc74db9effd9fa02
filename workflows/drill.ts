// The failover drill's workflow: the steps of runbooks/drill.ts on the step runner, with the
// write probe and the watcher beside them and the fault always healed (./measured.ts).
import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { DrillRun } from '../runbooks/drill';
import { FAULTS, type FaultSpec } from '../topology/faults';
import { runMeasured, type MeasuredOutcome } from './measured';
import { RunbookFailureTypes, type RunbookInput } from './protocol';

export interface DrillInput extends RunbookInput {
  drill: DrillRun;
}

/** The heal a drill runs whatever happens: retried for a long while, since leaving the fault is worse. */
const { healFault } = proxyActivities<typeof activities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: '20s',
  retry: { maximumAttempts: 20, initialInterval: '2s', maximumInterval: '30s' },
});

/** A run planned before the client sent the recovery's bound: the longest bound a drill has. */
const LONGEST_RECOVERY_SECONDS = 900;

export async function drillWorkflow(input: DrillInput): Promise<MeasuredOutcome> {
  if (input.runbook?.name !== 'drill' || !input.drill) {
    throw ApplicationFailure.create({ type: RunbookFailureTypes.invalidRunbook, nonRetryable: true, message: 'drillWorkflow runs the drill runbook with its fault' });
  }
  const { fault, target, leader } = input.drill;
  const spec: FaultSpec = FAULTS[fault];
  return runMeasured(input, {
    kind: 'drill',
    fault,
    target,
    oldLeader: leader,
    maxSeconds: input.drill.recoveryBoundSeconds ?? LONGEST_RECOVERY_SECONDS,
    holdSeconds: spec.healedToRecover?.holdSeconds,
    heal: { doneWith: 'heal', run: () => healFault({ topology: input.topology, check: false, host: target, fault }) },
  });
}
