// The application failover, switchback and late fence (runbooks/app-failover.ts) on the step runner. The
// application monitor starts them as its children; both are ordinary runbooks: progress, decisions, resume.
import { ApplicationFailure } from '@temporalio/workflow';
import { RunbookFailureTypes, type RunbookInput, type RunbookOutcome } from './protocol';
import { runPlainRunbook } from './plain';

export async function appFailoverWorkflow(input: RunbookInput): Promise<RunbookOutcome> {
  const name = input.runbook?.name;
  if (name !== 'app-failover' && name !== 'app-switchback' && name !== 'app-fence') {
    throw ApplicationFailure.create({ type: RunbookFailureTypes.invalidRunbook, nonRetryable: true, message: `appFailoverWorkflow runs the app-failover, app-switchback or app-fence runbook, not ${name ?? 'nothing'}` });
  }
  return runPlainRunbook(name, input);
}
