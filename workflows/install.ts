// The install runbook's workflow: bare machines to a healthy Patroni + etcd + HAProxy
// database tier. The steps come in with the input (runbooks/install.ts, computed by the
// client), so a run started before an upgrade of haflow resumes with the steps it started with.
import { ApplicationFailure } from '@temporalio/workflow';
import { ACTIVITY_NAMES } from '../runbooks/activities';
import { RunbookFailureTypes, type RunbookInput, type RunbookOutcome } from './protocol';
import { runRunbook } from './runner';

export async function installWorkflow(input: RunbookInput): Promise<RunbookOutcome> {
  if (input.runbook?.name !== 'install') {
    throw ApplicationFailure.create({
      type: RunbookFailureTypes.invalidRunbook,
      nonRetryable: true,
      message: `installWorkflow runs the install runbook; it was given ${input.runbook ? `the ${input.runbook.name} runbook` : 'no runbook'}`,
    });
  }
  return runRunbook(input.runbook, {
    check: input.check,
    context: { topology: input.topology },
    knownActivities: ACTIVITY_NAMES,
  });
}
