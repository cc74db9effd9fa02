// `haflow certs status` and `haflow certs rotate`. Status: the cluster's certificates, read on a worker. A short workflow of one
// activity that does not hold the cluster; a Temporal Schedule runs it (`haflow certs schedule`,
// client/certificate-schedule.ts): a run whose certificates need renewing fails, so the
// schedule's list shows it.
import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { RotationArgs } from '../runbooks/certificates';
import { runMaintenance, type MaintenanceOutcome } from './maintenance';
import { RunbookFailureTypes, type RunbookInput } from './protocol';
import type * as activities from '../activities';
import type { CertificateReport } from '../activities/tls/status';
import type { Topology } from '../topology/schema';

const { readCertificates } = proxyActivities<typeof activities>({
  startToCloseTimeout: '60s',
  retry: { maximumAttempts: 2 },
});

export async function certificateStatusWorkflow(input: { topology: Topology; failWhenDue?: boolean }): Promise<CertificateReport> {
  const report = await readCertificates({ topology: input.topology });
  if (input.failWhenDue && !report.ok) {
    const due = report.entries.filter((e) => e.problem).map((e) => `${e.where}: ${e.problem}`);
    throw ApplicationFailure.create({
      type: RunbookFailureTypes.certificatesDue,
      nonRetryable: true,
      message: `cluster ${report.cluster}: ${due.join('; ')}`,
      details: [{ remedy: `haflow certs rotate ${report.cluster}` }],
    });
  }
  return report;
}

export interface RotationInput extends RunbookInput {
  rotation: RotationArgs;
}

/** Rotation: the steps of runbooks/certificates.ts with the write probe throughout (./maintenance.ts). */
export async function certificateRotationWorkflow(input: RotationInput): Promise<MaintenanceOutcome> {
  if (input.runbook?.name !== 'rotate' || !input.rotation) {
    throw ApplicationFailure.create({ type: RunbookFailureTypes.invalidRunbook, nonRetryable: true, message: 'certificateRotationWorkflow runs the rotate runbook with its leader' });
  }
  return runMaintenance(input, { kind: 'rotate', maxMinutes: 60 });
}
