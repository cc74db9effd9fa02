// `haflow restart` as data: PostgreSQL restarted on every member, one at a time, replicas first
// (each streams again with its lag under the limit before the next), then the leader by a
// coordinated switchover, whose demotion restarts it (./rolling.ts). The write probe runs
// throughout (workflows/restart.ts), so the result states every write pause the operation caused.
import type { Topology } from '../topology/schema';
import { rollingSteps, streamingAgain } from './rolling';
import { stepOf, type Runbook } from './runbook';

export interface RestartArgs {
  /** The leader when the restart was planned: restarted last, after a switchover. */
  leader: string;
  /** The replica the leader is switched over to. */
  candidate: string;
  /** Each member's postmaster_start_time when planned (Patroni's /patroni): a restart already done is not done again. */
  plannedStarts: Record<string, string>;
}

export function restartSteps(topology: Topology, args: RestartArgs): Runbook {
  return rollingSteps(topology, {
    name: 'restart',
    leader: args.leader,
    candidate: args.candidate,
    turn: (host) => [
      stepOf(
        'restartPostgres',
        { heartbeatSeconds: 10, id: `postgres.restart@${host}`, title: `PostgreSQL on ${host} restarted through Patroni (POST /restart)${host === args.leader ? ', unless its demotion did' : ''}`, kind: 'change', host, attempts: 3, timeoutSeconds: 180 },
        { host, plannedStart: args.plannedStarts[host], waitSeconds: 150 },
      ),
      streamingAgain(host),
    ],
  });
}
