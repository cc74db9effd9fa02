// `haflow tune`'s workflow: a running cluster moved to other timings or another synchronous
// mode (runbooks/tune.ts).
import { runPlainRunbook } from './plain';
import type { RunbookInput, RunbookOutcome } from './protocol';

export async function tuneWorkflow(input: RunbookInput): Promise<RunbookOutcome> {
  return runPlainRunbook('tune', input);
}
