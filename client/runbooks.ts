// The runbooks an operator can start, by name: which workflow runs each, and the pure
// function that computes its steps from the topology (the same list `haflow plan` prints).
// A new runbook is one entry here, a builder in runbooks/ and a workflow in workflows/.
import type { Topology } from '../topology';
import { installSteps } from '../runbooks/install';
import { stepIdProblems, type Runbook } from '../runbooks/runbook';
import type * as workflows from '../workflows';

export interface RunbookKind {
  /** The workflow that runs it (an export of workflows/index.ts). */
  workflowType: keyof typeof workflows;
  /** Its steps for a topology. */
  steps(topology: Topology): Runbook;
}

export const RUNBOOKS = {
  install: { workflowType: 'installWorkflow', steps: installSteps },
} as const satisfies Record<string, RunbookKind>;

export type RunbookName = keyof typeof RUNBOOKS;

/** The steps of a runbook for a topology; a step id out of the documented form is a bug here, not the operator's. */
export function runbookFor(name: RunbookName, topology: Topology): Runbook {
  const runbook = RUNBOOKS[name].steps(topology);
  const problems = stepIdProblems(runbook);
  if (problems.length > 0) throw new Error(`the ${name} runbook is malformed:\n${problems.join('\n')}`);
  return runbook;
}
