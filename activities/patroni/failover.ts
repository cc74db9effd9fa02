// Patroni's side of a failover: a switchover through its REST API, waiting until a leader
// serves writes (through HAProxy too), and the old leader rejoining as a streaming replica.
import { ApplicationFailure } from '@temporalio/common';
import { dbHosts, haproxyHosts, patroniScope, type Host, type Topology } from '../../topology';
import { readClusterHealth } from '../cluster/activities';
import { bestCandidate, type ClusterHealth } from '../cluster/health';
import { StepFailureTypes, type ClusterInput, type HostInput, type StepResult } from '../contract';
import { patroniConfigPath } from './config';
import { memberRuns, patroniCluster, restSend } from './rest';
import { guardFailed, onHost, stepResult, waitFor, type Probe } from '../shared/step';

async function postSwitchover(topology: Topology, leader: Host, candidate: string, scheduledAt?: string): Promise<{ status: number; body: string }> {
  const response = await restSend(topology, leader, '/switchover', 'POST', { leader: leader.name, candidate, ...(scheduledAt ? { scheduled_at: scheduledAt } : {}) }, 60_000);
  return { status: response.status, body: response.body.trim() };
}

export type SwitchoverInput = ClusterInput & { candidate?: string; scheduledAt?: string; waitSeconds?: number };

/** Who a switchover goes from and to, read now; or the step's result when there is nothing to do. */
export async function planSwitchover(input: SwitchoverInput): Promise<{ leader: Host; candidate: string } | { done: StepResult }> {
  const { topology } = input;
  const health = await readClusterHealth(input);
  const candidate = input.candidate ?? bestCandidate(health);
  if (!candidate) throw guardFailed(`cluster ${topology.cluster} has no streaming replica to switch over to`, `see \`haflow list ${topology.cluster}\``);
  if (health.leader === candidate) return { done: stepResult([], `${candidate} is the leader already`, [], { leader: candidate }) };
  const leader = dbHosts(topology).find((h) => h.name === health.leader);
  if (!leader) throw guardFailed(`cluster ${topology.cluster} has no leader to switch over from (${health.problems.join('; ')})`, `see \`haflow list ${topology.cluster}\``);
  return { leader, candidate };
}

/** POST /switchover on the leader; an answer of 400 or more is the step's failure. */
export async function requestSwitchover(topology: Topology, leader: Host, candidate: string, scheduledAt?: string): Promise<string> {
  const answer = await postSwitchover(topology, leader, candidate, scheduledAt);
  if (answer.status >= 400) {
    throw ApplicationFailure.create({
      type: StepFailureTypes.commandFailed,
      nonRetryable: answer.status < 500,
      message: `Patroni on ${leader.name} refused the switchover to ${candidate}: HTTP ${answer.status} ${answer.body}`,
      details: [{ remedy: `see \`patronictl -c ${patroniConfigPath} list\` on ${leader.name}; a switchover needs a healthy, streaming candidate` }],
    });
  }
  return answer.body;
}

/** Until `candidate` holds the leader key. */
export async function awaitLeaderKey(input: SwitchoverInput, candidate: string): Promise<void> {
  await waitFor(
    `${candidate} to hold the leader key`,
    async (): Promise<Probe<true>> => {
      const now = await readClusterHealth(input);
      return now.leader === candidate ? { done: true } : { notYet: `leader is ${now.leader ?? 'none'}` };
    },
    { timeoutMs: (input.waitSeconds ?? 60) * 1000, intervalMs: 250 },
  );
}

/**
 * A planned switchover to `candidate` (or the best replica): POST /switchover on the leader, then
 * until the candidate holds the leader key. Already done when the candidate leads. HAProxy finds
 * out by its own checks (activities/cluster/coordinated-switchover.ts tells it instead).
 */
export async function switchoverTo(input: SwitchoverInput): Promise<StepResult> {
  const plan = await planSwitchover(input);
  if ('done' in plan) return plan.done;
  const { leader, candidate } = plan;
  if (input.check) return stepResult([`would switch over from ${leader.name} to ${candidate}${input.scheduledAt ? ` at ${input.scheduledAt}` : ''}`], '');
  const requestedAt = Date.now();
  const answer = await requestSwitchover(input.topology, leader, candidate, input.scheduledAt);
  if (input.scheduledAt) {
    return stepResult([`scheduled a switchover from ${leader.name} to ${candidate} at ${input.scheduledAt}: ${answer}`], '', [], { oldLeader: leader.name, candidate, requestedAt });
  }
  await awaitLeaderKey(input, candidate);
  return stepResult([`switched over from ${leader.name} to ${candidate}: ${answer}`], '', [], { oldLeader: leader.name, leader: candidate, requestedAt, doneAt: Date.now() });
}

/**
 * Withdraws a switchover scheduled with Patroni (`--at`) that has not happened yet: DELETE
 * /switchover, as `patronictl flush <scope> switchover` does. Nothing to do when none is pending.
 */
export async function cancelScheduledSwitchover(input: ClusterInput): Promise<StepResult> {
  const { topology } = input;
  const pending = (await patroniCluster(topology)).scheduledSwitchover;
  if (!pending) return stepResult([], 'no switchover is scheduled');
  const what = `the switchover scheduled at ${pending.at}${pending.to ? ` to ${pending.to}` : ''}`;
  if (input.check) return stepResult([`would cancel ${what}`], '');
  const errors: string[] = [];
  for (const host of dbHosts(topology)) {
    try {
      const response = await restSend(topology, host, '/switchover', 'DELETE', undefined, 10_000);
      const body = response.body.trim();
      if (response.status === 200) return stepResult([`cancelled ${what}: ${body}`], '');
      if (response.status === 404) return stepResult([], `no switchover is scheduled any more (${body})`);
      errors.push(`${host.name}: HTTP ${response.status} ${body}`);
    } catch (err) {
      errors.push(`${host.name}: ${(err as Error).message}`);
    }
  }
  throw ApplicationFailure.create({
    type: StepFailureTypes.commandFailed,
    message: `could not cancel ${what} on cluster ${topology.cluster} (${errors.join('; ')})`,
    details: [{ remedy: `\`patronictl -c ${patroniConfigPath} flush ${patroniScope(topology)} switchover\` on any DB node` }],
  });
}

export type RecoveryInput = ClusterInput & {
  /** The leader when the fault struck. */
  oldLeader: string;
  /** Another member must lead afterwards (true), the same one (false), or either (undefined). */
  leaderMoves?: boolean;
  /** This member must lead afterwards. */
  expectedLeader?: string;
  waitSeconds: number;
};

/** After a fault: a leader that runs as primary and HAProxy sending writes to exactly it. */
export async function awaitRecovery(input: RecoveryInput): Promise<StepResult> {
  const { topology } = input;
  const probe = async (): Promise<Probe<ClusterHealth>> => {
    const health = await readClusterHealth(input);
    const leader = health.leader;
    if (!leader) return { notYet: 'no member holds the leader key' };
    if (input.expectedLeader && leader !== input.expectedLeader) return { notYet: `the leader is ${leader}, not ${input.expectedLeader} yet` };
    if (input.leaderMoves === true && leader === input.oldLeader) return { notYet: `${leader} still holds the leader key` };
    if (input.leaderMoves === false && leader !== input.oldLeader) return { notYet: `the leader moved to ${leader}` };
    if (health.nodes.find((n) => n.host === leader)?.role !== 'primary') return { notYet: `${leader} holds the key but does not run as a primary yet` };
    const routing = health.haproxy.map((h) => `${h.host} → ${h.routesTo.join('+') || 'none'}`);
    if (!health.haproxy.every((h) => h.routesTo.length === 1 && h.routesTo[0] === leader)) return { notYet: `${leader} leads; HAProxy: ${routing.join(', ')}` };
    return { done: health };
  };
  if (input.check) {
    const seen = await probe().catch((err: Error) => ({ notYet: err.message }));
    return stepResult([], 'done' in seen ? `${seen.done.leader} leads and HAProxy sends writes to it` : `not recovered now: ${seen.notYet}`);
  }
  const health = await waitFor(`a leader serving writes through HAProxy after the fault on cluster ${topology.cluster}`, probe, {
    timeoutMs: input.waitSeconds * 1000,
    intervalMs: 250,
    remedy: `see \`haflow list ${topology.cluster}\` and Patroni's log on the DB nodes (\`journalctl -u patroni\`)`,
  });
  return stepResult([], `${health.leader} leads${health.leader === input.oldLeader ? ' (the same leader)' : ` (was ${input.oldLeader})`} and HAProxy ${haproxyHosts(topology).map((h) => h.name).join(', ')} sends writes to it`, [], {
    leader: health.leader!,
    recoveredAt: Date.now(),
  });
}

/** How long Patroni may report a failed start before the rejoin restarts it, once. */
const START_FAILED_GRACE_MS = 20_000;

/**
 * The old leader back as a replica: a member, running, streaming from the leader on its timeline.
 * Patroni that reports "start failed" does not try again by itself; after a grace time the step
 * restarts Patroni on that node once (it is not the leader, so this moves nothing), as an
 * operator would first, and says so in its result.
 */
export async function replicaRejoined(input: HostInput & { waitSeconds: number }): Promise<StepResult> {
  const { topology } = input;
  let startFailedSince: number | undefined;
  let restarted: string | undefined;
  const probe = async (): Promise<Probe<string>> => {
    const health = await readClusterHealth(input);
    const me = health.members.find((m) => m.name === input.host);
    const leader = health.members.find((m) => m.name === health.leader);
    if (!leader) return { notYet: 'the cluster has no leader' };
    if (leader.name === input.host) return { done: `${input.host} leads` };
    if (!me) return { notYet: `${input.host} is not a member yet` };
    // Patroni's own state first: it can report a failed start while an orphaned PostgreSQL streams.
    if (!memberRuns(me.state)) {
      if (me.state === 'start failed' && !input.check && restarted === undefined) {
        startFailedSince ??= Date.now();
        if (Date.now() - startFailedSince >= START_FAILED_GRACE_MS) {
          restarted = `Patroni on ${input.host} reported "start failed" for ${Math.round((Date.now() - startFailedSince) / 1000)} s and was restarted`;
          await onHost(input, (ssh) => ssh.check('systemctl restart patroni', { sudo: true, timeoutMs: 60_000 }));
        }
      }
      return { notYet: `Patroni on ${input.host} reports ${me.state}` };
    }
    if (!me.streaming) return { notYet: `${input.host} is ${me.state}, not streaming from ${leader.name}` };
    if (me.timeline !== leader.timeline) return { notYet: `${input.host} is on timeline ${me.timeline}, the leader on ${leader.timeline}` };
    return { done: `${input.host} streams from ${leader.name} on timeline ${leader.timeline}, lag ${me.lag}` };
  };
  if (input.check) {
    const seen = await probe().catch((err: Error) => ({ notYet: err.message }));
    return stepResult([], 'done' in seen ? seen.done : `not rejoined now: ${seen.notYet}`);
  }
  try {
    const rejoined = await waitFor(`${input.host} to rejoin as a streaming replica`, probe, { timeoutMs: input.waitSeconds * 1000, intervalMs: 500 });
    return stepResult(restarted ? [`${rejoined} (${restarted})`] : [], rejoined);
  } catch (err) {
    if (!(err instanceof ApplicationFailure) || err.type !== StepFailureTypes.timeout) throw err;
    // It will not come back by itself (a diverged timeline pg_rewind could not fix, a broken data
    // directory): rebuilding it from the leader is the operator's call.
    throw guardFailed(
      `${input.host} did not rejoin as a streaming replica within ${input.waitSeconds} s${restarted ? ` (${restarted})` : ''}: ${err.message}${await patroniLogTail(input)}`,
      `rebuild it from the leader: \`patronictl -c ${patroniConfigPath} reinit ${patroniScope(topology)} ${input.host}\` on any DB node, then \`haflow resume ${topology.cluster} --retry\``,
    );
  }
}

/** Lines Patroni repeats every loop: they would push out of a short excerpt the lines that say why. */
const ROUTINE_PATRONI_LINE = /Lock owner: .*; I am |no action\. I am |in progress$|Retry got exception: 'connection problems'|FATAL: {2}the database system is starting up/;

/**
 * A traceback of Patroni's REST API server when a client hung up (during a partition, say):
 * noise beside the lines that say why PostgreSQL did not start.
 */
const REST_TRACEBACK_LINE = /^\s*(Traceback \(most recent call last\)|File "\/usr\/lib\/python3[^"]*\/(socketserver|http\/server|ssl|socket)\.py"|self\.(RequestHandlerClass|handle|finish_request)\(|BrokenPipeError|ConnectionResetError|Exception occurred during processing of request|-{20,})/;

/**
 * The end of Patroni's log for an operator (and a test report): its last `keep` lines that are not
 * loop chatter, then the very last line, so a stuck state shows how it started.
 */
export function notablePatroniLines(log: string, keep = 20): string[] {
  const lines = log.split('\n').filter((l) => l.trim() !== '');
  const notable = lines.filter((l) => !ROUTINE_PATRONI_LINE.test(l) && !REST_TRACEBACK_LINE.test(l.replace(/^.*?(python3?|patroni)\[\d+\]: /, ''))).slice(-keep);
  const last = lines.at(-1);
  return last !== undefined && notable.at(-1) !== last ? [...notable, '…', last] : notable;
}

/** The end of Patroni's log on the host (PostgreSQL's own messages are in it too): best effort. */
async function patroniLogTail(input: HostInput): Promise<string> {
  try {
    const log = await onHost(input, (ssh) => ssh.exec('journalctl -u patroni -n 400 --no-pager', { sudo: true, timeoutMs: 5_000 }));
    const lines = notablePatroniLines(log.stdout);
    return lines.length > 0 ? `\nPatroni's log on ${input.host} (\`journalctl -u patroni\`), without its loop messages:\n${lines.join('\n')}` : '';
  } catch {
    return '';
  }
}
