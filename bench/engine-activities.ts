// The activities of the engine benchmark (bench/engine.ts): one stand-in for every step activity
// haflow registers, doing no work on any machine and returning at once a result of the shape the
// workflows read (a StepResult; the fault's time for a drill; a failover measurement). What is left
// to measure is haflow's orchestration: the runner, Temporal's round trips, the worker's polling.
import type { StepResult } from '../activities/contract';
import type { FailoverMeasurement, MeasureInput } from '../activities/failover/measure';
import { ACTIVITY_NAMES } from '../runbooks/activities';

type StandInInput = { host?: string; check?: boolean } & Record<string, unknown>;
type StepStandIn = (input: StandInInput) => Promise<StepResult>;

/** What the drill's workflow reads back from some steps: the moment of the fault, the leaders. */
function factsOf(activity: string, input: StandInInput): StepResult['facts'] | undefined {
  switch (activity) {
    case 'injectFault':
      return { injectedAt: Date.now() };
    case 'clusterHealthy':
      return { leader: typeof input.leader === 'string' ? input.leader : 'node1' };
    case 'awaitRecovery':
      return { leader: 'node2' };
    default:
      return undefined;
  }
}

function stepStandIn(activity: string): StepStandIn {
  return async (input) => {
    const facts = factsOf(activity, input);
    return {
      changed: false,
      summary: `${activity}${input.host ? `@${input.host}` : ''}: nothing to do (engine benchmark stand-in)`,
      ...(facts ? { facts } : {}),
    };
  };
}

/**
 * A made-up measurement of the size a short drill's has: a probe of 30 s at 100 ms with one outage
 * and the watcher's leader, role and routing changes, timed from the call (the workflow strikes
 * about four seconds later, after its baseline).
 */
async function measureFailover(input: MeasureInput): Promise<FailoverMeasurement> {
  const startedAt = Date.now();
  const at = startedAt + 4_000;
  return {
    drill: input.drill,
    startedAt,
    endedAt: at + 26_000,
    intervalMs: 100,
    attempts: 300,
    acked: [
      [1, 40],
      [120, 300],
    ],
    ackedCount: 221,
    ackedBy: { '127.0.0.12': 40, '127.0.0.13': 181 },
    outages: [{ lastAckAt: at - 60, firstFailAt: at + 40, firstAckAfterAt: at + 8_000, failed: 79, firstError: 'connection refused' }],
    lost: { checkedOn: '127.0.0.13', count: 0, sample: [] },
    events: [
      { at: startedAt, subject: 'leader', value: 'node1' },
      { at: startedAt, subject: 'role:node1', value: 'primary' },
      { at: startedAt, subject: 'role:node2', value: 'replica' },
      { at: startedAt, subject: 'routing', value: 'node1' },
      { at: at + 100, subject: 'role:node1', value: 'unreachable' },
      { at: at + 6_500, subject: 'leader', value: '' },
      { at: at + 6_900, subject: 'leader', value: 'node2' },
      { at: at + 7_200, subject: 'role:node2', value: 'primary' },
      { at: at + 7_900, subject: 'routing', value: 'node2' },
      { at: at + 20_000, subject: 'role:node1', value: 'replica' },
    ],
    splitBrain: [],
    interruptions: [],
    stoppedBecause: 'writes flowed for 5 s after the outage',
  };
}

/** Every activity haflow's worker registers for the install and the drill, as no-op stand-ins. */
export function engineActivities(): Record<string, StepStandIn | typeof measureFailover> {
  return { ...Object.fromEntries(ACTIVITY_NAMES.map((name) => [name, stepStandIn(name)])), measureFailover };
}
