// What a notification of a scheduled drill says (runbooks/scheduled.ts builds it, this component
// sends it): the JSON a webhook receives and a notify command reads on its standard input.

/**
 * - passed: the drill completed and met the objectives
 * - missed: it completed but missed them (write downtime, lost writes, split brain, …)
 * - failed: it did not complete (a step blocked and was aborted, or it was cancelled)
 * - skipped: it did not start: another operation held the cluster, or it was not healthy
 */
export type ScheduledOutcome = 'passed' | 'missed' | 'failed' | 'skipped';

/** The measured figures of a scheduled drill, as its result and its notification give them. */
export interface ScheduledFigures {
  writeDowntimeSeconds?: number;
  lostWrites?: number;
  failedWrites: number;
  newLeader?: string;
  predictedSeconds: number;
  objectiveSeconds?: number;
}

/** The JSON a webhook receives (and a notify command reads on its standard input). */
export interface Notification {
  /** Unique per scheduled run: a receiver that sees it twice (a retried delivery) can drop the second. */
  id: string;
  cluster: string;
  schedule: string;
  drill: string;
  outcome: ScheduledOutcome;
  verdict: 'PASS' | 'FAIL' | 'SKIPPED';
  /** Why it was sent: "missed objectives", "failed", "left the cluster unhealthy", or "every run". */
  why: string;
  summary: string;
  reasons: string[];
  figures?: ScheduledFigures;
  healthyAfter?: boolean;
  problemsAfter?: string[];
  startedAt: string;
  finishedAt: string;
  links: { scheduledRun: string; drillRun?: string; report?: string };
}
