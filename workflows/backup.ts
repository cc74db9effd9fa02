// `haflow backup`'s workflow (runbooks/backup.ts), and `haflow backups`' read of the repository.
import { proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { BackupReport } from '../activities/backup/activities';
import type { Topology } from '../topology/schema';
import { runPlainRunbook } from './plain';
import type { RunbookInput, RunbookOutcome } from './protocol';

export async function backupWorkflow(input: RunbookInput): Promise<RunbookOutcome> {
  return runPlainRunbook('backup', input);
}

const { readBackupReport } = proxyActivities<typeof activities>({
  startToCloseTimeout: '50s',
  retry: { maximumAttempts: 2 },
});

/** A short workflow of one activity that reads the repository; it does not hold the cluster. */
export async function backupReportWorkflow(input: { topology: Topology }): Promise<BackupReport> {
  return readBackupReport({ topology: input.topology });
}

/** `haflow restore --to` and the restore drill (runbooks/restore.ts). */
export async function restoreWorkflow(input: RunbookInput): Promise<RunbookOutcome> {
  return runPlainRunbook(input.runbook?.name === 'restore-drill' ? 'restore-drill' : 'restore', input);
}
