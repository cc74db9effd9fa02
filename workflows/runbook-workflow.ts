// Runs any runbook given as data, with any activities the worker has: for tests and ad-hoc
// runs. haflow's own runbooks each have a workflow of their own (install.ts, …).
import type { Runbook } from '../runbooks/runbook';
import { runRunbook, type RunnerOptions } from './runner';
import type { RunbookOutcome } from './protocol';

export interface RunbookWorkflowInput {
  runbook: Runbook<string>;
  check?: boolean;
  options?: Omit<RunnerOptions, 'check'>;
}

export async function runbookWorkflow(input: RunbookWorkflowInput): Promise<RunbookOutcome> {
  return runRunbook(input.runbook, { ...input.options, check: input.check });
}
