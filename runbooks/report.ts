// A failover's figures, from what was observed (activities/failover/measure.ts) and when the
// fault struck; the write downtime predicted from the cluster's own settings; and the verdict
// against the site's objectives. Pure, so the workflow computes the report and a test checks
// the arithmetic with made-up measurements.
import type { FailoverMeasurement, WatchEvent } from '../activities/failover/measure';
import type { Topology } from '../topology/schema';
import { monitorSettings } from '../topology/derive';
import { FAULTS, type FaultName } from '../topology/faults';
import { effectivePatroniTimings } from '../topology/platforms';

// Durations of Patroni's own actions, measured on the lab (a small database); the prediction
// adds them to what the settings make Patroni and HAProxy wait.
/** A replica that finds the leader key free promotes itself: pg_ctl promote and the first checkpoint. */
const PROMOTE_SECONDS = 0.3;
/**
 * A planned switchover: checkpoint, stop the leader, promote the candidate. Never much under 1 s
 * with Patroni 3.0: while the old leader shuts down, Patroni reads pg_controldata once a second
 * (STOP_POLLING_INTERVAL) before it releases the leader key.
 */
const SWITCHOVER_SECONDS = 1.5;
/** A coordinated switchover's routing: an SSH command to HAProxy's runtime socket once the candidate answers /primary. */
const COORDINATED_ROUTING_SECONDS = 0.1;
/** A graceful stop of Patroni on the leader: checkpoint and shutdown, then the key is released. */
const SHUTDOWN_SECONDS = 2;
/** Patroni restarting a killed PostgreSQL in place (crash recovery of a small database), once its HA loop has noticed. */
const RESTART_SECONDS = 1.5;
/** A machine booting and starting its enabled services (etcd, HAProxy). */
const BOOT_SECONDS = 3;
/** The application failover runbook without HAProxy's checks: the fence of a dead machine (3 s to give up on SSH), start, roles. */
const APP_FAILOVER_SECONDS = 5;
/** A fence that waits the whole SSH connect limit before it gives up on a dead machine. */
const FENCE_CONNECT_SECONDS = 3;

export interface Prediction {
  /** The write downtime to expect, in seconds. */
  expectedSeconds: number;
  /** Its upper bound from the settings. */
  worstSeconds: number;
  /** How it was computed, in the settings' own names. */
  formula: string;
}

/**
 * The write downtime a fault should cause, from Patroni's ttl/loop_wait and HAProxy's
 * inter/fall/rise; a coordinated switchover tells HAProxy instead of waiting for its checks.
 */
export function predictDowntime(topology: Topology, fault: FaultName, options: { coordinated?: boolean; patroniVersion?: string } = {}): Prediction {
  // What Patroni runs with, which from 3.1 on may be more than what was written (its floors).
  const { ttl, loop_wait: loop } = effectivePatroniTimings(topology.patroni, options.patroniVersion);
  const { inter, fall, rise } = topology.haproxy.check;
  // A newly promoted server: the next check within inter, then rise good checks in a row.
  const route = { expected: inter / 2 + (rise - 1) * inter, worst: rise * inter, formula: 'inter/2 + (rise-1)·inter' };
  const round = (n: number) => Math.round(n * 10) / 10;
  const make = (expected: number, worst: number, formula: string): Prediction => ({ expectedSeconds: round(expected), worstSeconds: round(worst), formula });
  switch (fault) {
    case 'crash-leader':
    case 'partition-leader':
      // The leader key expires ttl after its last refresh, which came every loop_wait; a replica
      // takes it on its next HA loop and promotes; HAProxy's checks then find it.
      return make(
        ttl - loop / 2 + loop + PROMOTE_SECONDS + route.expected,
        ttl + 2 * loop + PROMOTE_SECONDS + route.worst + inter,
        `(ttl - loop_wait/2) + loop_wait + promote ${PROMOTE_SECONDS} s + ${route.formula}` +
          (ttl !== topology.patroni.ttl ? ` (ttl ${ttl}: Patroni ${options.patroniVersion} raises the written ${topology.patroni.ttl})` : ''),
      );
    case 'stop-patroni':
      // A graceful stop releases the key: no waiting for it to expire, and the replicas, watching
      // the key in etcd, take it at once rather than on their next HA loop (measured: 7.2 s with
      // loop_wait 10 against 8.2 s with loop_wait 2, the same HAProxy checks).
      return make(
        SHUTDOWN_SECONDS + PROMOTE_SECONDS + route.expected,
        SHUTDOWN_SECONDS + loop + PROMOTE_SECONDS + route.worst + inter,
        `shutdown ${SHUTDOWN_SECONDS} s + promote ${PROMOTE_SECONDS} s + ${route.formula}`,
      );
    case 'switchover':
      if (options.coordinated) {
        return make(SWITCHOVER_SECONDS + COORDINATED_ROUTING_SECONDS, SWITCHOVER_SECONDS + 1 + COORDINATED_ROUTING_SECONDS, `switchover ${SWITCHOVER_SECONDS} s + HAProxy told ${COORDINATED_ROUTING_SECONDS} s`);
      }
      return make(SWITCHOVER_SECONDS + route.expected, SWITCHOVER_SECONDS + route.worst + fall * inter, `switchover ${SWITCHOVER_SECONDS} s + ${route.formula}`);
    case 'kill-postgres':
      // Patroni notices on its next HA loop and restarts PostgreSQL in place (measured: 2.2 s with
      // loop_wait 1 and 2, 6.5 s with 10); HAProxy only marks it down after fall failed checks,
      // so a quick restart never leaves its rotation.
      return make(loop / 2 + RESTART_SECONDS, loop + RESTART_SECONDS + (fall + rise) * inter, `loop_wait/2 + restart in place ${RESTART_SECONDS} s`);
    case 'crash-app-master': {
      // The application path: the monitor's checks fail `failures` times in a row (a dead machine
      // lets each run to its time limit), the gate and the fence, the application started on the
      // slave, and HAProxy's checks of its health URL. Writes to the database are not predicted
      // here: they stop only when that machine also leads the database (standalone layout).
      const o = topology.app ? monitorSettings(topology) : { interval_seconds: 3, timeout_seconds: 3, failures: 3 };
      const detect = (o.failures - 0.5) * o.interval_seconds + o.timeout_seconds;
      return make(
        detect + APP_FAILOVER_SECONDS + route.expected,
        o.failures * o.interval_seconds + o.timeout_seconds + APP_FAILOVER_SECONDS + FENCE_CONNECT_SECONDS + route.worst + inter,
        `(failures - 1/2)·interval + timeout + failover ${APP_FAILOVER_SECONDS} s + ${route.formula}`,
      );
    }
    case 'crash-observer': {
      // HAProxy is down until the observer boots. Without etcd for longer than retry_timeout the
      // leader demotes itself; once etcd is back a leader is elected again and HAProxy, started
      // fresh, needs rise good checks before it routes.
      const hold = FAULTS['crash-observer'].healedToRecover.holdSeconds;
      const demotes = hold + BOOT_SECONDS > topology.patroni.retry_timeout;
      const again = demotes ? loop + PROMOTE_SECONDS : 0;
      return make(
        hold + BOOT_SECONDS + again + route.expected,
        hold + BOOT_SECONDS + (demotes ? ttl + loop + PROMOTE_SECONDS : 0) + route.worst + inter,
        `held ${hold} s + boot ${BOOT_SECONDS} s${demotes ? ' + re-election (loop_wait + promote)' : ''} + ${route.formula}`,
      );
    }
  }
}

/** One event of the report's timeline, in seconds from the fault. */
export interface TimelineEntry {
  t: number;
  what: string;
}

export interface Phases {
  /** Fault to the old leader's key gone (expired, released) or taken over. */
  detectionSeconds?: number;
  /** Then to the new leader running as a primary. */
  promotionSeconds?: number;
  /** Then to HAProxy sending writes to it. */
  routingSeconds?: number;
}

export interface DrillFigures {
  /** From the last acknowledged write before the fault to the first one after it. */
  writeDowntimeSeconds?: number;
  /** The probe was interrupted (a lost worker) during the outage: the downtime is at most this. */
  downtimeIsUpperBound?: boolean;
  /** Writes that failed after the fault. */
  failedWrites: number;
  acknowledgedWrites: number;
  /** Acknowledged writes the new leader does not have. */
  lostWrites?: number;
  newLeader?: string;
  timeToNewLeaderSeconds?: number;
  timeToRoutingSeconds?: number;
  phases: Phases;
  splitBrain: boolean;
  /**
   * The application path (a topology with an application tier): from the first failed answer of
   * its health URL through HAProxy after the fault to the first 200 after the last failed one.
   */
  appDowntimeSeconds?: number;
  /** The application had not answered 200 again when the measurement ended: down at least this long. */
  appDownAtLeastSeconds?: number;
  /** A switchover's two phases (see switchoverPhases). */
  switchover?: SwitchoverPhases;
}

export interface SwitchoverPhases {
  /** HAProxy was told through its runtime API (a coordinated switchover that found what it expected). */
  coordinated: boolean;
  /** Patroni's demote and promote: from the request to the new leader running as primary. */
  patroniSeconds?: number;
  /** Then until HAProxy sent writes to it. */
  routingSeconds?: number;
  /** How the two were timed. */
  timedBy: string;
  /** A coordinated switchover that found HAProxy or its runtime API not as planned ran plain: why. */
  notCoordinated?: string;
}

export interface Verdict {
  pass: boolean;
  reasons: string[];
}

export interface DrillReport {
  kind: 'drill' | 'switchover';
  cluster: string;
  fault: FaultName;
  target: string;
  oldLeader: string;
  startedAt: string;
  injectedAt: string;
  finishedAt: string;
  figures: DrillFigures;
  predicted: Prediction;
  objectives?: { rto_seconds: number; lost_writes: number };
  verdict: Verdict;
  timeline: TimelineEntry[];
  probe: {
    intervalMs: number;
    attempts: number;
    /** The acknowledged sequence numbers, as inclusive ranges (the drill's rows in haflow_probe). */
    acked: [number, number][];
    /** The probe's rows are those with this drill id. */
    drill: string;
    ackedBy: Record<string, number>;
    outages: { from: number; to?: number; failed: number; firstError: string }[];
    interruptions: { from: number; to: number }[];
    stoppedBecause: string;
    /** Where the probe wrote: HAProxy's write endpoint, or (classic) the primary directly. */
    writeTarget?: string;
    lostCheck: string;
  };
  settings: { ttl: number; loop_wait: number; retry_timeout: number; inter: number; fall: number; rise: number; synchronous_mode: string };
  /** What healing and the steps after the measurement found. */
  notes: string[];
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;

function firstAfter(events: WatchEvent[], at: number, match: (e: WatchEvent) => boolean): WatchEvent | undefined {
  return events.find((e) => e.at >= at && match(e));
}

export interface MeasureInput {
  topology: Topology;
  fault: FaultName;
  target: string;
  oldLeader: string;
  startedAt: number;
  /** When the fault was surely in place (a driver had returned). */
  injectedAt: number;
  /** When it may have begun (a driver was started); injectedAt when the same. */
  strikeFrom?: number;
  finishedAt: number;
  measurement: FailoverMeasurement;
  /** The drill's steps after the fault all completed (recovery, heal, rejoin, final health). */
  completed: boolean;
  /** Steps that finished after the fault, for the timeline (heal, rejoin, switch back). */
  milestones?: { id: string; summary: string; finishedAt: number }[];
  notes?: string[];
  kind?: DrillReport['kind'];
  /** The facts of the step that struck (a switchover's: when it was requested, promoted, routed). */
  strikeFacts?: Record<string, string | number | boolean>;
  /** The leader's Patroni version, as the gate read it: it sets the timings Patroni runs with. */
  patroniVersion?: string;
}

/**
 * A switchover's phases. A coordinated one times them itself, polling both members' /primary
 * every 25 ms and timing HAProxy's answers; a plain one from the watcher (about 4 reads a second):
 * the new leader seen as primary, then HAProxy's stats showing it UP.
 */
export function switchoverPhases(facts: MeasureInput['strikeFacts'], injectedAt: number, promotedAt: number | undefined, routingSeconds: number | undefined): SwitchoverPhases {
  const num = (key: string) => (typeof facts?.[key] === 'number' ? (facts[key] as number) : undefined);
  const [requested, promoted, routed] = [num('requestedAt') ?? injectedAt, num('promotedAt'), num('routedAt')];
  if (facts?.coordinated === true && promoted !== undefined && routed !== undefined) {
    return { coordinated: true, patroniSeconds: seconds(promoted - requested), routingSeconds: seconds(routed - promoted), timedBy: "the switchover step: the members' /primary every 25 ms, HAProxy's runtime API answers" };
  }
  return {
    coordinated: false,
    patroniSeconds: promotedAt !== undefined ? seconds(promotedAt - requested) : undefined,
    routingSeconds,
    timedBy: "the watcher: pg_is_in_recovery() and HAProxy's stats page, about 4 reads a second",
    ...(typeof facts?.notCoordinated === 'string' ? { notCoordinated: facts.notCoordinated } : {}),
  };
}

/** The application's downtime through HAProxy, from the watcher's `app` events (none: no application tier). */
export function appPath(o: Pick<FailoverMeasurement, 'events' | 'endedAt'>, from: number): Pick<DrillFigures, 'appDowntimeSeconds' | 'appDownAtLeastSeconds'> {
  const events = o.events.filter((e) => e.subject === 'app');
  if (events.length === 0) return {};
  const firstDown = events.find((e) => e.value === 'down' && e.at >= from);
  if (!firstDown) return { appDowntimeSeconds: 0 };
  const lastDown = [...events].reverse().find((e) => e.value === 'down')!;
  const upAgain = events.find((e) => e.value === 'up' && e.at > lastDown.at);
  return upAgain ? { appDowntimeSeconds: seconds(upAgain.at - firstDown.at) } : { appDownAtLeastSeconds: seconds(o.endedAt - firstDown.at) };
}

export function drillReport(input: MeasureInput): DrillReport {
  const { topology, fault, measurement: o, injectedAt, oldLeader } = input;
  const dbNames = new Set(topology.hosts.filter((h) => h.roles.includes('db')).map((h) => h.name));

  // The outage the fault caused: the first one that started once the fault could have begun
  // (a fault driver may take a while to return after it struck).
  const from = (input.strikeFrom ?? injectedAt) - 50;
  const outage = o.outages.find((x) => x.firstFailAt >= from);
  const failedWrites = o.outages.filter((x) => x.firstFailAt >= from).reduce((n, x) => n + x.failed, 0);
  let writeDowntimeSeconds: number | undefined = 0;
  if (outage) {
    writeDowntimeSeconds = outage.firstAckAfterAt !== undefined ? seconds(outage.firstAckAfterAt - (outage.lastAckAt ?? outage.firstFailAt)) : undefined;
  }

  const leaderEvents = o.events.filter((e) => e.subject === 'leader');
  const keyGone = firstAfter(leaderEvents, injectedAt, (e) => e.value !== oldLeader);
  const newLeaderEvent = firstAfter(leaderEvents, injectedAt, (e) => dbNames.has(e.value) && e.value !== oldLeader);
  const finalLeader = [...leaderEvents].reverse().find((e) => dbNames.has(e.value))?.value;
  const newLeader = newLeaderEvent?.value ?? finalLeader;
  // The leader running as a primary again: a new one promoted, or the same one restarted.
  const down = firstAfter(o.events, injectedAt, (e) => e.subject === `role:${oldLeader}` && e.value !== 'primary');
  const promoted = newLeader
    ? firstAfter(o.events, newLeader === oldLeader ? (down?.at ?? injectedAt) : injectedAt, (e) => e.subject === `role:${newLeader}` && e.value === 'primary')
    : undefined;
  // HAProxy sends writes to the new leader once its checks mark it UP (the dead old leader may
  // still count as UP for a while: its checks time out rather than fail).
  const routed = newLeader ? firstAfter(o.events, promoted?.at ?? injectedAt, (e) => e.subject === 'routing' && e.value.split('+').includes(newLeader)) : undefined;
  // A leader that never left HAProxy's rotation (PostgreSQL restarted in place) was routed to all along.
  const routedAt = routed?.at ?? (newLeader && promoted && stillRouted(o.events, promoted.at, newLeader) ? promoted.at : undefined);
  const detectedAt = newLeader === oldLeader ? down?.at : keyGone?.at;
  const phases: Phases = {
    detectionSeconds: detectedAt !== undefined ? seconds(detectedAt - injectedAt) : undefined,
    promotionSeconds: promoted && detectedAt !== undefined ? seconds(Math.max(0, promoted.at - detectedAt)) : undefined,
    routingSeconds: routedAt !== undefined && promoted ? seconds(Math.max(0, routedAt - promoted.at)) : undefined,
  };
  const lostWrites = 'count' in o.lost ? o.lost.count : undefined;
  // While the probe was interrupted nothing was written: if that was during the outage, writes
  // may have resumed earlier than the probe saw.
  const interrupted =
    outage !== undefined && o.interruptions.some((i) => i.to >= (outage.lastAckAt ?? outage.firstFailAt) && i.from <= (outage.firstAckAfterAt ?? Infinity));
  // No failed write seen, but the probe was not running when the fault struck (its worker was
  // lost): the outage fell inside the gap, so it lasted at most until the probe wrote again.
  const unseen = outage === undefined ? o.interruptions.find((i) => i.to >= from) : undefined;
  if (unseen) writeDowntimeSeconds = seconds(unseen.to - Math.min(unseen.from, from));
  const app = appPath(o, from);
  const figures: DrillFigures = {
    ...app,
    writeDowntimeSeconds,
    ...(interrupted || unseen ? { downtimeIsUpperBound: true } : {}),
    failedWrites,
    acknowledgedWrites: o.ackedCount,
    lostWrites,
    newLeader,
    timeToNewLeaderSeconds: newLeaderEvent ? seconds(newLeaderEvent.at - injectedAt) : undefined,
    timeToRoutingSeconds: routedAt !== undefined ? seconds(routedAt - injectedAt) : undefined,
    phases,
    splitBrain: o.splitBrain.length > 0,
    ...(input.kind === 'switchover' ? { switchover: switchoverPhases(input.strikeFacts, injectedAt, promoted?.at, phases.routingSeconds) } : {}),
  };

  const objectives = topology.objectives;
  const reasons: string[] = [];
  if (writeDowntimeSeconds === undefined) reasons.push('writes did not resume before the measurement ended');
  if (lostWrites === undefined) reasons.push(`lost writes could not be counted: ${'error' in o.lost ? o.lost.error : ''}`);
  else if (lostWrites > (objectives?.lost_writes ?? 0)) reasons.push(`${lostWrites} acknowledged write(s) lost, over the objective of ${objectives?.lost_writes ?? 0}`);
  if (objectives && writeDowntimeSeconds !== undefined && writeDowntimeSeconds > objectives.rto_seconds) {
    reasons.push(`write downtime ${writeDowntimeSeconds} s, over the objective of ${objectives.rto_seconds} s`);
  }
  if (figures.splitBrain) reasons.push(`two nodes ran as primaries at once (${o.splitBrain.map((s) => s.primaries.join('+')).join(', ')})`);
  if (FAULTS[fault].leaderMoves && newLeader === oldLeader) reasons.push(`leadership did not move from ${oldLeader}`);
  if (FAULTS[fault].target === 'app-master') {
    // This fault is the application's: its path is what the objective is about.
    if (app.appDowntimeSeconds === undefined) reasons.push('the application did not answer 200 through HAProxy again before the measurement ended');
    else if (objectives && app.appDowntimeSeconds > objectives.rto_seconds) reasons.push(`application downtime ${app.appDowntimeSeconds} s, over the objective of ${objectives.rto_seconds} s`);
  }
  if (!input.completed) reasons.push('the drill did not complete: the cluster was not shown healthy again');

  const timeline: TimelineEntry[] = [
    { t: seconds(input.startedAt - injectedAt), what: 'drill started' },
    ...o.events.map((e) => ({ t: seconds(e.at - injectedAt), what: describeEvent(e, topology.layout === 'classic') })),
    ...o.outages.map((x) => ({ t: seconds(x.firstFailAt - injectedAt), what: `writes fail: ${x.firstError}` })),
    ...o.outages.filter((x) => x.firstAckAfterAt !== undefined).map((x) => ({ t: seconds(x.firstAckAfterAt! - injectedAt), what: 'writes acknowledged again' })),
    ...(input.milestones ?? []).filter((m) => m.finishedAt >= injectedAt).map((m) => ({ t: seconds(m.finishedAt - injectedAt), what: `${m.id}: ${m.summary}` })),
    { t: 0, what: `fault: ${fault} on ${input.target}` },
  ].sort((a, b) => a.t - b.t);

  return {
    kind: input.kind ?? 'drill',
    cluster: topology.cluster,
    fault,
    target: input.target,
    oldLeader,
    startedAt: new Date(input.startedAt).toISOString(),
    injectedAt: new Date(injectedAt).toISOString(),
    finishedAt: new Date(input.finishedAt).toISOString(),
    figures,
    predicted: predictDowntime(topology, fault, { coordinated: input.strikeFacts?.coordinated === true, patroniVersion: input.patroniVersion }),
    objectives: objectives ? { rto_seconds: objectives.rto_seconds, lost_writes: objectives.lost_writes } : undefined,
    verdict: { pass: reasons.length === 0, reasons },
    timeline,
    probe: {
      intervalMs: o.intervalMs,
      attempts: o.attempts,
      acked: o.acked,
      drill: o.drill,
      ackedBy: o.ackedBy,
      outages: o.outages.map((x) => ({ from: seconds(x.firstFailAt - injectedAt), to: x.firstAckAfterAt !== undefined ? seconds(x.firstAckAfterAt - injectedAt) : undefined, failed: x.failed, firstError: x.firstError })),
      interruptions: o.interruptions.map((x) => ({ from: seconds(x.from - injectedAt), to: seconds(x.to - injectedAt) })),
      stoppedBecause: o.stoppedBecause,
      ...(o.writeTarget ? { writeTarget: o.writeTarget } : {}),
      lostCheck: 'count' in o.lost ? `checked on ${o.lost.checkedOn}${o.lost.sample.length ? `; missing: ${o.lost.sample.join(', ')}` : ''}` : o.lost.error,
    },
    settings: {
      ttl: topology.patroni.ttl,
      loop_wait: topology.patroni.loop_wait,
      retry_timeout: topology.patroni.retry_timeout,
      inter: topology.haproxy.check.inter,
      fall: topology.haproxy.check.fall,
      rise: topology.haproxy.check.rise,
      synchronous_mode: topology.patroni.synchronous_mode,
    },
    notes: [
      ...(interrupted ? ['the probe was interrupted during the outage (its worker was lost): the write downtime is an upper bound'] : []),
      ...(input.notes ?? []),
    ],
  };
}

/** HAProxy's last routing before `at` included `server`. */
function stillRouted(events: WatchEvent[], at: number, server: string): boolean {
  const last = [...events].reverse().find((e) => e.subject === 'routing' && e.at <= at);
  return !!last && last.value.split('+').includes(server);
}

function describeEvent(e: WatchEvent, classic: boolean): string {
  // Classic: no Patroni; the leader is the node answering as a primary, and HAProxy routes users.
  if (classic && e.subject === 'leader') return e.value === 'none' ? 'no DB node answers as a primary' : `${e.value.replace(/\+/g, ' and ')} answer(s) as the primary`;
  if (classic && e.subject === 'routing') return e.value === 'none' ? 'HAProxy sends users to no application server' : e.value === 'unknown' ? "HAProxy's stats page does not answer" : `HAProxy sends users to ${e.value.replace(/\+/g, ' and ')}`;
  if (e.subject === 'leader') return e.value === 'none' ? 'no member holds the leader key' : e.value === 'unknown' ? "no Patroni answers with the cluster's members" : `${e.value} holds the leader key`;
  if (e.subject === 'app') return e.value === 'up' ? 'the application answers 200 through HAProxy' : 'the application does not answer 200 through HAProxy';
  if (e.subject === 'routing') return e.value === 'none' ? 'HAProxy sends writes to no server' : e.value === 'unknown' ? "HAProxy's stats page does not answer" : `HAProxy sends writes to ${e.value.replace(/\+/g, ' and ')}`;
  const node = e.subject.slice('role:'.length);
  return e.value === 'unreachable' ? `${node} does not answer SQL` : `${node} runs as ${e.value === 'primary' ? 'a primary' : 'a replica'}`;
}
