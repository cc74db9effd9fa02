// The migration from the classic layout to Patroni: the steps of runbooks/migrate.ts on the step
// runner, with the write probe writing to the master directly from its probe database's step to
// the last one (./maintenance.ts). The report gives every write pause and the step it began in:
// the primary's handover should hold the only one.
import { ApplicationFailure } from '@temporalio/workflow';
import type { MigrateArgs } from '../runbooks/migrate';
import { runMaintenance, type MaintenanceOutcome } from './maintenance';
import { RunbookFailureTypes, type RunbookInput } from './protocol';

export interface MigrateInput extends RunbookInput {
  migrate: MigrateArgs;
}

export async function migrateWorkflow(input: MigrateInput): Promise<MaintenanceOutcome> {
  if (input.runbook?.name !== 'migrate' || !input.migrate) {
    throw ApplicationFailure.create({ type: RunbookFailureTypes.invalidRunbook, nonRetryable: true, message: 'migrateWorkflow runs the migrate runbook with its classic cluster and master' });
  }
  return runMaintenance(input, {
    kind: 'migrate',
    // A base backup of a large database takes hours.
    maxMinutes: 8 * 60,
    writeTo: input.migrate.master,
    legacy: { master: input.migrate.master },
  });
}
