// Where an activity's time goes: in remote commands and network calls, or in deliberate waits.
// Off unless a benchmark turns it on; bench/install.ts uses it to tell haflow's own overhead
// from the time spent on the machines.
export type TimeKind = 'remote' | 'wait';

export const timeline = {
  enabled: false,
  intervals: [] as { start: number; end: number; kind: TimeKind }[],
};

/** Times `body` as `kind` when the timeline is on. */
export async function timed<T>(kind: TimeKind, body: () => Promise<T>): Promise<T> {
  if (!timeline.enabled) return body();
  const start = performance.now();
  try {
    return await body();
  } finally {
    timeline.intervals.push({ start, end: performance.now(), kind });
  }
}

/** Total length of the union of intervals (parallel work counts once). */
export function unionMs(intervals: { start: number; end: number }[]): number {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  let total = 0;
  let current: { start: number; end: number } | undefined;
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
