// What a rolling operation (restart, minor upgrade) cost the writers, from the write probe that
// ran throughout (activities/failover/measure.ts with its `until` rule): every pause, the step
// that was running when it began, their sum, and the acknowledged writes the leader does not
// have at the end. The promise is that the switchover's pause is the only one. Pure.
import type { FailoverMeasurement } from '../activities/failover/measure';
import { switchoverPhases, type SwitchoverPhases, type Verdict } from './report';

export interface WritePause {
  /** When the last write before it was acknowledged (or the first failed, with none before). */
  from: string;
  /** From the last acknowledged write before it to the first after it; absent while it lasted to the end. */
  seconds?: number;
  failed: number;
  firstError: string;
  /** The step that was running when it began. */
  duringStep?: string;
  /** The probe was interrupted (a lost worker) during it: it lasted at most `seconds`. */
  upperBound?: true;
}

export interface MaintenanceReport {
  kind: 'restart' | 'upgrade' | 'migrate' | 'rotate';
  cluster: string;
  startedAt: string;
  finishedAt: string;
  pauses: WritePause[];
  /** The pauses added up. */
  totalPauseSeconds: number;
  /**
   * When the application stopped answering its health URL through HAProxy (the watcher asks a few
   * times a second), and the step that was running: reported, not judged (a migration restarts it).
   */
  appOutages?: { from: string; seconds?: number; duringStep?: string }[];
  /** The leader's switchover, timed in two phases. */
  switchover?: SwitchoverPhases;
  acknowledgedWrites: number;
  lostWrites?: number;
  /** A minor upgrade's PostgreSQL versions per node, before and after. */
  versions?: { before: Record<string, string>; after: Record<string, string> };
  verdict: Verdict;
  probe: {
    intervalMs: number;
    attempts: number;
    /** The probe's rows are those with this id. */
    drill: string;
    /** The acknowledged sequence numbers, as inclusive ranges. */
    acked: [number, number][];
    stoppedBecause: string;
    /** Where the probe wrote. */
    writeTarget?: string;
    lostCheck: string;
    interruptions: { from: string; to: string }[];
  };
  notes: string[];
}

export interface MaintenanceInput {
  kind: MaintenanceReport['kind'];
  cluster: string;
  startedAt: number;
  finishedAt: number;
  measurement: FailoverMeasurement;
  /** The run's steps with when they ran (epoch ms). */
  steps: { id: string; startedAt?: number; finishedAt?: number }[];
  /** The step that switches the leader over: the one expected to pause writes. */
  switchoverStep: string;
  switchoverFacts?: Record<string, string | number | boolean>;
  completed: boolean;
  versions?: MaintenanceReport['versions'];
  notes?: string[];
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;
const iso = (ms: number) => new Date(ms).toISOString();

/** The step running at `at`; the last one started before it when none was running (between steps). */
function stepAt(steps: MaintenanceInput['steps'], at: number): string | undefined {
  const running = steps.find((s) => s.startedAt !== undefined && s.startedAt <= at && (s.finishedAt === undefined || at <= s.finishedAt));
  if (running) return running.id;
  return [...steps].filter((s) => s.startedAt !== undefined && s.startedAt <= at).sort((a, b) => a.startedAt! - b.startedAt!).at(-1)?.id;
}

export function maintenanceReport(input: MaintenanceInput): MaintenanceReport {
  const o = input.measurement;
  const pauses: WritePause[] = o.outages.map((x) => {
    const from = x.lastAckAt ?? x.firstFailAt;
    const interrupted = o.interruptions.some((i) => i.to >= from && i.from <= (x.firstAckAfterAt ?? Infinity));
    return {
      from: iso(from),
      ...(interrupted ? { upperBound: true as const } : {}),
      ...(x.firstAckAfterAt !== undefined ? { seconds: seconds(x.firstAckAfterAt - from) } : {}),
      failed: x.failed,
      firstError: x.firstError,
      duringStep: stepAt(input.steps, x.firstFailAt),
    };
  });
  const total = seconds(o.outages.filter((x) => x.firstAckAfterAt !== undefined).reduce((sum, x) => sum + x.firstAckAfterAt! - (x.lastAckAt ?? x.firstFailAt), 0));
  const lostWrites = 'count' in o.lost ? o.lost.count : undefined;
  const switchoverRan = input.steps.find((s) => s.id === input.switchoverStep);
  const promoted = typeof input.switchoverFacts?.promotedAt === 'number' ? input.switchoverFacts.promotedAt : undefined;

  const reasons: string[] = [];
  // The one step allowed to pause writes.
  const expected = input.kind === 'migrate' ? `the primary's handover (${input.switchoverStep})` : input.kind === 'rotate' ? 'no step (a rotation reloads, it switches nothing over)' : 'the switchover';
  if (!input.completed) reasons.push('the operation did not complete');
  for (const p of pauses) {
    if (p.seconds === undefined) reasons.push(`writes had not resumed when the measurement ended (failing since ${p.from}: ${p.firstError})`);
    else if (p.duringStep !== input.switchoverStep || !input.switchoverStep) reasons.push(`writes paused ${p.seconds} s during ${p.duringStep ?? 'no step'}, not during ${expected}`);
  }
  if (pauses.filter((p) => p.duringStep === input.switchoverStep).length > 1) reasons.push(`${expected} paused writes more than once`);
  if (lostWrites === undefined) reasons.push(`lost writes could not be counted: ${'error' in o.lost ? o.lost.error : ''}`);
  else if (lostWrites > 0) reasons.push(`${lostWrites} acknowledged write(s) lost`);

  // The application's answers: each stretch from a 'down' to the next 'up'.
  const app = o.events.filter((e) => e.subject === 'app');
  const appOutages = app.flatMap((e, i) => {
    if (e.value !== 'down' || i === 0) return [];
    const up = app.slice(i + 1).find((x) => x.value === 'up');
    return [{ from: iso(e.at), ...(up ? { seconds: seconds(up.at - e.at) } : {}), duringStep: stepAt(input.steps, e.at) }];
  });

  return {
    kind: input.kind,
    cluster: input.cluster,
    startedAt: iso(input.startedAt),
    finishedAt: iso(input.finishedAt),
    pauses,
    totalPauseSeconds: total,
    ...(app.length > 0 ? { appOutages } : {}),
    ...(switchoverRan?.startedAt !== undefined && input.switchoverFacts
      ? { switchover: switchoverPhases(input.switchoverFacts, (input.switchoverFacts.requestedAt as number | undefined) ?? switchoverRan.startedAt, promoted, undefined) }
      : {}),
    acknowledgedWrites: o.ackedCount,
    lostWrites,
    ...(input.versions ? { versions: input.versions } : {}),
    verdict: { pass: reasons.length === 0, reasons },
    probe: {
      intervalMs: o.intervalMs,
      attempts: o.attempts,
      drill: o.drill,
      acked: o.acked,
      stoppedBecause: o.stoppedBecause,
      ...(o.writeTarget ? { writeTarget: o.writeTarget } : {}),
      lostCheck: 'count' in o.lost ? `checked on ${o.lost.checkedOn}${o.lost.sample.length ? `; missing: ${o.lost.sample.join(', ')}` : ''}` : o.lost.error,
      interruptions: o.interruptions.map((i) => ({ from: iso(i.from), to: iso(i.to) })),
    },
    notes: [
      ...(o.interruptions.length > 0 ? ['the probe was interrupted (its worker was lost): writes in those windows were not measured'] : []),
      ...(input.notes ?? []),
    ],
  };
}
