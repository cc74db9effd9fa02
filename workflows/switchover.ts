// The planned switchover's workflow: the steps of runbooks/switchover.ts on the step runner,
// with the write probe running throughout, so the result states the write downtime it caused.
import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { SwitchoverArgs } from '../runbooks/switchover';
import { runMeasured, type MeasuredOutcome } from './measured';
import { RunbookFailureTypes, type RunbookInput } from './protocol';

const { cancelScheduledSwitchover } = proxyActivities<typeof activities>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 10, initialInterval: '2s', maximumInterval: '20s' },
});

export interface SwitchoverInput extends RunbookInput {
  switchover: SwitchoverArgs;
}

export async function switchoverWorkflow(input: SwitchoverInput): Promise<MeasuredOutcome> {
  if (input.runbook?.name !== 'switchover' || !input.switchover) {
    throw ApplicationFailure.create({ type: RunbookFailureTypes.invalidRunbook, nonRetryable: true, message: 'switchoverWorkflow runs the switchover runbook with its candidate' });
  }
  const { leader, at } = input.switchover;
  return runMeasured(input, {
    kind: 'switchover',
    fault: 'switchover',
    target: leader,
    oldLeader: leader,
    maxSeconds: 150,
    ...(at
      ? {
          // Patroni switches over at that time by itself; until it has, a run that ends (an abort,
          // a cancellation) withdraws the scheduled switchover rather than leave it armed.
          scheduledAt: Date.parse(at),
          heal: { doneWith: 'recovered', run: () => cancelScheduledSwitchover({ topology: input.topology, check: false }) },
        }
      : {}),
  });
}
