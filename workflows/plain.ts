// A runbook that is only its steps (the install, `haflow tune`): the runner with haflow's
// activities and the topology as every step's context.
import { ApplicationFailure } from '@temporalio/workflow';
import { ACTIVITY_NAMES } from '../runbooks/activities';
import { RunbookFailureTypes, type RunbookInput, type RunbookOutcome } from './protocol';
import { runRunbook } from './runner';

export async function runPlainRunbook(name: string, input: RunbookInput): Promise<RunbookOutcome> {
  if (input.runbook?.name !== name) {
    throw ApplicationFailure.create({
      type: RunbookFailureTypes.invalidRunbook,
      nonRetryable: true,
      message: `the ${name} workflow runs the ${name} runbook; it was given ${input.runbook ? `the ${input.runbook.name} runbook` : 'no runbook'}`,
    });
  }
  return runRunbook(input.runbook, {
    check: input.check,
    context: { topology: input.topology },
    knownActivities: ACTIVITY_NAMES,
    ...(input.abortBlockedAfterMinutes !== undefined ? { abortBlockedAfterSeconds: input.abortBlockedAfterMinutes * 60 } : {}),
  });
}
