// A running cluster installed without TLS moved to TLS on every plane by `haflow install` with
// the topology that asks for it, the cluster taking writes throughout. Pure: the install's steps
// (runbooks/install.ts) with the move's between the certificates and the install's etcd steps:
//
//   1. Patroni paused: no failover, no demotion when etcd is out of reach, PostgreSQL left running
//      when Patroni stops. etcd 3.4 cannot serve plain and TLS clients on one port, and Patroni
//      changes etcd's scheme only by restarting, so for a while it cannot reach etcd.
//   2. HAProxy's check of the leader held (disable health): Patroni's REST API, which the check
//      asks, restarts and comes back over HTTPS.
//   3. Each etcd member's peer URL made https, then the member restarted on TLS, one at a time.
//   4. Patroni restarted on TLS, the leader first (its PostgreSQL turns ssl on by reload before a
//      replica asks for verify-full), pg_hba still accepting plain text.
//   5. HAProxy reloaded with checks over HTTPS, the hold released, the leader UP in it.
//   6. Patroni resumed. The install's own steps then find every plane on TLS and, on the way,
//      turn pg_hba's `host` lines into `hostssl` (a reload).
import type { Topology } from '../topology/schema';
import { dbHosts, etcdMembers, haproxyHosts, haproxySettleSeconds } from '../topology/derive';
import { group, installSteps, onCluster, onHost } from './install';
import type { Runbook } from './runbook';

export interface TlsMoveArgs {
  /** The leader when the move was planned: its Patroni restarts first. */
  leader: string;
}

export function tlsMoveSteps(topology: Topology, args: TlsMoveArgs): Runbook {
  if (!topology.tls) throw new Error(`cluster ${topology.cluster}: the topology has no tls section; a move to TLS needs the topology that asks for TLS`);
  const proxies = haproxyHosts(topology);
  const dbs = dbHosts(topology);
  const leaderFirst = [...dbs.filter((h) => h.name === args.leader), ...dbs.filter((h) => h.name !== args.leader)];
  const move: Runbook['items'] = [
    onCluster('pausePatroni', {
      id: 'tls.pause',
      title: 'Patroni paused (maintenance mode): no failover and no demotion while etcd and Patroni restart on TLS; PostgreSQL keeps running',
      kind: 'change',
      timeoutSeconds: 120,
    }),
    ...group(
      'tls.holds',
      "HAProxy keeps sending writes to the leader while Patroni's REST API restarts",
      proxies.map((host) =>
        onHost(host, 'holdLeaderCheck', {
          id: `tls.hold@${host.name}`,
          title: `HAProxy on ${host.name}: the leader's check held (disable health), so it stays UP until HAProxy reloads with checks over HTTPS`,
          kind: 'change',
          timeoutSeconds: 60,
        }),
      ),
    ),
    ...etcdMembers(topology).map((member) =>
      onHost(member, 'moveEtcdMemberToTls', {
        id: `tls.etcd@${member.name}`,
        title: `etcd member ${member.name}: peer URL https (etcdctl member update), settings with TLS, restarted, healthy over HTTPS before the next`,
        kind: 'change',
        timeoutSeconds: 180,
      }),
    ),
    ...leaderFirst.map((host) =>
      onHost(host, 'restartPatroniPaused', {
        id: `tls.patroni@${host.name}`,
        title: `Patroni on ${host.name}${host.name === args.leader ? ' (the leader, first)' : ''} restarted on TLS while paused: etcd and its REST API over HTTPS, PostgreSQL's ssl on by reload, pg_hba still accepting plain text; PostgreSQL keeps running`,
        kind: 'change',
        timeoutSeconds: 180,
      }),
    ),
    ...proxies.map((host) =>
      onHost(host, 'configureHaproxy', {
        id: `tls.haproxy@${host.name}`,
        title: `HAProxy on ${host.name}: haproxy.cfg with checks over HTTPS (verified with the cluster's CA), checked with haproxy -c, reloaded with the servers' states (the leader still held)`,
        kind: 'change',
        timeoutSeconds: 120,
      }),
    ),
    ...proxies.map((host) =>
      onHost(host, 'releaseLeaderCheck', {
        id: `tls.release@${host.name}`,
        title: `HAProxy on ${host.name}: the leader's check on again (enable health), over HTTPS now`,
        kind: 'change',
        timeoutSeconds: 60,
      }),
    ),
    ...proxies.map((host) =>
      onHost(host, 'haproxyLeaderUp', {
        id: `tls.haproxy-leader@${host.name}`,
        title: `HAProxy on ${host.name} sends writes to the leader alone, checked over HTTPS`,
        kind: 'verify',
        timeoutSeconds: Math.max(120, haproxySettleSeconds(topology) + 30),
      }),
    ),
    onCluster('resumePatroni', {
      id: 'tls.resume',
      title: 'Patroni resumed: it fails over again, through etcd over TLS',
      kind: 'change',
      timeoutSeconds: 120,
    }),
  ];
  // The install's steps after the move address the leader the cluster has, which may not be the one it was installed with.
  const asRunning = { ...topology, patroni: { ...topology.patroni, initial_leader: args.leader } };
  return installSteps(asRunning, { movingToTls: true, beforeEtcd: move });
}
