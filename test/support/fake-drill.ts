// The failover activities over a fake cluster, for the drill workflow on a real server: they
// record every call and fail where the test says, so the heal can be proven to run after a
// failure, an abort or a cancellation. The measurement is made up around the fault's time.
import { ApplicationFailure, Context, heartbeat, sleep } from '@temporalio/activity';
import type { FailoverMeasurement, MeasureInput } from '../../activities/failover/measure';
import type { StepResult } from '../../activities/contract';

export interface FakeDrill {
  /** Activity names in the order they were called. */
  calls: string[];
  /** Activities that fail (non-retryable, so their step blocks at once). */
  broken: Set<string>;
  injectedAt?: number;
  /** The Patroni version the gate reads on the leader (none: the gate does not say). */
  patroniVersion?: string;
}

export function fakeDrillActivities(drill: FakeDrill) {
  const step = (name: string, result: (input: Record<string, unknown>) => Partial<StepResult> = () => ({})) => async (input: Record<string, unknown>): Promise<StepResult> => {
    drill.calls.push(name);
    if (drill.broken.has(name)) throw ApplicationFailure.create({ type: 'GuardFailed', nonRetryable: true, message: `${name} failed (injected by the test)`, details: [{ remedy: 'fix it' }] });
    return { changed: false, summary: `${name} ok`, ...result(input) };
  };
  return {
    clusterHealthy: step('clusterHealthy', () => ({ facts: { leader: 'node1', ...(drill.patroniVersion ? { patroniVersion: drill.patroniVersion } : {}) } })),
    ensureProbeDatabase: step('ensureProbeDatabase'),
    injectFault: step('injectFault', () => {
      drill.injectedAt = Date.now();
      return { changed: true, summary: 'fault injected', facts: { injectedAt: drill.injectedAt } };
    }),
    awaitRecovery: step('awaitRecovery', () => ({ facts: { leader: 'node2' } })),
    healFault: step('healFault', () => ({ changed: true, summary: 'healed' })),
    replicaRejoined: step('replicaRejoined'),
    archiveContinuity: step('archiveContinuity'),
    verifyWriteThroughHaproxy: step('verifyWriteThroughHaproxy'),
    // A scheduled switchover (scheduledAt) "happens" at its time, as Patroni would do it.
    switchoverTo: step('switchoverTo', (input) =>
      typeof input.scheduledAt === 'string' ? ((drill.injectedAt = Date.parse(input.scheduledAt)), { changed: true, facts: { requestedAt: Date.now() } }) : { changed: true, facts: { requestedAt: (drill.injectedAt = Date.now()) } },
    ),
    cancelScheduledSwitchover: step('cancelScheduledSwitchover', () => ({ changed: true, summary: 'withdrawn' })),
    // A rolling restart's: the leader's turn is a coordinated switchover, which "happens" at once.
    restartPostgres: step('restartPostgres', () => ({ changed: true, summary: 'restarted' })),
    replicaStreaming: step('replicaStreaming'),
    coordinatedSwitchoverTo: step('coordinatedSwitchoverTo', () => ({ changed: true, facts: { requestedAt: (drill.injectedAt = Date.now()), coordinated: true } })),
    async measureFailover(input: MeasureInput): Promise<FailoverMeasurement> {
      drill.calls.push('measureFailover');
      const startedAt = Date.now();
      // Until a second after the fault (or the bound), heartbeating, as the real observer does.
      while (drill.injectedAt === undefined || Date.now() < drill.injectedAt + 1000) {
        if (Date.now() > startedAt + input.maxSeconds * 1000) break;
        if (Context.current().cancellationSignal.aborted) throw Context.current().cancellationSignal.reason;
        heartbeat();
        await sleep(100);
      }
      const at = drill.injectedAt ?? startedAt;
      return {
        drill: input.drill,
        startedAt,
        endedAt: Date.now(),
        intervalMs: 100,
        attempts: 60,
        acked: [[1, 30], [36, 60]],
        ackedCount: 55,
        ackedBy: { '127.0.0.12': 30, '127.0.0.13': 25 },
        outages: [{ lastAckAt: at - 50, firstFailAt: at + 20, firstAckAfterAt: at + 550, failed: 5, firstError: 'made up' }],
        lost: { checkedOn: '127.0.0.13', count: 0, sample: [] },
        events: [
          { at: startedAt, subject: 'leader', value: 'node1' },
          { at: startedAt, subject: 'role:node2', value: 'replica' },
          { at: at + 300, subject: 'leader', value: 'node2' },
          { at: at + 350, subject: 'role:node2', value: 'primary' },
          { at: at + 500, subject: 'routing', value: 'node2' },
        ],
        splitBrain: [],
        interruptions: [],
        stoppedBecause: 'made up',
      };
    },
  };
}

export function fakeDrill(): FakeDrill {
  return { calls: [], broken: new Set() };
}
