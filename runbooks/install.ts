// The install runbook as data: the Patroni guide's procedure (standalone and distributed
// layouts) and the tutorials' generic cluster, step by step, from bare machines to a
// healthy database tier behind HAProxy. Pure: `haflow plan` prints exactly these steps, and
// the client hands exactly these to the install workflow.
import type { Host, Topology } from '../topology/schema';
import { caBundleHosts, certificateHosts } from '../topology/tls';
import { appDatabaseProxy, appHosts, backupHost, backupStanza, restoreHosts, appMaster, appSlaves, dbHosts, etcdMembers, haproxyHosts, haproxySettleSeconds, initialLeader, initialReplicas, patroniScope } from '../topology/derive';
import type { ActivityName } from './activities';
import { isGroup, stepOf, type Runbook, type Step, type StepGroup, type StepLane } from './runbook';

/**
 * Every activity heartbeats (each SSH command and each poll does), so a worker that dies is
 * noticed within this many seconds and the step is retried on another worker.
 */
const HEARTBEAT_SECONDS = 10;

type HostActivity = Extract<ActivityName, 'configureBackup' | 'configureStreamingPrimary' | 'configureStreamingStandby' | 'standbyStreaming' | 'verifyStreamingWrite' | 'slaveAppStandby' | 'syncAppFiles' | 'prepareHaDir' | 'configureAppConfig' | 'slaveNginxInactive' | 'masterAppServing' | 'appHealthyThroughHaproxy' | 'preflightHost' | 'ensurePackages' | 'moveEtcdMemberToTls' | 'restartPatroniPaused' | 'holdLeaderCheck' | 'releaseLeaderCheck' | 'ensureHostCertificate' | 'configureEtcdMember' | 'ensureEtcdAuth' | 'configureHaproxy' | 'configurePatroni' | 'startPatroni' | 'waitForLeader' | 'replicaPatroniInactive' | 'configureDatabase' | 'replicaStreaming' | 'verifyWriteThroughHaproxy' | 'haproxyLeaderUp'>;
type ClusterActivity = Extract<ActivityName, 'ensureBackupAccess' | 'createBackupStanza' | 'takeBackup' | 'pausePatroni' | 'resumePatroni' | 'ensureCertificateAuthority' | 'holdAppMonitor' | 'startAppMonitor' | 'monitorSshUserNotRoot' | 'preflightCluster' | 'etcdHealthy' | 'patroniClusterHealthy' | 'ensureDynamicConfig'>;
type Fields = Omit<Step, 'activity' | 'input' | 'host'>;

/** A step on one host: its activity gets the host's name. */
export const onHost = (host: Host, activity: HostActivity, fields: Fields): Step =>
  stepOf(activity, { heartbeatSeconds: HEARTBEAT_SECONDS, ...fields, host: host.name }, { host: host.name });

/** A step about the whole cluster. */
export const onCluster = (activity: ClusterActivity, fields: Fields): Step =>
  stepOf(activity, { heartbeatSeconds: HEARTBEAT_SECONDS, ...fields }, {});

/** Steps with no order between them: nothing when there are none, the step alone when one, else a group. */
export const group = (id: string, title: string, steps: Step[]): (StepGroup | Step)[] =>
  steps.length <= 1 ? steps : [{ id, title, parallel: steps }];

/** A tier's items in its own order, for atOnce. */
const lane = (id: string, title: string, items: Runbook['items']): StepLane => ({ id, title, lane: items });

/**
 * Tiers with no order between them, run at once, each in its own order. A tier with nothing to
 * do is left out, a tier of one step is that step, and a single tier is just its items.
 */
function atOnce(id: string, title: string, tiers: StepLane[]): Runbook['items'] {
  const busy = tiers.filter((t) => t.lane.length > 0);
  if (busy.length <= 1) return busy.flatMap((t) => t.lane);
  return [{ id, title, parallel: busy.map((t) => (t.lane.length === 1 && !isGroup(t.lane[0]) ? t.lane[0] : t)) }];
}

/**
 * The guide's application steps (standalone: steps 5 and 6 before the DB configuration;
 * distributed: steps 7 and 8 after it; the install runs them beside the database tier, as
 * neither needs the other), with the checks of its troubleshooting section.
 */
export function appConfigSteps(topology: Topology): Runbook['items'] {
  const app = topology.app!;
  const apps = appHosts(topology);
  const master = appMaster(topology)!;
  // Classic: each node's application uses its own PostgreSQL; otherwise the observer's HAProxy.
  const database =
    topology.layout === 'classic' ? `its own PostgreSQL (port ${topology.postgresql.port})` : `${appDatabaseProxy(topology).name}:${topology.haproxy.postgres_port}`;
  return [
    onCluster('monitorSshUserNotRoot', {
      id: 'app.monitor-user',
      title: `The application monitor reaches the application nodes as a normal user, not root`,
      kind: 'guard',
      guard: 'the guide runs its Application HA Observer as a normal user: "Do not use root or sudo"',
      timeoutSeconds: 60,
    }),
    ...group(
      'app.ha-dirs',
      `${app.ha_dir} on the application nodes`,
      apps.map((host) =>
        onHost(host, 'prepareHaDir', {
          id: `app.ha-dir@${host.name}`,
          title: `${app.ha_dir} on ${host.name}: an earlier HA configuration backed up, then removed; owned by ${app.user}`,
          kind: 'guard',
          guard: `${app.ha_dir} owned by the common sudo user on every app node (chown -R ${app.user}:${app.user} ${app.ha_dir}); an old HA configuration is backed up before it is removed`,
          timeoutSeconds: 120,
        }),
      ),
    ),
    ...[master, ...appSlaves(topology)].map((host) =>
      onHost(host, 'configureAppConfig', {
        id: `app.config@${host.name}`,
        title: `Application configuration on the ${host.name === master.name ? 'master' : 'slave'} ${host.name}: ${app.config_files.length} file(s) point at ${database} with the application's DB password`,
        kind: 'change',
        timeoutSeconds: 180,
      }),
    ),
    ...appSlaves(topology).map((host) =>
      onHost(host, 'slaveNginxInactive', {
        id: `app.slave-nginx@${host.name}`,
        title: `${app.nginx_service} inactive and disabled on the slave application node ${host.name}`,
        kind: 'guard',
        guard: `an active ${app.nginx_service} on the slave causes routing conflicts with the observer (systemctl stop ${app.nginx_service}; systemctl disable ${app.nginx_service})`,
        timeoutSeconds: 60,
      }),
    ),
    ...(app.sync_dirs.length > 0
      ? appSlaves(topology).map((host) =>
          onHost(host, 'syncAppFiles', {
            id: `app.sync@${host.name}`,
            title: `File sync from ${master.name} to ${host.name} of ${app.sync_dirs.join(', ')}: rsync over SSH with a key of the master's own, the first full sync verified by checksums`,
            kind: 'change',
            timeoutSeconds: 1800,
          }),
        )
      : []),
  ];
}

/** The application serving on its master, and answering through the observer's HAProxy. */
export function appServingSteps(topology: Topology): Runbook['items'] {
  return [...appStartSteps(topology), ...appVerifySteps(topology)];
}

/** The application started: serving on its master, on standby on each slave (one step per node, no order between them). */
function appStartSteps(topology: Topology): Step[] {
  const app = topology.app!;
  const master = appMaster(topology)!;
  return [
    onHost(master, 'masterAppServing', {
      id: `app.serving@${master.name}`,
      title: `${app.service} and ${app.nginx_service} run on the master application node ${master.name}`,
      kind: 'change',
      timeoutSeconds: 120,
    }),
    ...appSlaves(topology).map((host) =>
      onHost(host, 'slaveAppStandby', {
        id: `app.standby@${host.name}`,
        title: `${app.service} runs on the slave ${host.name}, ready for a failover (nginx stays off)`,
        kind: 'change',
        timeoutSeconds: 120,
      }),
    ),
  ];
}

/** The application answering through each HAProxy, from its master only. */
function appVerifySteps(topology: Topology): Step[] {
  const app = topology.app!;
  const master = appMaster(topology)!;
  return [
    ...haproxyHosts(topology).map((host) =>
      onHost(host, 'appHealthyThroughHaproxy', {
        id: `verify.app@${host.name}`,
        title: `The application answers ${app.health_path} with 200 through HAProxy on ${host.name}:${topology.haproxy.app_http_port}${topology.haproxy.tls ? ` and HTTPS on ${topology.haproxy.tls.port}` : ''}, from the master ${master.name} only`,
        kind: 'verify',
        timeoutSeconds: Math.max(120, haproxySettleSeconds(topology) + 60),
      }),
    ),
  ];
}

/**
 * The end of a run on the application tier: the application monitor released, or started when
 * none runs (unless app.monitor.autostart is false), as the guide's setup ends with it running.
 */
export function monitorStartSteps(topology: Topology): Runbook['items'] {
  const autostart = topology.app?.monitor.autostart !== false;
  return [
    onCluster('startAppMonitor', {
      id: 'app.monitor',
      title: autostart
        ? 'The application monitor watches the master application from now on: started (haflow monitor start) unless one runs, which is released'
        : 'A running application monitor is released (app.monitor.autostart is false: none is started)',
      kind: 'change',
      timeoutSeconds: 60,
    }),
  ];
}

/**
 * Patroni's dynamic configuration as the topology says it (the install, tune, the migration):
 * config.yml's bootstrap section counts only when a cluster is created, so it is PATCHed where it differs.
 */
export function dynamicConfigStep(topology: Topology): Step {
  const p = topology.patroni;
  return onCluster('ensureDynamicConfig', {
    id: 'patroni.dynamic-config',
    title: `Patroni's dynamic configuration: ttl ${p.ttl}, loop_wait ${p.loop_wait}, retry_timeout ${p.retry_timeout}, synchronous_mode ${p.synchronous_mode} (PATCH /config where it differs)`,
    kind: 'change',
    timeoutSeconds: 60,
  });
}

/**
 * The gate of an install with an application tier, right after preflight and before anything
 * changes: the application master the topology names is the one the nodes recorded and a running
 * application monitor sees, and that monitor holds its failovers until the install ends.
 */
export function monitorHoldSteps(topology: Topology): Runbook['items'] {
  if (!topology.app) return [];
  const master = appMaster(topology)!;
  return [
    onCluster('holdAppMonitor', {
      id: 'app.monitor-hold',
      title: `Gate: ${master.name} is the application master as the nodes recorded it and as a running application monitor sees it; that monitor holds its failovers until this install ends`,
      kind: 'guard',
      guard: 'the cluster is changed only with the application master it runs on, and never while the application monitor fails it over',
      timeoutSeconds: 360,
    }),
  ];
}

/**
 * Preflight on every machine and across them, then each machine's packages: every layout starts
 * so. `gates`: what must hold before anything changes (an install's hold of the application monitor).
 */
export function preparationSteps(topology: Topology, gates: Runbook['items'] = [], options: { movingToTls?: boolean } = {}): Runbook['items'] {
  return [
    ...group(
      'preflight.hosts',
      'Preflight on every machine',
      topology.hosts.map((host) =>
        stepOf('preflightHost', {
          heartbeatSeconds: HEARTBEAT_SECONDS,
          host: host.name,
          id: `preflight.host@${host.name}`,
          title: `Preflight on ${host.name}: SSH and host key, sudo, OS, PostgreSQL version, disk space, existing HA configuration backed up`,
          kind: 'guard',
          guard: 'supported OS; sudo works; PostgreSQL major version allowed; enough disk for the data directory',
          timeoutSeconds: 120,
        }, { host: host.name, ...(options.movingToTls ? { movingToTls: true } : {}) }),
      ),
    ),
    onCluster('preflightCluster', {
      id: 'preflight.cluster',
      title: 'Same OS and PostgreSQL major version on all DB nodes, clocks within 1 s, firewall ports reachable',
      kind: 'guard',
      guard: 'identical versions on DB nodes; clocks in sync (etcd leader election depends on it); every port of the firewall matrix reachable from its source host',
      timeoutSeconds: 180,
    }),
    ...gates,
    ...group(
      'packages.hosts',
      'Packages on every machine',
      topology.hosts.map((host) =>
        onHost(host, 'ensurePackages', {
          id: `packages.install@${host.name}`,
          title: topology.packages
            ? `Packages for ${host.roles.join(', ')} on ${host.name} from the offline bundle (uploaded, checksums verified, installed from the local files, versions checked); stop and disable the services Debian started on install`
            : `Packages for ${host.roles.join(', ')} on ${host.name}; stop and disable the services Debian started on install`,
          kind: 'change',
          timeoutSeconds: 1800,
        }),
      ),
    ),
    ...certificateSteps(topology),
  ];
}

/**
 * With TLS: the cluster's CA on the worker, then each host's CA bundle, key and certificate, before
 * any service is configured to use them. The CA bundle goes to every host (each is a client of
 * some plane); the key and certificate to the hosts that serve TLS.
 */
export function certificateSteps(topology: Topology): Runbook['items'] {
  if (!topology.tls) return [];
  const site = topology.tls.site !== undefined;
  return [
    onCluster('ensureCertificateAuthority', {
      id: 'tls.ca',
      title: site ? `The site's CA bundle (${topology.tls.site!.ca_bundle}) is on this worker` : "The cluster's certificate authority on the worker (created when there is none)",
      kind: 'change',
      timeoutSeconds: 60,
    }),
    ...group(
      'tls.hosts',
      'The CA bundle on every host, a certificate on each that serves TLS',
      caBundleHosts(topology).map((host) =>
        onHost(host, 'ensureHostCertificate', {
          id: `tls.certificate@${host.name}`,
          title: !certificateHosts(topology).some((h) => h.name === host.name)
            ? `${host.name}: the CA bundle (its clients verify the servers with it)`
            : site
              ? `${host.name}: the CA bundle, and the site's certificate and key (0600, one copy per service user)`
              : `${host.name}: the CA bundle, a key made on ${host.name} (it never leaves it) and a certificate for it from the cluster's CA`,
          kind: 'change',
          timeoutSeconds: 120,
        }),
      ),
    ),
  ];
}

/** etcd on its members, healthy, and (when asked) with client authentication: before Patroni starts. */
export function etcdSteps(topology: Topology): Runbook['items'] {
  const members = etcdMembers(topology);
  return [
    ...group(
      'etcd.members',
      `etcd on ${members.map((m) => m.name).join(', ')}`,
      members.map((host) =>
        onHost(host, 'configureEtcdMember', {
          id: `etcd.member@${host.name}`,
          title: `etcd member ${host.name}: write /etc/default/etcd, enable and start`,
          kind: 'change',
          timeoutSeconds: 180,
        }),
      ),
    ),
    onCluster('etcdHealthy', {
      id: 'etcd.healthy',
      title: `etcd healthy on all ${members.length} member(s) before Patroni starts`,
      kind: 'guard',
      guard: 'etcd healthy before Patroni starts',
      timeoutSeconds: 120,
    }),
    ...(topology.etcd.auth
      ? [
          onHost(members[0], 'ensureEtcdAuth', {
            id: `etcd.auth@${members[0].name}`,
            title: `etcd asks clients to log in: root and ${topology.etcd.auth.username} (read-write on ${topology.patroni.namespace} only), then authentication on`,
            kind: 'change',
            timeoutSeconds: 120,
          }),
        ]
      : []),
  ];
}

/**
 * With backups: pgBackRest configured on the repository host and every DB node, and their SSH
 * trust both ways. Needs only the packages, so it runs beside etcd and Patroni.
 */
export function backupSetupSteps(topology: Topology): Runbook['items'] {
  const repository = backupHost(topology);
  if (!repository) return [];
  const hosts = [repository, ...dbHosts(topology), ...restoreHosts(topology)];
  return [
    ...group(
      'backup.hosts',
      'pgBackRest on the repository host and the DB nodes',
      hosts.map((host) =>
        onHost(host, 'configureBackup', {
          id: `backup.config@${host.name}`,
          title:
            host.name === repository.name
              ? `pgBackRest's repository on ${host.name}: its user, ${topology.backup!.repository_path}, /etc/pgbackrest.conf (encrypted, retention) and an SSH key of its own`
              : host.roles.includes('db')
                ? `pgBackRest on ${host.name}: /etc/pgbackrest.conf (the repository on ${repository.name}, asynchronous archiving) and an SSH key of its own`
                : `pgBackRest on the restore host ${host.name}: /etc/pgbackrest.conf (restores from ${repository.name} into ${topology.backup!.restore_dir}) and an SSH key of its own`,
          kind: 'change',
          timeoutSeconds: 120,
        }),
      ),
    ),
    onCluster('ensureBackupAccess', {
      id: 'backup.access',
      title: `${repository.name} and the DB nodes accept each other's pgBackRest key (from each other's address only), with host keys from this worker's known_hosts; a login each way proves it`,
      kind: 'change',
      timeoutSeconds: 180,
    }),
  ];
}

/** With backups, once the cluster streams: the stanza, the archive checked, and a first full backup when the repository holds none. */
export function backupStartSteps(topology: Topology): Runbook['items'] {
  const repository = backupHost(topology);
  if (!repository) return [];
  return [
    onCluster('createBackupStanza', {
      id: 'backup.stanza',
      title: `The stanza ${backupStanza(topology)} in the repository on ${repository.name}, and the leader's WAL archived to it (pgbackrest check)`,
      kind: 'change',
      timeoutSeconds: 300,
    }),
    stepOf('takeBackup', { heartbeatSeconds: HEARTBEAT_SECONDS, id: 'backup.first', title: `A first full backup${topology.backup!.from_standby ? ' from a streaming replica' : ''}, unless the repository holds one`, kind: 'change', timeoutSeconds: 4 * 3600 }, { type: 'full', firstOnly: true }),
  ];
}

/**
 * What an install adds to its steps when it moves a running cluster from plain text to TLS
 * (runbooks/tls-move.ts): preflight expects etcd on http, and the move's steps run after the
 * certificates are on the hosts and before the install's own etcd steps.
 */
export interface InstallOptions {
  movingToTls?: boolean;
  beforeEtcd?: Runbook['items'];
}

export function installSteps(topology: Topology, options: InstallOptions = {}): Runbook {
  const leader = initialLeader(topology);
  const replicas = initialReplicas(topology);
  const dbs = dbHosts(topology);
  const proxies = haproxyHosts(topology);
  const scope = patroniScope(topology);
  const hasApp = topology.app !== undefined;
  const appTier = hasApp && appHosts(topology).length > 0;

  const items: Runbook['items'] = [
    ...preparationSteps(topology, monitorHoldSteps(topology), { movingToTls: options.movingToTls }),
    ...(options.beforeEtcd ?? []),
    // The guide's order holds within each tier; between tiers only where one needs another:
    // Patroni needs etcd, the replicas start after the DB configuration (the split-brain guard),
    // the application starts once its database user exists, the checks through HAProxy come last.
    ...atOnce('install.tiers', "etcd and Patroni, HAProxy and the application's files, at once", [
      lane('install.database', "etcd, then Patroni on the master (it bootstraps the cluster), then Patroni's settings on the slaves", [
        ...etcdSteps(topology),
        onHost(leader, 'configurePatroni', {
          id: `patroni.config@${leader.name}`,
          title: `Patroni on the master ${leader.name}: write /etc/patroni/config.yml (etcd3) and the unit`,
          kind: 'change',
          timeoutSeconds: 120,
        }),
        onHost(leader, 'startPatroni', {
          id: `patroni.start@${leader.name}`,
          title: `Start Patroni on the master ${leader.name}: it bootstraps the cluster ${scope}`,
          kind: 'change',
          timeoutSeconds: 120,
        }),
        onHost(leader, 'waitForLeader', {
          id: `patroni.leader@${leader.name}`,
          title: `${leader.name} is the Patroni leader and accepts writes`,
          kind: 'verify',
          timeoutSeconds: 300,
        }),
        dynamicConfigStep(topology),
        // Only now, with the cluster bootstrapped: a slave's Patroni started early by anything
        // would join it as a replica, not bootstrap a second cluster (the guide's split-brain warning).
        ...group(
          'patroni.replica-configs',
          "Patroni's settings on the slaves",
          replicas.map((host) =>
            onHost(host, 'configurePatroni', {
              id: `patroni.config@${host.name}`,
              title: `Patroni on the slave ${host.name}: write /etc/patroni/config.yml and the unit, do not start it`,
              kind: 'change',
              timeoutSeconds: 120,
            }),
          ),
        ),
        ...group(
          'patroni.replicas-inactive',
          'Patroni inactive on the slaves',
          replicas.map((host) =>
            onHost(host, 'replicaPatroniInactive', {
              id: `patroni.replica-inactive@${host.name}`,
              title: `Patroni is inactive on the slave ${host.name} until DB configuration`,
              kind: 'guard',
              guard: 'Patroni on the replica stays inactive until DB configuration: starting it early causes split-brain',
              timeoutSeconds: 120,
            }),
          ),
        ),
      ]),
      lane('install.proxies', 'HAProxy', [
        ...group(
          'haproxy.hosts',
          'HAProxy',
          proxies.map((host) =>
            onHost(host, 'configureHaproxy', {
              id: `haproxy.config@${host.name}`,
              title: `HAProxy on ${host.name}: back up and write haproxy.cfg, check it with haproxy -c, start or reload`,
              kind: 'change',
              guard: '`haproxy -c` passes before HAProxy reloads; the existing haproxy.cfg is backed up',
              timeoutSeconds: 120,
            }),
          ),
        ),
      ]),
      lane('install.app-files', "The application's configuration and files", appTier ? appConfigSteps(topology) : []),
      lane('install.backup', 'pgBackRest on the repository host and the DB nodes', backupSetupSteps(topology)),
    ]),
    ...(hasApp
      ? [
          onHost(leader, 'configureDatabase', {
            id: `db.config@${leader.name}`,
            title: `DB configuration on the master ${leader.name}: the application's database user and password, reload and restart Patroni members`,
            kind: 'change',
            timeoutSeconds: 300,
          }),
        ]
      : []),
    // The application reaches its database through HAProxy's leader, so it need not wait for the replicas' clones.
    ...atOnce('install.start', 'The slaves clone the leader while the application starts', [
      lane('install.replicas', 'The slaves start Patroni, clone the leader and stream', [
        ...group(
          'patroni.replica-starts',
          'Patroni started on the slaves',
          replicas.map((host) =>
            onHost(host, 'startPatroni', {
              id: `patroni.start@${host.name}`,
              title: `${hasApp ? 'DB configuration on the slave' : 'Start the replica'} ${host.name}: start Patroni, it clones the leader`,
              kind: 'change',
              timeoutSeconds: 120,
            }),
          ),
        ),
        ...group(
          'patroni.replicas-streaming',
          'The slaves stream',
          replicas.map((host) =>
            onHost(host, 'replicaStreaming', {
              id: `patroni.streaming@${host.name}`,
              title: `${host.name} streams from the leader with lag under ${topology.patroni.maximum_lag_on_failover} bytes`,
              kind: 'verify',
              timeoutSeconds: 600,
            }),
          ),
        ),
      ]),
      lane('install.app-start', 'The application starts and answers through HAProxy', appTier ? [...group('app.starts', 'The application on its nodes', appStartSteps(topology)), ...group('verify.apps', 'The application through HAProxy', appVerifySteps(topology))] : []),
    ]),
    ...proxies.map((host) =>
      onHost(host, 'verifyWriteThroughHaproxy', {
        id: `verify.write@${host.name}`,
        title: `A write through HAProxy on ${host.name}:${topology.haproxy.postgres_port} lands on the leader and is readable on every replica`,
        kind: 'verify',
        timeoutSeconds: 180,
      }),
    ),
    ...backupStartSteps(topology),
    onCluster('patroniClusterHealthy', {
      id: 'verify.cluster',
      title: `Patroni cluster ${scope}: one leader, ${dbs.length - 1} streaming replica(s)`,
      kind: 'verify',
      timeoutSeconds: 120,
    }),
    ...proxies.map((host) =>
      onHost(host, 'haproxyLeaderUp', {
        id: `verify.haproxy@${host.name}`,
        title: `HAProxy on ${host.name} sends writes to exactly one server, the leader (stats on port ${topology.haproxy.stats_port})`,
        kind: 'verify',
        // Slow checks (large inter, fall, rise) take longer to agree with Patroni.
        timeoutSeconds: Math.max(120, haproxySettleSeconds(topology) + 30),
      }),
    ),
    ...(appTier ? monitorStartSteps(topology) : []),
  ];
  return { name: 'install', cluster: topology.cluster, items };
}
