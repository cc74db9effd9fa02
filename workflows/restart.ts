// The rolling restart's workflow: the steps of runbooks/restart.ts on the step runner, with the
// write probe throughout (./maintenance.ts).
import { ApplicationFailure } from '@temporalio/workflow';
import type { RestartArgs } from '../runbooks/restart';
import { runMaintenance, type MaintenanceOutcome } from './maintenance';
import { RunbookFailureTypes, type RunbookInput } from './protocol';

export interface RestartInput extends RunbookInput {
  restart: RestartArgs;
}

export async function restartWorkflow(input: RestartInput): Promise<MaintenanceOutcome> {
  if (input.runbook?.name !== 'restart' || !input.restart) {
    throw ApplicationFailure.create({ type: RunbookFailureTypes.invalidRunbook, nonRetryable: true, message: 'restartWorkflow runs the restart runbook with its leader and candidate' });
  }
  return runMaintenance(input, { kind: 'restart', maxMinutes: 60 });
}
