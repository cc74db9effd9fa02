// The rolling minor upgrade's workflow: the steps of runbooks/upgrade.ts on the step runner,
// with the write probe throughout (./maintenance.ts).
import { ApplicationFailure } from '@temporalio/workflow';
import type { UpgradeArgs } from '../runbooks/upgrade';
import { runMaintenance, type MaintenanceOutcome } from './maintenance';
import { RunbookFailureTypes, type RunbookInput } from './protocol';

export interface UpgradeInput extends RunbookInput {
  upgrade: UpgradeArgs;
}

export async function upgradeWorkflow(input: UpgradeInput): Promise<MaintenanceOutcome> {
  if (input.runbook?.name !== 'upgrade' || !input.upgrade) {
    throw ApplicationFailure.create({ type: RunbookFailureTypes.invalidRunbook, nonRetryable: true, message: 'upgradeWorkflow runs the upgrade runbook with its leader and candidate' });
  }
  return runMaintenance(input, {
    kind: 'upgrade',
    // Packages download and install on each node in turn.
    maxMinutes: 180,
    versionsBefore: input.upgrade.versionsBefore,
  });
}
