// What users feel during a failover, measured from the worker while it happens:
// - a write probe through HAProxy's write endpoint: a row with a sequence number every 100 ms
//   into haflow's own probe database, keeping which numbers the server acknowledged;
// - a watcher that asks every DB node directly whether it runs as a primary, Patroni which
//   member holds the leader key, and HAProxy where it sends writes, a few times a second;
// - when the topology has an application tier, the application's health URL through HAProxy
//   (200 only while the application can write to its database): the application's path.
// One long activity does both, so they start and stop together. It heartbeats its compact
// state (acknowledged numbers as ranges, changes only), so a new worker carries on after a
// lost one, and it returns a summary small enough for the workflow's history.
import { Client } from 'pg';
import { appHosts, dbHosts, haproxyHosts, type Topology } from '../../topology';
import { APP_SECTION } from '../haproxy/config';
import { haproxyServers } from '../haproxy/stats';
import { restGet } from '../patroni/rest';
import { superuserClient, superuserPassword } from '../postgres/superuser';
import { currentActivity, heartbeat } from '../shared/step-activity';
import { httpGet, sleep } from '../shared/step';
import { PROBE_DATABASE, PROBE_TABLE } from './probe-database';

export interface MeasureInput {
  topology: Topology;
  /** The drill's id: its rows in the probe table are its own. */
  drill: string;
  /** Outages before this many seconds are noise of the baseline, not the fault's. */
  armAfterSeconds: number;
  /** After the fault's outage, this long without a failed write ends the measurement. */
  settleSeconds: number;
  /** The measurement ends after this long whatever happens. */
  maxSeconds: number;
  intervalMs?: number;
  /**
   * A maintenance run's probe, instead of the fault's outage rule: the measurement lasts until
   * this run's step is done or the run stops running (blocked, ended), then settleSeconds of
   * writes more. Read from the workflow's `progress` query, through the worker's own client.
   */
  until?: { workflowId: string; runId: string; stepId: string };
  /**
   * A DB node to write to directly instead of through HAProxy: a migration's, whose cluster has no
   * HAProxy write endpoint before it ends, and whose primary stays that node throughout.
   */
  writeTo?: string;
}

/** A stretch of failed writes: the last acknowledged write before it and the first after it. */
export interface Outage {
  lastAckAt?: number;
  firstFailAt: number;
  firstAckAfterAt?: number;
  failed: number;
  firstError: string;
}

export type WatchSubject = 'leader' | 'routing' | 'app' | `role:${string}`;

export interface WatchEvent {
  at: number;
  subject: WatchSubject;
  value: string;
}

export interface FailoverMeasurement {
  /** The id of the probe's rows (MeasureInput.drill). */
  drill: string;
  startedAt: number;
  endedAt: number;
  intervalMs: number;
  attempts: number;
  /** Acknowledged sequence numbers, as inclusive ranges. */
  acked: [number, number][];
  ackedCount: number;
  /** Acknowledged writes per server (inet_server_addr). */
  ackedBy: Record<string, number>;
  outages: Outage[];
  /** Acknowledged writes the leader did not have when asked at the end (the RPO). */
  lost: { checkedOn: string; count: number; sample: number[] } | { error: string };
  /** Changes seen by the watcher, in order (the first value of each subject included). */
  events: WatchEvent[];
  /** Moments when two DB nodes answered as primaries at once. */
  splitBrain: { at: number; primaries: string[] }[];
  /** When the measurement stopped and started again on another worker. */
  interruptions: { from: number; to: number }[];
  stoppedBecause: string;
  /** Where the probe wrote, for the report: HAProxy's write endpoint, or a DB node directly. */
  writeTarget?: string;
}

const MAX_EVENTS = 400;

/** How long after writes resume the measurement waits for the application to answer again. */
const APP_WAIT_MS = 90_000;

type State = Omit<FailoverMeasurement, 'endedAt' | 'lost' | 'stoppedBecause' | 'ackedCount'> & {
  seq: number;
  lastBeatAt: number;
  lastAckAt?: number;
  /** The last value seen of each watched subject. */
  last: Record<string, string>;
};

function freshState(drill: string, intervalMs: number): State {
  const now = Date.now();
  return { drill, startedAt: now, intervalMs, attempts: 0, acked: [], ackedBy: {}, outages: [], events: [], splitBrain: [], interruptions: [], seq: 0, lastBeatAt: now, last: {} };
}

export function addToRanges(ranges: [number, number][], n: number): void {
  const last = ranges[ranges.length - 1];
  if (last && n === last[1] + 1) last[1] = n;
  else if (!last || n > last[1]) ranges.push([n, n]);
  else throw new Error(`sequence number ${n} is not after ${last[1]}`);
}

export function rangesCount(ranges: [number, number][]): number {
  return ranges.reduce((sum, [a, b]) => sum + b - a + 1, 0);
}

/** The numbers of `ranges` that are not in `present`. */
export function missingFrom(ranges: [number, number][], present: Set<number>): number[] {
  const missing: number[] = [];
  for (const [a, b] of ranges) for (let n = a; n <= b; n++) if (!present.has(n)) missing.push(n);
  return missing;
}

function record(state: State, at: number, subject: WatchSubject, value: string): void {
  if (state.last[subject] === value) return;
  state.last[subject] = value;
  if (state.events.length < MAX_EVENTS) state.events.push({ at, subject, value });
}

export async function measureFailover(input: MeasureInput): Promise<FailoverMeasurement> {
  const { topology } = input;
  const intervalMs = input.intervalMs ?? 100;
  const context = currentActivity();
  // A new attempt after a lost worker carries on from the last heartbeat.
  const resumed = context?.info.heartbeatDetails as State | undefined;
  const state: State = resumed ?? freshState(input.drill, intervalMs);
  if (resumed) {
    state.interruptions.push({ from: resumed.lastBeatAt, to: Date.now() });
    // The lost worker may have written rows after its last heartbeat, with numbers the heartbeat
    // does not know: skip past every number it could have used, or the next inserts would fail
    // on the probe table's key and look like an outage.
    state.seq += Math.ceil((Date.now() - resumed.lastBeatAt) / intervalMs) + 10;
  }
  const password = superuserPassword(topology);
  const proxy = haproxyHosts(topology)[0];
  const dbs = dbHosts(topology);
  // The classic layout has no write endpoint and no Patroni: the probe writes to the primary
  // directly, starting at writeTo, and moves to the next DB node when a write fails there (a
  // standby refuses writes at once); the leader is the node that answers as a primary, and the
  // routing is HAProxy's choice among the application servers.
  const classic = topology.layout === 'classic';
  let direct = input.writeTo ? dbs.find((h) => h.name === input.writeTo) : classic ? dbs[0] : undefined;
  if (input.writeTo && !direct) throw new Error(`writeTo: ${input.writeTo} is not a DB host of cluster ${topology.cluster}`);
  const writeEndpoint = () => (direct ? { host: direct.address, port: topology.postgresql.port } : { host: proxy.address, port: topology.haproxy.postgres_port });
  const followPrimary = () => {
    if (classic && direct) direct = dbs[(dbs.indexOf(direct) + 1) % dbs.length];
  };
  const deadline = state.startedAt + input.maxSeconds * 1000;
  const armedAt = state.startedAt + input.armAfterSeconds * 1000;
  let stoppedBecause = `${input.maxSeconds} s passed`;
  let stopping = false;

  const connect = (host: string, port: number, database: string) =>
    superuserClient(topology, { host, port, database }, { connectMs: 1000, queryMs: 1000, statementMs: 1000 }, password);

  // ---- the write probe
  let probe: Client | undefined;
  const write = async (): Promise<void> => {
    const seq = ++state.seq;
    state.attempts += 1;
    const sentAt = Date.now();
    try {
      if (!probe) {
        probe = connect(writeEndpoint().host, writeEndpoint().port, PROBE_DATABASE);
        probe.on('error', () => undefined); // a dropped connection surfaces in the next query
        await probe.connect();
      }
      const row = await probe.query<{ addr: string }>(
        `INSERT INTO ${PROBE_TABLE} (drill, seq, client_at) VALUES ($1, $2, $3) RETURNING host(inet_server_addr()) AS addr`,
        [input.drill, seq, new Date(sentAt)],
      );
      const at = Date.now();
      addToRanges(state.acked, seq);
      const addr = row.rows[0]?.addr ?? 'unknown';
      state.ackedBy[addr] = (state.ackedBy[addr] ?? 0) + 1;
      const open = state.outages[state.outages.length - 1];
      if (open && open.firstAckAfterAt === undefined) open.firstAckAfterAt = at;
      state.lastAckAt = at;
    } catch (err) {
      await probe?.end().catch(() => undefined);
      probe = undefined;
      followPrimary();
      const open = state.outages[state.outages.length - 1];
      if (open && open.firstAckAfterAt === undefined) open.failed += 1;
      else state.outages.push({ lastAckAt: state.lastAckAt, firstFailAt: sentAt, failed: 1, firstError: (err as Error).message.slice(0, 200) });
    }
  };

  // ---- the watcher: a loop per subject, so a node that does not answer (its requests time
  // out) delays nothing else, and each change is timed when it was seen.
  const nodes = new Map<string, Client | undefined>();
  const roleOf = async (host: ReturnType<typeof dbHosts>[number]): Promise<string> => {
    try {
      let client = nodes.get(host.name);
      if (!client) {
        client = connect(host.address, topology.postgresql.port, 'postgres');
        client.on('error', () => undefined);
        await client.connect();
        nodes.set(host.name, client);
      }
      const row = await client.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
      return row.rows[0].recovery ? 'replica' : 'primary';
    } catch {
      await nodes.get(host.name)?.end().catch(() => undefined);
      nodes.set(host.name, undefined);
      return 'unreachable';
    }
  };
  /** The leader key's holder, from whichever DB node's Patroni answers first. */
  const leaderNow = async (): Promise<string> => {
    if (classic) {
      // Whichever DB node the role watchers last saw answering as a primary.
      const primaries = dbs.filter((h) => state.last[`role:${h.name}`] === 'primary').map((h) => h.name);
      return primaries.length === 0 ? 'none' : primaries.join('+');
    }
    const asks = dbHosts(topology).map(async (host) => {
      const response = await restGet(topology, host, '/cluster', 800);
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
      const members = (JSON.parse(response.body) as { members?: { name: string; role: string }[] }).members ?? [];
      return members.find((m) => m.role === 'leader')?.name ?? 'none';
    });
    return Promise.any(asks).catch(() => 'unknown');
  };
  const routingNow = async (): Promise<string> => {
    try {
      const section = classic ? APP_SECTION : 'postgres';
      const up = (await haproxyServers(topology, proxy)).filter((s) => s.proxy === section && s.status.startsWith('UP')).map((s) => s.server);
      return up.length === 0 ? 'none' : up.join('+');
    } catch {
      return 'unknown';
    }
  };
  // Split brain: node B seen primary while node A was seen primary just before and again just
  // after (no other answer between): then both were primaries at B's moment.
  const pending: { a: string; b: string; at: number }[] = [];
  const lastRole = new Map<string, { value: string; at: number }>();
  const onRole = (node: string, value: string, at: number) => {
    for (const p of pending.filter((x) => x.a === node)) {
      pending.splice(pending.indexOf(p), 1);
      if (value === 'primary' && state.splitBrain.length < MAX_EVENTS) state.splitBrain.push({ at: p.at, primaries: [p.a, p.b].sort() });
    }
    if (value === 'primary') {
      for (const [other, seen] of lastRole) if (other !== node && seen.value === 'primary') pending.push({ a: other, b: node, at });
    }
    lastRole.set(node, { value, at });
    record(state, at, `role:${node}`, value);
  };
  const loop = async (read: () => Promise<string>, seen: (value: string, at: number) => void) => {
    while (!stopping) {
      const started = Date.now();
      const value = await read();
      if (stopping) return;
      seen(value, Date.now());
      await sleep(Math.max(0, 250 - (Date.now() - started)));
    }
  };
  // The application as users reach it: its health URL through HAProxy, up (200) or down.
  const appUrl = topology.app && appHosts(topology).length > 0 ? `http://${proxy.address}:${topology.haproxy.app_http_port}${topology.app.health_path}` : undefined;
  const appNow = async (): Promise<string> => ((await httpGet(appUrl!, 2000).catch(() => undefined))?.status === 200 ? 'up' : 'down');
  const watch = (): Promise<unknown> =>
    Promise.all([
      ...dbHosts(topology).map((host) => loop(() => roleOf(host), (value, at) => onRole(host.name, value, at))),
      loop(leaderNow, (value, at) => record(state, at, 'leader', value)),
      loop(routingNow, (value, at) => record(state, at, 'routing', value)),
      ...(appUrl ? [loop(appNow, (value, at) => record(state, at, 'app', value))] : []),
    ]);

  // ---- the stop rule: the fault's outage is over, writes have flowed for settleSeconds, and
  // HAProxy sends them to exactly the leader.
  const settled = (): boolean => {
    const outages = state.outages.filter((o) => o.firstFailAt >= armedAt);
    const last = outages[outages.length - 1];
    const leader = state.last.leader;
    if (!last) {
      // No write failed (a fault of the application master alone): the application's outage is
      // the one to see through, and its answers for settleSeconds after it.
      const app = state.events.filter((e) => e.subject === 'app');
      const downAfterArm = app.some((e) => e.value === 'down' && e.at >= armedAt);
      const upSince = app.at(-1)?.value === 'up' ? app.at(-1)!.at : undefined;
      return downAfterArm && upSince !== undefined && Date.now() - upSince >= input.settleSeconds * 1000 && !!leader && state.last.routing === leader;
    }
    if (last.firstAckAfterAt === undefined) return false;
    if (!(Date.now() - last.firstAckAfterAt >= input.settleSeconds * 1000 && !!leader && state.last.routing === leader)) return false;
    // An application that answered before the fault is waited for too (the application monitor may be failing
    // it over), for at most APP_WAIT_MS after writes resumed.
    const appWasUp = state.events.find((e) => e.subject === 'app')?.value === 'up';
    return !appWasUp || state.last.app === 'up' || Date.now() - last.firstAckAfterAt >= APP_WAIT_MS;
  };

  // ---- a maintenance run's stop rule: its last step done (or the run no longer running), then
  // writes acknowledged for settleSeconds.
  let untilSeen: { at: number; why: string } | undefined;
  let untilAskedAt = 0;
  const untilReached = async (): Promise<void> => {
    if (!input.until || untilSeen || Date.now() - untilAskedAt < 1000 || !context) return;
    untilAskedAt = Date.now();
    const { workflowId, runId, stepId } = input.until;
    try {
      // The runner's `progress` query (workflows/protocol.ts), by name: what this rule reads of it.
      const progress = await context.client.workflow.getHandle(workflowId, runId).query<{ status: string; steps: { id: string; status: string }[] }>('progress');
      const step = progress.steps.find((s) => s.id === stepId);
      if (step?.status === 'done' || step?.status === 'skipped') untilSeen = { at: Date.now(), why: `the run's step ${stepId} is ${step.status}` };
      else if (progress.status !== 'running') untilSeen = { at: Date.now(), why: `the run is ${progress.status}` };
    } catch (err) {
      // A run that has ended answers no query here: the measurement has nothing left to watch.
      if ((err as Error).name === 'WorkflowNotFoundError' || /completed|terminated|not found/i.test((err as Error).message)) untilSeen = { at: Date.now(), why: 'the run ended' };
    }
  };
  const untilSettled = (): boolean => {
    if (!untilSeen || Date.now() - untilSeen.at < input.settleSeconds * 1000) return false;
    const last = state.outages[state.outages.length - 1];
    return !last || (last.firstAckAfterAt !== undefined && Date.now() - last.firstAckAfterAt >= input.settleSeconds * 1000);
  };

  const watching = watch();
  try {
    let tick = Date.now();
    while (Date.now() < deadline) {
      if (context?.cancellationSignal.aborted) throw context.cancellationSignal.reason;
      await write();
      if (Date.now() - state.lastBeatAt >= 1000) {
        state.lastBeatAt = Date.now();
        heartbeat(state);
      }
      if (input.until) {
        await untilReached();
        if (untilSettled()) {
          stoppedBecause = `${untilSeen!.why}, and writes flowed for ${input.settleSeconds} s after it`;
          break;
        }
      } else if (settled()) {
        stoppedBecause = `writes flowed for ${input.settleSeconds} s after the outage, to the leader`;
        break;
      }
      tick += intervalMs;
      const wait = tick - Date.now();
      if (wait > 0) await sleep(wait);
      else tick = Date.now();
    }
  } finally {
    stopping = true;
    await watching.catch(() => undefined);
    await probe?.end().catch(() => undefined);
    await Promise.all([...nodes.values()].map((c) => c?.end().catch(() => undefined)));
  }

  // Counted where the last write was acknowledged (classic: the primary the probe followed to).
  const lost = await lostWrites(() => connect(writeEndpoint().host, writeEndpoint().port, PROBE_DATABASE), input.drill, state.acked);
  const { seq: _seq, lastBeatAt: _beat, lastAckAt: _ack, last: _last, ...observed } = state;
  const writeTarget = classic
    ? `the primary's PostgreSQL directly (port ${topology.postgresql.port}), following it among ${dbs.map((h) => h.name).join(', ')}`
    : direct
      ? `${direct.name}:${topology.postgresql.port} directly`
      : `HAProxy on ${proxy.name}:${topology.haproxy.postgres_port}`;
  return { ...observed, endedAt: Date.now(), ackedCount: rangesCount(state.acked), lost, stoppedBecause, writeTarget };
}

/** Which acknowledged writes the leader (where HAProxy sends reads and writes) does not have. */
async function lostWrites(connect: () => Client, drill: string, acked: [number, number][]): Promise<FailoverMeasurement['lost']> {
  for (let attempt = 1; ; attempt++) {
    const client = connect();
    try {
      await client.connect();
      const rows = await client.query<{ seq: string; addr: string }>(`SELECT seq, host(inet_server_addr()) AS addr FROM ${PROBE_TABLE} WHERE drill = $1`, [drill]);
      const missing = missingFrom(acked, new Set(rows.rows.map((r) => Number(r.seq))));
      return { checkedOn: rows.rows[0]?.addr ?? 'unknown', count: missing.length, sample: missing.slice(0, 20) };
    } catch (err) {
      if (attempt >= 5) return { error: `could not read the probe table to count lost writes: ${(err as Error).message}` };
      await sleep(1000);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
