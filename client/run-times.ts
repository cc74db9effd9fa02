// Where a run's time went, read from its workflow history (the benchmarks report it): the time inside activities (work
// on the machines, including the waits an activity makes), and the rest, which is haflow's
// own overhead (Temporal round trips, the runner, scheduling, the worker polling).
import type { WorkflowHandle } from '@temporalio/client';

export interface Interval {
  start: number;
  end: number;
}

/** Total length of the union of intervals (parallel work counts once). */
export function unionMs(intervals: Interval[]): number {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  let total = 0;
  let current: Interval | undefined;
  for (const interval of sorted) {
    if (!current || interval.start > current.end) {
      if (current) total += current.end - current.start;
      current = { ...interval };
    } else {
      current.end = Math.max(current.end, interval.end);
    }
  }
  if (current) total += current.end - current.start;
  return total;
}

export interface RunTimes {
  /** From the workflow's start to its completion, as the server recorded them. */
  wallMs: number;
  /** The union of every activity attempt, from its start to its completion or failure. */
  activitiesMs: number;
  /** Everything else. */
  overheadMs: number;
  /** Gaps between one activity's end and the next one's start, where nothing ran (median, in ms). */
  medianGapMs: number;
  activities: number;
}

const ms = (t?: { seconds?: unknown; nanos?: number | null } | null) => (t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : 0);

export async function runTimes(handle: WorkflowHandle): Promise<RunTimes> {
  const events = (await handle.fetchHistory()).events ?? [];
  const startedAt = new Map<number, number>();
  const intervals: Interval[] = [];
  for (const event of events) {
    const at = ms(event.eventTime);
    if (event.activityTaskStartedEventAttributes) startedAt.set(Number(event.eventId), at);
    const ended =
      event.activityTaskCompletedEventAttributes ?? event.activityTaskFailedEventAttributes ?? event.activityTaskTimedOutEventAttributes;
    if (ended?.startedEventId) intervals.push({ start: startedAt.get(Number(ended.startedEventId)) ?? at, end: at });
  }
  const wallMs = ms(events.at(-1)?.eventTime) - ms(events[0]?.eventTime);
  const activitiesMs = unionMs(intervals);
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  const gaps: number[] = [];
  let reach = sorted[0]?.end ?? 0;
  for (const interval of sorted.slice(1)) {
    if (interval.start > reach) gaps.push(interval.start - reach);
    reach = Math.max(reach, interval.end);
  }
  gaps.sort((a, b) => a - b);
  return { wallMs, activitiesMs, overheadMs: wallMs - activitiesMs, medianGapMs: gaps[Math.floor(gaps.length / 2)] ?? 0, activities: intervals.length };
}
