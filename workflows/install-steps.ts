// The install runbook as data: the Patroni guide's procedure (standalone and distributed
// layouts) and the tutorials' generic cluster, step by step, from bare machines to a
// healthy database tier behind HAProxy. Pure: `haflow plan` prints exactly these steps.
import type { Host, Topology } from '../topology/schema';
import { dbHosts, etcdMembers, haproxyHosts, initialLeader, initialReplicas, patroniScope } from '../topology/derive';
import type { Runbook, Step, StepGroup } from './runbook';

/** Activities the install runbook uses (activities/index.ts registers them). */
export const INSTALL_ACTIVITIES = [
  'preflightHost',
  'preflightCluster',
  'ensurePackages',
  'configureEtcdMember',
  'etcdHealthy',
  'configureHaproxy',
  'configurePatroni',
  'startPatroni',
  'waitForLeader',
  'replicaPatroniInactive',
  'configureDatabase',
  'replicaStreaming',
  'verifyWriteThroughHaproxy',
  'patroniClusterHealthy',
  'haproxyLeaderUp',
] as const;

export type InstallActivity = (typeof INSTALL_ACTIVITIES)[number];

type InstallStep = Step & { activity: InstallActivity };

/**
 * Every activity heartbeats (each SSH command and each poll does), so a worker that dies is
 * noticed within this many seconds and the step is retried on another worker.
 */
const HEARTBEAT_SECONDS = 10;

const onHost = (host: Host, step: Omit<InstallStep, 'host' | 'input'> & { input?: Record<string, unknown> }): InstallStep => ({
  heartbeatSeconds: HEARTBEAT_SECONDS,
  ...step,
  host: host.name,
  input: { host: host.name, ...step.input },
});

const group = (id: string, title: string, steps: InstallStep[]): StepGroup | InstallStep =>
  steps.length === 1 ? steps[0] : { id, title, parallel: steps };

export function installSteps(topology: Topology): Runbook {
  const leader = initialLeader(topology);
  const replicas = initialReplicas(topology);
  const dbs = dbHosts(topology);
  const members = etcdMembers(topology);
  const proxies = haproxyHosts(topology);
  const scope = patroniScope(topology);
  const hasApp = topology.app !== undefined;

  const items: Runbook['items'] = [
    group(
      'preflight',
      'Preflight on every machine',
      topology.hosts.map((host) =>
        onHost(host, {
          id: `preflight.host@${host.name}`,
          title: `Preflight on ${host.name}: SSH and host key, sudo, OS, PostgreSQL version, disk space, existing HA configuration backed up`,
          kind: 'guard',
          activity: 'preflightHost',
          guard: 'supported OS; sudo works; PostgreSQL major version allowed; enough disk for the data directory',
          timeoutSeconds: 120,
        }),
      ),
    ),
    {
      id: 'preflight.cluster',
      title: 'Same OS and PostgreSQL major version on all DB nodes, clocks within 1 s, firewall ports reachable',
      kind: 'guard',
      activity: 'preflightCluster',
      input: {},
      guard: 'identical versions on DB nodes; clocks in sync (etcd leader election depends on it); every port of the firewall matrix reachable from its source host',
      timeoutSeconds: 180,
      heartbeatSeconds: HEARTBEAT_SECONDS,
    },
    group(
      'packages',
      'Packages on every machine',
      topology.hosts.map((host) =>
        onHost(host, {
          id: `packages@${host.name}`,
          title: `Packages for ${host.roles.join(', ')} on ${host.name}; stop and disable the services Debian started on install`,
          kind: 'change',
          activity: 'ensurePackages',
          timeoutSeconds: 1800,
          heartbeatSeconds: HEARTBEAT_SECONDS,
        }),
      ),
    ),
    group(
      'etcd',
      `etcd on ${members.map((m) => m.name).join(', ')}`,
      members.map((host) =>
        onHost(host, {
          id: `etcd.member@${host.name}`,
          title: `etcd member ${host.name}: write /etc/default/etcd, enable and start`,
          kind: 'change',
          activity: 'configureEtcdMember',
          timeoutSeconds: 180,
          heartbeatSeconds: HEARTBEAT_SECONDS,
        }),
      ),
    ),
    {
      id: 'etcd.healthy',
      title: `etcd healthy on all ${members.length} member(s) before Patroni starts`,
      kind: 'guard',
      activity: 'etcdHealthy',
      input: {},
      guard: 'etcd healthy before Patroni starts',
      timeoutSeconds: 120,
      heartbeatSeconds: HEARTBEAT_SECONDS,
    },
    group(
      'haproxy',
      'HAProxy',
      proxies.map((host) =>
        onHost(host, {
          id: `haproxy.config@${host.name}`,
          title: `HAProxy on ${host.name}: back up and write haproxy.cfg, check it with haproxy -c, start or reload`,
          kind: 'change',
          activity: 'configureHaproxy',
          guard: '`haproxy -c` passes before HAProxy reloads; the existing haproxy.cfg is backed up',
          timeoutSeconds: 120,
        }),
      ),
    ),
    onHost(leader, {
      id: `patroni.config@${leader.name}`,
      title: `Patroni on the master ${leader.name}: write /etc/patroni/config.yml (etcd3) and the unit`,
      kind: 'change',
      activity: 'configurePatroni',
      timeoutSeconds: 120,
    }),
    onHost(leader, {
      id: `patroni.start@${leader.name}`,
      title: `Start Patroni on the master ${leader.name}: it bootstraps the cluster ${scope}`,
      kind: 'change',
      activity: 'startPatroni',
      timeoutSeconds: 120,
    }),
    onHost(leader, {
      id: `patroni.leader@${leader.name}`,
      title: `${leader.name} is the Patroni leader and accepts writes`,
      kind: 'verify',
      activity: 'waitForLeader',
      timeoutSeconds: 300,
      heartbeatSeconds: HEARTBEAT_SECONDS,
    }),
    ...replicas.map((host) =>
      onHost(host, {
        id: `patroni.config@${host.name}`,
        title: `Patroni on the slave ${host.name}: write /etc/patroni/config.yml and the unit, do not start it`,
        kind: 'change',
        activity: 'configurePatroni',
        timeoutSeconds: 120,
      }),
    ),
    ...replicas.map((host) =>
      onHost(host, {
        id: `patroni.replica-inactive@${host.name}`,
        title: `Patroni is inactive on the slave ${host.name} until DB configuration`,
        kind: 'guard',
        activity: 'replicaPatroniInactive',
        guard: 'Patroni on the replica stays inactive until DB configuration: starting it early causes split-brain',
        timeoutSeconds: 120,
      }),
    ),
    ...(hasApp
      ? [
          onHost(leader, {
            id: `db.config@${leader.name}`,
            title: `DB configuration on the master ${leader.name}: the application's database user and password, reload and restart Patroni members`,
            kind: 'change',
            activity: 'configureDatabase',
            timeoutSeconds: 300,
            heartbeatSeconds: HEARTBEAT_SECONDS,
          }),
        ]
      : []),
    ...replicas.map((host) =>
      onHost(host, {
        id: `patroni.start@${host.name}`,
        title: `${hasApp ? 'DB configuration on the slave' : 'Start the replica'} ${host.name}: start Patroni, it clones the leader`,
        kind: 'change',
        activity: 'startPatroni',
        timeoutSeconds: 120,
      }),
    ),
    ...replicas.map((host) =>
      onHost(host, {
        id: `patroni.streaming@${host.name}`,
        title: `${host.name} streams from the leader with lag under ${topology.patroni.maximum_lag_on_failover} bytes`,
        kind: 'verify',
        activity: 'replicaStreaming',
        timeoutSeconds: 600,
        heartbeatSeconds: HEARTBEAT_SECONDS,
      }),
    ),
    ...proxies.map((host) =>
      onHost(host, {
        id: `verify.write@${host.name}`,
        title: `A write through HAProxy on ${host.name}:${topology.haproxy.postgres_port} lands on the leader and is readable on every replica`,
        kind: 'verify',
        activity: 'verifyWriteThroughHaproxy',
        timeoutSeconds: 180,
        heartbeatSeconds: HEARTBEAT_SECONDS,
      }),
    ),
    {
      id: 'verify.cluster',
      title: `Patroni cluster ${scope}: one leader, ${dbs.length - 1} streaming replica(s)`,
      kind: 'verify',
      activity: 'patroniClusterHealthy',
      input: {},
      timeoutSeconds: 120,
      heartbeatSeconds: HEARTBEAT_SECONDS,
    },
    ...proxies.map((host) =>
      onHost(host, {
        id: `verify.haproxy@${host.name}`,
        title: `HAProxy on ${host.name} sends writes to exactly one server, the leader (stats on port ${topology.haproxy.stats_port})`,
        kind: 'verify',
        activity: 'haproxyLeaderUp',
        timeoutSeconds: 120,
        heartbeatSeconds: HEARTBEAT_SECONDS,
      }),
    ),
  ];
  return { name: 'install', cluster: topology.cluster, items };
}
