// A rolling operation (restart, minor upgrade) with the write probe running throughout: it
// starts once the probe's database exists and runs until the operation's last step is done
// (asked of this run's own `progress` query) and writes have flowed a few seconds more. The
// report states every write pause and the step it began in: the switchover's should be the
// only one.
import { proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type * as activities from '../activities';
import { measurementActivity } from './patches';
import type { FailoverMeasurement } from '../activities/failover/measure';
import { ACTIVITY_NAMES } from '../runbooks/activities';
import { maintenanceReport, type MaintenanceReport } from '../runbooks/maintenance-report';
import { stepMarked, type Step } from '../runbooks/runbook';
import { withMarks, type LegacyContext } from './legacy-marks';
import type { RunbookInput, RunbookOutcome, StepState } from './protocol';
import { runRunbook } from './runner';

/** Seconds of undisturbed writes before the first step that may disturb them. */
const BASELINE_SECONDS = 3;
/** Seconds of writes after the last step before the probe stops. */
const SETTLE_SECONDS = 5;

/**
 * The probe starts after the step marked `probe-from` (the probe's database) and stops once the
 * one marked `probe-until` is done; the step marked `switchover` is the one expected to pause
 * writes (the leader's switchover, a migration's handover); `version` steps give the versions after.
 */
export interface MaintenancePlan {
  kind: MaintenanceReport['kind'];
  /** The longest the operation may take (the probe's bound). */
  maxMinutes: number;
  /** A minor upgrade's versions when planned; the versions after come from its `postgres.version@<host>` steps. */
  versionsBefore?: Record<string, string>;
  /** The DB node the probe writes to directly (a migration's master), instead of HAProxy's write endpoint. */
  writeTo?: string;
  /** What a run started before steps had marks needs to find them by id. */
  legacy?: LegacyContext;
}

export interface MaintenanceOutcome extends RunbookOutcome {
  report?: MaintenanceReport;
}

// The probe heartbeats every second: after a lost worker it carries on elsewhere within seconds,
// so the operation's steps do not run long unmeasured. Each lost worker (or server restart) costs
// it an attempt, and an operation of hours may lose several: it has many.
const measureActivities = proxyActivities<typeof activities>({
  startToCloseTimeout: '8h',
  heartbeatTimeout: '5s',
  retry: { maximumAttempts: 30, initialInterval: '1s', maximumInterval: '10s' },
});

export async function runMaintenance(input: RunbookInput, plan: MaintenancePlan): Promise<MaintenanceOutcome> {
  const { topology } = input;
  const startedAt = Date.now();
  const { workflowId, runId } = workflowInfo();
  let measurement: Promise<FailoverMeasurement> | undefined;
  let switchoverFacts: StepState['facts'];
  const runbook = withMarks(input.runbook, plan.legacy);
  const probeUntil = stepMarked(runbook, 'probe-until');
  const switchoverStep = stepMarked(runbook, 'switchover');

  const afterStep = async (step: Step<string>, state: StepState) => {
    if (input.check) return;
    // A switchover's facts time its phases; a migration's handover is no switchover.
    if (step.mark === 'switchover' && plan.kind !== 'migrate') switchoverFacts = state.facts;
    if (step.mark !== 'probe-from' || measurement || !probeUntil) return;
    measurement = measureActivities[measurementActivity()]({
      topology,
      drill: `${workflowId}/${runId}`,
      armAfterSeconds: BASELINE_SECONDS,
      settleSeconds: SETTLE_SECONDS,
      maxSeconds: plan.maxMinutes * 60,
      until: { workflowId, runId, stepId: probeUntil.id },
      ...(plan.writeTo ? { writeTo: plan.writeTo } : {}),
    });
    measurement.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
    await sleep(`${BASELINE_SECONDS}s`);
  };

  const outcome = await runRunbook(runbook, {
    check: input.check,
    context: { topology },
    knownActivities: ACTIVITY_NAMES,
    hooks: { afterStep },
  });
  if (!measurement) return outcome;
  const measured = await measurement;
  const at = (iso?: string) => (iso ? Date.parse(iso) : undefined);
  const report = maintenanceReport({
    kind: plan.kind,
    cluster: topology.cluster,
    startedAt,
    finishedAt: Date.now(),
    measurement: measured,
    steps: outcome.steps.map((s) => ({ id: s.id, startedAt: at(s.startedAt), finishedAt: at(s.finishedAt) })),
    switchoverStep: switchoverStep?.id ?? '',
    switchoverFacts,
    completed: true,
    ...(plan.versionsBefore
      ? {
          versions: {
            before: plan.versionsBefore,
            after: Object.fromEntries(outcome.steps.filter((s) => s.mark === 'version' && s.host && typeof s.facts?.version === 'string').map((s) => [s.host!, s.facts!.version as string])),
          },
        }
      : {}),
    notes: outcome.skipped.length > 0 ? [`skipped by the operator: ${outcome.skipped.join(', ')}`] : [],
  });
  return { ...outcome, report };
}
