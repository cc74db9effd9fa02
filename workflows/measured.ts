// A runbook run with the failover measurement beside it: the write probe and the watcher start a
// few seconds before the step marked `strike` (a fault, a switchover) and are awaited after the
// step marked `recovered`; the report is computed from what they saw. When the run fails, is
// aborted or cancelled after the strike, `heal` runs anyway: a drill never leaves its fault in
// place. Shared by the drill and the switchover workflows.
import { CancellationScope, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type * as activities from '../activities';
import { measurementActivity } from './patches';
import type { FailoverMeasurement } from '../activities/failover/measure';
import type { FaultName } from '../topology/faults';
import { drillReport, type DrillReport } from '../runbooks/report';
import type { Step, StepMark } from '../runbooks/runbook';
import { ACTIVITY_NAMES } from '../runbooks/activities';
import { withMarks } from './legacy-marks';
import type { RunbookInput, RunbookOutcome, StepState } from './protocol';
import { runRunbook } from './runner';

/** Seconds of undisturbed writes before the strike, so the probe has a baseline. */
const BASELINE_SECONDS = 3;
/** Seconds of writes flowing after the outage before the measurement ends. */
const SETTLE_SECONDS = 5;

export interface MeasuredPlan {
  kind: DrillReport['kind'];
  fault: FaultName;
  target: string;
  oldLeader: string;
  /** The longest the recovery may take (the runbook's bound, computed when it was planned). */
  maxSeconds: number;
  /** Seconds to leave the fault in place before the next step (a crashed observer). */
  holdSeconds?: number;
  /**
   * A strike that Patroni carries out later, at this time (epoch ms; a scheduled switchover): the
   * strike step only arranges it, and the measurement starts just before this time, ahead of the
   * step marked `recovered`, after a durable sleep.
   */
  scheduledAt?: number;
  /** Undoes the strike; run in `finally` unless the step with mark `doneWith` completed (the heal, or a recovery that leaves nothing to undo). */
  heal?: { doneWith: StepMark; run: () => Promise<unknown> };
}

export interface MeasuredOutcome extends RunbookOutcome {
  report?: DrillReport;
}

const measureActivities = proxyActivities<typeof activities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '20s',
  retry: { maximumAttempts: 5, initialInterval: '1s' },
});

export async function runMeasured(input: RunbookInput, plan: MeasuredPlan): Promise<MeasuredOutcome> {
  const { topology } = input;
  const startedAt = Date.now();
  let measurement: Promise<FailoverMeasurement> | undefined;
  let measured: FailoverMeasurement | undefined;
  let struck = false;
  let healed = false;
  let strikeAt: number | undefined;
  let strikeFrom: number | undefined;
  let strikeFacts: StepState['facts'];
  let patroniVersion: string | undefined;
  let completed = false;

  // Found by their marks (a run started before there were marks, by its step ids).
  const runbook = withMarks(input.runbook);
  // The measurement starts before the strike, or, for a scheduled one, before the recovery step.
  const measureBefore: StepMark = plan.scheduledAt === undefined ? 'strike' : 'recovered';
  const beforeStep = async (step: Step<string>) => {
    if (input.check) return;
    // From here on the heal runs whatever happens (for a scheduled strike: it withdraws it).
    if (step.mark === 'strike' && plan.scheduledAt !== undefined) struck = true;
    if (step.mark !== measureBefore || measurement) return;
    if (plan.scheduledAt !== undefined) {
      const untilBaseline = plan.scheduledAt - (BASELINE_SECONDS + 1) * 1000 - Date.now();
      if (untilBaseline > 0) await sleep(untilBaseline);
    }
    measurement = measureActivities[measurementActivity()]({
      topology,
      drill: `${workflowInfo().workflowId}/${workflowInfo().runId}`,
      armAfterSeconds: BASELINE_SECONDS,
      settleSeconds: SETTLE_SECONDS,
      maxSeconds: BASELINE_SECONDS + plan.maxSeconds + (plan.holdSeconds ?? 0) + SETTLE_SECONDS + 30,
      // Without a write endpoint (classic), the probe starts at the master and follows the primary.
      ...(topology.layout === 'classic' ? { writeTo: plan.oldLeader } : {}),
    });
    measurement.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
    await sleep(`${BASELINE_SECONDS + 1}s`);
    struck = true;
  };
  const afterStep = async (step: Step<string>, state: StepState) => {
    if (input.check) return;
    if (typeof state.facts?.patroniVersion === 'string') patroniVersion = state.facts.patroniVersion;
    if (step.mark === 'strike') {
      const at = plan.scheduledAt ?? state.facts?.injectedAt ?? state.facts?.requestedAt;
      if (typeof at === 'number') strikeAt = at;
      if (typeof state.facts?.strikeFrom === 'number') strikeFrom = state.facts.strikeFrom;
      strikeFacts = state.facts;
      if (plan.holdSeconds) await sleep(`${plan.holdSeconds}s`);
    }
    if (plan.heal && step.mark === plan.heal.doneWith && state.status === 'done') healed = true;
    if (step.mark === 'recovered' && measurement) measured = await measurement;
  };

  let outcome: RunbookOutcome;
  try {
    outcome = await runRunbook(runbook, {
      check: input.check,
      context: { topology },
      knownActivities: ACTIVITY_NAMES,
      hooks: { beforeStep, afterStep },
      ...(input.abortBlockedAfterMinutes !== undefined ? { abortBlockedAfterSeconds: input.abortBlockedAfterMinutes * 60 } : {}),
    });
    completed = true;
  } finally {
    if (struck && plan.heal && !healed) {
      // Whatever ended the run (a failed step, an abort, a cancellation), the fault goes.
      await CancellationScope.nonCancellable(plan.heal.run);
    }
  }
  if (!measured && measurement) measured = await measurement;
  const report =
    measured && strikeAt !== undefined
      ? drillReport({
          kind: plan.kind,
          topology,
          fault: plan.fault,
          target: plan.target,
          oldLeader: plan.oldLeader,
          startedAt,
          injectedAt: strikeAt,
          strikeFrom,
          finishedAt: Date.now(),
          measurement: measured,
          completed,
          ...(strikeFacts ? { strikeFacts } : {}),
          ...(patroniVersion ? { patroniVersion } : {}),
          milestones: outcome.steps
            .filter((st) => st.status === 'done' && st.finishedAt && st.mark !== 'strike')
            .map((st) => ({ id: st.id, summary: st.summary ?? st.title, finishedAt: Date.parse(st.finishedAt!) })),
          notes: outcome.skipped.length > 0 ? [`skipped by the operator: ${outcome.skipped.join(', ')}`] : [],
        })
      : undefined;
  return { ...outcome, report };
}
