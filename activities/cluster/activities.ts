// Reading the cluster's health from the worker, over HTTP only, as an operator would: Patroni's
// REST API on every DB node (GET /patroni and /cluster), etcd's /health on every member, and the
// stats page of every HAProxy. Also the guard that failover runbooks start with.
import { dbHosts, etcdMembers, haproxyHosts, type Topology } from '../../topology';
import type { ClusterInput, StepResult } from '../contract';
import { haproxyServers } from '../haproxy/stats';
import { etcdGet } from '../etcd/endpoint';
import { restGet } from '../patroni/rest';
import { heartbeat, withinAttempt } from '../shared/step-activity';
import { guardFailed, sleep, stepResult } from '../shared/step';
import { clusterHealth, leaderPatroniVersion, type ClusterHealth, type ClusterReadings, type MemberReading, type NodeReading } from './health';

interface PatroniStatus {
  state?: string;
  role?: string;
  timeline?: number;
  replication?: { application_name?: string; state?: string; sync_state?: string }[];
  postmaster_start_time?: string;
  pending_restart?: boolean;
  server_version?: number;
  patroni?: { version?: string };
}

/**
 * A node that does not answer within this is read as not answering: a live Patroni or etcd
 * answers in milliseconds, and every failover decision waits for the slowest read.
 */
const READ_TIMEOUT_MS = 2000;

async function readNode(topology: Topology, host: ReturnType<typeof dbHosts>[number]): Promise<NodeReading> {
  try {
    const response = await restGet(topology, host, '/patroni', READ_TIMEOUT_MS);
    // 503 is Patroni's answer on a replica (and on a node whose PostgreSQL is down): the body is the status.
    const status = JSON.parse(response.body) as PatroniStatus;
    const role = status.role === 'master' || status.role === 'primary' ? 'primary' : status.role === 'replica' ? 'replica' : 'unknown';
    return {
      host: host.name,
      role: status.state === 'running' ? role : 'unknown',
      state: status.state,
      timeline: status.timeline,
      replication: status.replication?.map((r) => ({ name: r.application_name ?? '', state: r.state ?? '', syncState: r.sync_state ?? '' })),
      ...(status.postmaster_start_time ? { postmasterStart: status.postmaster_start_time } : {}),
      ...(status.pending_restart ? { pendingRestart: true } : {}),
      ...(status.server_version ? { serverVersion: status.server_version } : {}),
      ...(status.patroni?.version ? { patroniVersion: status.patroni.version } : {}),
    };
  } catch (err) {
    return { host: host.name, role: 'unknown', error: (err as Error).message };
  }
}

/** The members as the first DB node to answer sees them: all are asked at once, so a dead one delays nothing. */
async function readMembers(topology: Topology): Promise<{ members?: MemberReading[]; from?: string }> {
  const asks = dbHosts(topology).map(async (host) => {
    const response = await restGet(topology, host, '/cluster', READ_TIMEOUT_MS);
    if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
    const members = (JSON.parse(response.body) as { members?: MemberReading[] }).members ?? [];
    return {
      from: host.name,
      members: members.map(({ name, host: address, port, role, state, timeline, lag }) => ({ name, host: address, port, role, state, timeline, lag })),
    };
  });
  return Promise.any(asks).catch(() => ({}));
}

export async function readClusterReadings(topology: Topology): Promise<ClusterReadings> {
  const [nodes, dcs, etcd, haproxy] = await Promise.all([
    Promise.all(dbHosts(topology).map((host) => readNode(topology, host))),
    readMembers(topology),
    Promise.all(
      etcdMembers(topology).map(async (member) => {
        try {
          const response = await etcdGet(topology, member, '/health', READ_TIMEOUT_MS);
          const healthy = /"health"\s*:\s*"true"/.test(response.body);
          return { host: member.name, healthy, error: healthy ? undefined : response.body.trim().slice(0, 200) };
        } catch (err) {
          return { host: member.name, healthy: false, error: (err as Error).message };
        }
      }),
    ),
    Promise.all(
      haproxyHosts(topology).map(async (host) => {
        const endpoint = `${host.address}:${topology.haproxy.postgres_port}`;
        try {
          const servers = (await haproxyServers(topology, host)).filter((s) => s.proxy === 'postgres').map((s) => ({ name: s.server, status: s.status }));
          return { host: host.name, endpoint, servers };
        } catch (err) {
          return { host: host.name, endpoint, servers: [], error: (err as Error).message };
        }
      }),
    ),
  ]);
  return { nodes, members: dcs.members, membersFrom: dcs.from, etcd, haproxy };
}

const healthyWith = (health: ClusterHealth, leader?: string) => health.healthy && (!leader || health.leader === leader);

/** The cluster's health now (`haflow list`, and every failover runbook's measurements). */
export async function readClusterHealth(input: { topology: Topology }): Promise<ClusterHealth> {
  return clusterHealth(input.topology, await readClusterReadings(input.topology), new Date());
}

/**
 * The gate every failover runbook starts with: one leader, replicas streaming with lag under the
 * limit, HAProxy on the leader; and, when the plan named it, the leader the plan was made for.
 */
export async function clusterHealthy(input: ClusterInput & { leader?: string; waitSeconds?: number }): Promise<StepResult> {
  // After a change (a switchover, a tune), the cluster may need a moment: a demoted leader
  // restarts as a replica. A gate reads once; a verification waits up to waitSeconds.
  let health = await readClusterHealth(input);
  const deadline = Date.now() + withinAttempt((input.waitSeconds ?? 0) * 1000);
  while (!input.check && !healthyWith(health, input.leader) && Date.now() < deadline) {
    heartbeat(health.problems.join('; '));
    await sleep(1000);
    health = await readClusterHealth(input);
  }
  if (health.healthy && input.leader && health.leader !== input.leader) {
    const message = `the leader of cluster ${health.cluster} is ${health.leader}, but this run was planned with ${input.leader} as the leader`;
    if (input.check) return stepResult([], message);
    throw guardFailed(message, `start it again: its plan is made for the leader at that time`);
  }
  if (health.healthy) {
    const replicas = health.members.filter((m) => m.name !== health.leader);
    const patroniVersion = leaderPatroniVersion(health);
    return stepResult([], `healthy: leader ${health.leader}, ${replicas.map((r) => `${r.name} streaming, lag ${r.lag}`).join('; ')}; HAProxy sends writes to ${health.leader}`, [], {
      leader: health.leader!,
      ...(patroniVersion ? { patroniVersion } : {}),
    });
  }
  if (input.check) return stepResult([], `not healthy now: ${health.problems.join('; ')}`);
  throw guardFailed(
    `cluster ${health.cluster} is not healthy: ${health.problems.join('; ')}`,
    `see \`haflow list ${health.cluster}\`; bring the cluster back to one leader with streaming replicas behind HAProxy, then retry`,
  );
}
