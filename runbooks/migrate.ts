// The migration from the classic layout to Patroni as data: the classic cluster checked and its
// application monitor stopped, every machine prepared and backed up, etcd started, then PostgreSQL handed
// to Patroni where it runs (the primary first: Patroni takes it as it is, and one restart through
// Patroni is the only write pause), HAProxy's write endpoint, and the application pointed at it.
// The steps run on the Patroni topology, whose machines are the classic ones. Until the primary's
// handover every step leaves the classic cluster serving as it was; after it, the database
// serves under Patroni while the rest follows. Pure: `haflow migrate --plan` prints these steps.
import { appHosts, appMaster, classicCluster, dbHosts, haproxyHosts } from '../topology/derive';
import type { Host, Topology } from '../topology/schema';
import { appServingSteps, dynamicConfigStep, etcdSteps, monitorStartSteps, preparationSteps } from './install';
import { stepOf, type Runbook, type Step, type StepGroup } from './runbook';

export interface MigrateArgs {
  /** The classic topology's cluster name: its application monitor is stopped first. */
  classicCluster: string;
  /** The classic primary (app.master of both topologies): Patroni's first leader. */
  master: string;
}


const PATRONI_LAYOUTS = ['standalone', 'distributed', 'patroni'];

const describeHosts = (hosts: Host[]) => hosts.map((h) => `${h.name} (${h.address})`).sort().join(', ') || 'none';

/**
 * Why `classic` cannot be migrated to `patroni`, one sentence each naming the field (empty: it
 * can). The Patroni topology describes the same machines with the same roles, and Patroni adopts
 * the classic data directory in place, with the same PostgreSQL and the same users.
 */
export interface MigrationProblem {
  /** The field of the Patroni topology to change (dotted path). */
  field: string;
  message: string;
}

export function migrationProblems(classic: Topology, patroni: Topology): MigrationProblem[] {
  const problems: MigrationProblem[] = [];
  const problem = (field: string, message: string) => problems.push({ field, message });
  if (classic.layout !== 'classic') problem('layout', `the first topology (cluster ${classic.cluster}) has layout: ${classic.layout}; the migration starts from layout: classic`);
  if (!PATRONI_LAYOUTS.includes(patroni.layout)) problem('layout', `the second topology (cluster ${patroni.cluster}) has layout: ${patroni.layout}; the migration moves to a Patroni layout (${PATRONI_LAYOUTS.join(', ')})`);
  const sameHosts = (what: string, of: (t: Topology) => Host[]) => {
    const before = describeHosts(of(classic));
    const after = describeHosts(of(patroni));
    if (before !== after) problem('hosts', `the ${what} differ: ${before} in ${classic.cluster}, ${after} in ${patroni.cluster}; the migration keeps the same machines (add or move machines after it)`);
  };
  sameHosts('DB hosts (role db)', dbHosts);
  sameHosts('application hosts (role app)', appHosts);
  sameHosts('HAProxy hosts (role haproxy)', haproxyHosts);
  const dataDir = classicCluster(classic).dataDir;
  if (patroni.postgresql.data_dir.replace(/\/+$/, '') !== dataDir) {
    problem('postgresql.data_dir', `${patroni.postgresql.data_dir} in ${patroni.cluster}; Patroni takes over the classic cluster's data in place: set postgresql.data_dir: ${dataDir}`);
  }
  const same = (field: string, a: unknown, b: unknown) => {
    if (a !== b) problem(field, `${String(a)} in ${classic.cluster}, ${String(b)} in ${patroni.cluster}; the migration keeps it: set the same in both`);
  };
  same('postgresql.version', classic.postgresql.version, patroni.postgresql.version);
  same('postgresql.port', classic.postgresql.port, patroni.postgresql.port);
  same('postgresql.superuser.username', classic.postgresql.superuser.username, patroni.postgresql.superuser.username);
  same('postgresql.replication.username', classic.postgresql.replication.username, patroni.postgresql.replication.username);
  if (!classic.app !== !patroni.app) problem('app', `${classic.app ? 'set' : 'absent'} in ${classic.cluster}, ${patroni.app ? 'set' : 'absent'} in ${patroni.cluster}; the migration keeps the application tier as it is`);
  if (classic.app && patroni.app) {
    same('app.master', appMaster(classic)?.name, appMaster(patroni)?.name);
    same('app.db_user', classic.app.db_user, patroni.app.db_user);
    same('app.db_name', classic.app.db_name, patroni.app.db_name);
  }
  return problems;
}

export function migrateSteps(topology: Topology, args: MigrateArgs): Runbook {
  const hb = { heartbeatSeconds: 10 };
  const dbs = dbHosts(topology);
  const master = dbs.find((h) => h.name === args.master);
  if (!master) throw new Error(`migrate: the master ${args.master} is not a DB host of cluster ${topology.cluster}`);
  const standbys = dbs.filter((h) => h.name !== master.name);
  const proxies = haproxyHosts(topology);
  const { version } = classicCluster(topology);
  const apps = appHosts(topology);
  const appMasterHost = appMaster(topology);
  const on = (host: Host) => ({ ...hb, host: host.name });
  const parallel = (id: string, title: string, steps: Step[]): StepGroup | Step => (steps.length === 1 ? steps[0] : { id, title, parallel: steps });

  const items: Runbook['items'] = [
    stepOf(
      'classicSourceReady',
      { ...on(master), id: `migrate.source@${master.name}`, title: `Gate: ${master.name} runs PostgreSQL ${version}/main as the classic cluster's primary, not fenced; ${standbys.map((s) => s.name).join(', ') || 'no standby'} stream(s) from it`, kind: 'guard', guard: 'the migration starts from a healthy classic cluster, with the primary it was planned for', timeoutSeconds: 120 },
      { host: master.name, standbys: standbys.map((s) => s.name) },
    ),
    stepOf(
      'stopAppMonitor',
      { ...hb, id: 'migrate.monitor-stopped', title: `The classic cluster's application monitor (${args.classicCluster}) stopped: nothing fails the application over while it moves; \`haflow monitor start\` with the new topology afterwards`, kind: 'change', timeoutSeconds: 120 },
      { cluster: args.classicCluster },
    ),
    ...preparationSteps(topology),
    stepOf('ensureProbeDatabase', { ...on(master), id: `postgres.probe-database@${master.name}`, mark: 'probe-from', title: `The write probe's own database (haflow_probe) on ${master.name}; the probe writes to it directly from here to the end`, kind: 'change', timeoutSeconds: 120 }, { host: master.name }),
    parallel(
      'migrate.backups',
      'A backup on every DB node before anything changes',
      dbs.map((host) =>
        stepOf(
          'backupBeforeMigration',
          {
            ...on(host),
            id: `migrate.backup@${host.name}`,
            title: `Backup on ${host.name}: the old configuration (/etc/postgresql/${version}/main${topology.app ? `, ${topology.app.ha_dir} and the application's settings` : ''})${host.name === master.name ? ', and a base backup of the database' : ''}, with checksums`,
            kind: 'change',
            timeoutSeconds: 6 * 3600,
          },
          host.name === master.name ? { host: host.name, database: true } : { host: host.name },
        ),
      ),
    ),
    ...etcdSteps(topology),
    stepOf('ensurePatroniUsers', { ...on(master), id: `db.patroni-users@${master.name}`, title: `The users Patroni logs in as on ${master.name}: the rewind user created (pg_rewind's grants), the superuser's and replication passwords as the topology says`, kind: 'change', timeoutSeconds: 120 }, { host: master.name }),
    ...[master, ...standbys].map((host) =>
      stepOf('configurePatroni', { ...on(host), id: `patroni.config@${host.name}`, title: `Patroni on ${host.name}: write /etc/patroni/config.yml (data_dir ${topology.postgresql.data_dir}, the existing data) and the unit, do not start it`, kind: 'change', timeoutSeconds: 120 }, { host: host.name }),
    ),
    stepOf(
      'adoptPrimaryUnderPatroni',
      { ...on(master), id: `db.handover@${master.name}`, mark: 'switchover', title: `Handover of the primary ${master.name}: Patroni started while PostgreSQL runs takes the leader key for it as it is, then restarts it with its own configuration (the one pause of writes); Debian's start.conf says disabled`, kind: 'change', attempts: 3, timeoutSeconds: 300 },
      { host: master.name, waitSeconds: 120 },
    ),
    dynamicConfigStep(topology),
    ...standbys.flatMap((host) => [
      stepOf('adoptStandbyUnderPatroni', { ...on(host), id: `db.handover@${host.name}`, title: `Handover of the standby ${host.name}: Debian's cluster stopped, Patroni started: it runs it as a replica of ${master.name}, the same data, no new copy`, kind: 'change', timeoutSeconds: 180 }, { host: host.name }),
      stepOf('replicaStreaming', { ...on(host), id: `patroni.streaming@${host.name}`, title: `${host.name} streams from ${master.name} under Patroni, lag under ${topology.patroni.maximum_lag_on_failover} bytes`, kind: 'verify', timeoutSeconds: 600 }, { host: host.name }),
    ]),
    ...proxies.flatMap((host) => [
      stepOf('configureHaproxy', { ...on(host), id: `haproxy.config@${host.name}`, title: `HAProxy on ${host.name}: the write endpoint on port ${topology.haproxy.postgres_port} (Patroni's health checks) beside the application; the old haproxy.cfg backed up, checked with haproxy -c, reloaded`, kind: 'change', timeoutSeconds: 120 }, { host: host.name }),
      stepOf('haproxyLeaderUp', { ...on(host), id: `verify.haproxy@${host.name}`, title: `HAProxy on ${host.name} sends writes to exactly one server, the leader ${master.name}`, kind: 'verify', timeoutSeconds: 180 }, { host: host.name }),
    ]),
    ...(topology.app && appMasterHost
      ? [
          ...[appMasterHost, ...apps.filter((h) => h.name !== appMasterHost.name)].map((host) =>
            stepOf('configureAppConfig', { ...on(host), id: `app.config@${host.name}`, title: `The application on ${host.name} pointed at HAProxy's write endpoint (${proxies[0]?.name}:${topology.haproxy.postgres_port}) instead of its own PostgreSQL; restarted where it runs`, kind: 'change', timeoutSeconds: 180 }, { host: host.name }),
          ),
          ...appServingSteps(topology),
        ]
      : []),
    ...proxies.map((host) =>
      stepOf('verifyWriteThroughHaproxy', { ...on(host), id: `verify.write@${host.name}`, title: `A write through HAProxy on ${host.name}:${topology.haproxy.postgres_port} lands on the leader and is readable on every replica`, kind: 'verify', timeoutSeconds: 180 }, { host: host.name }),
    ),
    stepOf('patroniClusterHealthy', { ...hb, id: 'migrate.verified', mark: 'probe-until', title: `Patroni cluster: one leader (${master.name}), ${standbys.length} streaming replica(s)`, kind: 'verify', timeoutSeconds: 120 }, {}),
    // The application under Patroni fails over from now on, as the classic cluster's did.
    ...(topology.app && appMasterHost ? monitorStartSteps(topology) : []),
  ];
  return { name: 'migrate', cluster: topology.cluster, items };
}
