// Changes to what a workflow schedules, each behind `patched(<id>)` so that runs recorded before
// it replay (and resume) as they began: see docs/architecture.md, "Runs survive an upgrade".
import { patched } from '@temporalio/workflow';

/** The write probe and watcher's activity is `measureFailover`; runs started before were scheduling it as `observeFailover`. */
export const MEASUREMENT_NAMED = 'measurement-named';

/** The name to schedule the measurement by in this run. */
export function measurementActivity(): 'measureFailover' | 'observeFailover' {
  return patched(MEASUREMENT_NAMED) ? 'measureFailover' : 'observeFailover';
}
