// The cluster as an operator reads it, in one typed value: Patroni's view from every DB node,
// etcd's health, and which server each HAProxy sends writes to; and the verdict on it. Pure:
// the readings come from ./activities.ts, the verdict is computed here, and the client shows it
// (`haflow list`). No secret is read, so none can be in it.
import type { Topology } from '../../topology/schema';
import { dbHosts } from '../../topology/derive';
import { memberRuns } from '../patroni/member-state';

/** What one DB node's Patroni says about itself (GET /patroni), or why it did not answer. */
export interface NodeReading {
  host: string;
  /** The node's own role as PostgreSQL runs it: primary, replica, or unknown when it did not answer. */
  role: 'primary' | 'replica' | 'unknown';
  /** Patroni's state of PostgreSQL: running, starting, stopped, … */
  state?: string;
  timeline?: number;
  /** On the primary: its WAL senders (pg_stat_replication), by the replicas' names. */
  replication?: { name: string; state: string; syncState: string }[];
  /** When PostgreSQL's postmaster started, as Patroni writes it (a rolling restart plans with it). */
  postmasterStart?: string;
  /** A changed parameter waits for a restart. */
  pendingRestart?: boolean;
  /** PostgreSQL's version number (150018 for 15.18). */
  serverVersion?: number;
  /** Patroni's own version (4.0.7). */
  patroniVersion?: string;
  error?: string;
}

/** A member as the DCS knows it (GET /cluster), in patronictl's vocabulary. */
export interface MemberReading {
  name: string;
  host: string;
  port?: number;
  /** leader, replica, sync_standby, standby_leader */
  role: string;
  state: string;
  timeline?: number;
  /** Bytes behind the leader; a string when Patroni does not know ("unknown"). */
  lag?: number | string;
}

export interface EtcdReading {
  host: string;
  healthy: boolean;
  error?: string;
}

export interface HaproxyReading {
  host: string;
  /** host:port of the write endpoint. */
  endpoint: string;
  /** The postgres proxy's servers and their status (UP, DOWN, MAINT, …). */
  servers: { name: string; status: string }[];
  error?: string;
}

export interface ClusterReadings {
  nodes: NodeReading[];
  /** The DCS view, from the first DB node that answered /cluster; undefined when none did. */
  members?: MemberReading[];
  membersFrom?: string;
  etcd: EtcdReading[];
  haproxy: HaproxyReading[];
}

export interface MemberHealth extends MemberReading {
  /** For a replica: whether the leader has a streaming WAL sender for it. */
  streaming?: boolean;
}

export interface ClusterHealth {
  cluster: string;
  checkedAt: string;
  /** The DCS's leader, when there is exactly one. */
  leader?: string;
  members: MemberHealth[];
  nodes: NodeReading[];
  etcd: EtcdReading[];
  /** Per HAProxy host: the servers it sends writes to (status UP). */
  haproxy: (HaproxyReading & { routesTo: string[] })[];
  maxLagBytes: number;
  /** What is wrong, one sentence each; empty when healthy. */
  problems: string[];
  healthy: boolean;
  /** The replica a switchover would go to now (bestCandidate), for a workflow to plan with. */
  candidate?: string;
}

/** The verdict on a cluster's readings: every problem an operator would want named. */
/**
 * The Patroni version the leader runs, as its REST API says: a failover prediction takes the
 * timings that version runs with (from 3.1 on Patroni raises a ttl under 20).
 */
export function leaderPatroniVersion(health: ClusterHealth): string | undefined {
  return health.nodes.find((n) => n.host === health.leader)?.patroniVersion;
}

export function clusterHealth(topology: Topology, readings: ClusterReadings, checkedAt: Date): ClusterHealth {
  const problems: string[] = [];
  const maxLag = topology.patroni.maximum_lag_on_failover;
  const port = topology.patroni.rest_api_port;

  for (const node of readings.nodes.filter((n) => n.error)) problems.push(`${node.host} does not answer Patroni's REST API on port ${port}: ${node.error}`);

  const members = readings.members ?? [];
  if (!readings.members) problems.push('no DB node answered with the cluster\'s members (GET /cluster): Patroni or etcd is down');
  const leaders = members.filter((m) => m.role === 'leader' || m.role === 'standby_leader');
  if (readings.members && leaders.length === 0) problems.push('no leader: no member holds the leader key in etcd');
  if (leaders.length > 1) problems.push(`${leaders.length} leaders: ${leaders.map((m) => m.name).join(', ')}`);
  const leader = leaders.length === 1 ? leaders[0] : undefined;

  const primaries = readings.nodes.filter((n) => n.role === 'primary');
  if (primaries.length > 1) problems.push(`${primaries.length} nodes run PostgreSQL as a primary: ${primaries.map((n) => n.host).join(', ')} (split brain: both may accept writes)`);
  if (leader && primaries.length === 1 && primaries[0].host !== leader.name) {
    problems.push(`${primaries[0].host} runs as a primary, but the leader key is held by ${leader.name}`);
  }

  for (const db of dbHosts(topology)) {
    if (readings.members && !members.some((m) => m.name === db.name)) problems.push(`${db.name} is not a member of the cluster (Patroni is not running there, or cannot reach etcd)`);
  }

  const leaderNode = leader && readings.nodes.find((n) => n.host === leader.name);
  const health: MemberHealth[] = members.map((m) => {
    if (m === leader) return { ...m };
    const sender = leaderNode?.replication?.find((r) => r.name === m.name);
    const streaming = sender?.state === 'streaming';
    if (leader && leaderNode && !leaderNode.error && !streaming) {
      problems.push(`${m.name} is not streaming from ${leader.name} (${sender ? `its WAL sender is ${sender.state}` : `${leader.name} has no WAL sender for it`})`);
    }
    if (typeof m.lag === 'number' && m.lag > maxLag) problems.push(`${m.name} lags ${m.lag} bytes behind, over maximum_lag_on_failover (${maxLag})`);
    if (typeof m.lag !== 'number' && leader) problems.push(`${m.name}'s lag is ${m.lag ?? 'not reported'}`);
    if (!memberRuns(m.state)) problems.push(`${m.name} is ${m.state}`);
    return { ...m, streaming: leaderNode && !leaderNode.error ? streaming : undefined };
  });

  for (const e of readings.etcd.filter((x) => !x.healthy)) problems.push(`etcd on ${e.host} is not healthy${e.error ? `: ${e.error}` : ''}`);

  const haproxy = readings.haproxy.map((h) => ({ ...h, routesTo: h.servers.filter((s) => s.status.startsWith('UP')).map((s) => s.name) }));
  for (const h of haproxy) {
    if (h.error) problems.push(`HAProxy on ${h.host} does not answer on its stats page: ${h.error}`);
    else if (h.routesTo.length === 0) problems.push(`HAProxy on ${h.host} (${h.endpoint}) sends writes to no server: ${describeServers(h.servers)}`);
    else if (h.routesTo.length > 1) problems.push(`HAProxy on ${h.host} (${h.endpoint}) sends writes to ${h.routesTo.length} servers: ${h.routesTo.join(', ')}`);
    else if (leader && h.routesTo[0] !== leader.name) problems.push(`HAProxy on ${h.host} (${h.endpoint}) sends writes to ${h.routesTo[0]}, but the leader is ${leader.name}`);
  }

  const verdict: ClusterHealth = {
    cluster: topology.cluster,
    checkedAt: checkedAt.toISOString(),
    leader: leader?.name,
    members: health,
    nodes: readings.nodes,
    etcd: readings.etcd,
    haproxy,
    maxLagBytes: maxLag,
    problems,
    healthy: problems.length === 0,
  };
  const candidate = bestCandidate(verdict);
  return candidate ? { ...verdict, candidate } : verdict;
}

function describeServers(servers: { name: string; status: string }[]): string {
  return servers.length === 0 ? 'it has none' : servers.map((s) => `${s.name} ${s.status}`).join(', ');
}

/** The replica a switchover goes to when none is named: streaming, least behind. */
export function bestCandidate(health: ClusterHealth): string | undefined {
  return health.members
    .filter((m) => m.name !== health.leader && m.streaming !== false && m.role !== 'leader')
    .sort((a, b) => (typeof a.lag === 'number' ? a.lag : Infinity) - (typeof b.lag === 'number' ? b.lag : Infinity))[0]?.name;
}
