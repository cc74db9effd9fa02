// The planned switchover's workflow: the steps of runbooks/switchover.ts on the step runner,
// with the write probe running throughout, so the result states the write downtime it caused.
import { ApplicationFailure } from '@temporalio/workflow';
import type { SwitchoverArgs } from '../runbooks/switchover';
import { runObserved, type ObservedOutcome } from './observed';
import { RunbookFailureTypes, type RunbookInput } from './protocol';

export interface SwitchoverInput extends RunbookInput {
  switchover: SwitchoverArgs;
}

export async function switchoverWorkflow(input: SwitchoverInput): Promise<ObservedOutcome> {
  if (input.runbook?.name !== 'switchover' || !input.switchover) {
    throw ApplicationFailure.create({ type: RunbookFailureTypes.invalidRunbook, nonRetryable: true, message: 'switchoverWorkflow runs the switchover runbook with its candidate' });
  }
  const { leader, candidate, at } = input.switchover;
  if (at) return runObserved({ ...input }, { kind: 'switchover', fault: 'switchover', target: leader, oldLeader: leader, strikeStep: '', recoveredStep: '', maxSeconds: 0 });
  return runObserved(input, {
    kind: 'switchover',
    fault: 'switchover',
    target: leader,
    oldLeader: leader,
    strikeStep: `patroni.switchover@${candidate}`,
    recoveredStep: 'switchover.recovered',
    maxSeconds: 150,
  });
}
