// Runs a runbook given as data. The install and failover workflows compute their runbook
// from the topology inside the workflow; this one takes it ready-made (tests, ad-hoc runs).
import { runRunbook, type RunnerOptions } from './runner';
import type { Runbook, RunbookOutcome } from './runbook';

export interface RunbookWorkflowInput {
  runbook: Runbook;
  check?: boolean;
  options?: Omit<RunnerOptions, 'check'>;
}

export async function runbookWorkflow(input: RunbookWorkflowInput): Promise<RunbookOutcome> {
  return runRunbook(input.runbook, { ...input.options, check: input.check });
}
