// Facts derived from a validated topology. Pure functions, shared by the renderers,
// the runbook step builders and the checks, so every part agrees on who is who.
import type { Host, Role, Topology } from './schema';

export function hostsWithRole(topology: Topology, role: Role): Host[] {
  return topology.hosts.filter((h) => h.roles.includes(role));
}

export function hostByName(topology: Topology, name: string): Host {
  const found = topology.hosts.find((h) => h.name === name);
  if (!found) throw new Error(`no host named ${name} in cluster ${topology.cluster}`);
  return found;
}

/** DB nodes in file order; the first is "DB Node 1 = Master DB" unless patroni.initial_leader says otherwise. */
export function dbHosts(topology: Topology): Host[] {
  return hostsWithRole(topology, 'db');
}

export function etcdMembers(topology: Topology): Host[] {
  return hostsWithRole(topology, 'etcd');
}

export function haproxyHosts(topology: Topology): Host[] {
  return hostsWithRole(topology, 'haproxy');
}

export function appHosts(topology: Topology): Host[] {
  return hostsWithRole(topology, 'app');
}

export function initialLeader(topology: Topology): Host {
  const name = topology.patroni.initial_leader;
  return name ? hostByName(topology, name) : dbHosts(topology)[0];
}

/** DB nodes other than the initial leader: the guide's "Slave" (and further replicas). */
export function initialReplicas(topology: Topology): Host[] {
  const leader = initialLeader(topology);
  return dbHosts(topology).filter((h) => h.name !== leader.name);
}

export function appMaster(topology: Topology): Host | undefined {
  const name = topology.app?.master;
  return name ? hostByName(topology, name) : appHosts(topology)[0];
}

/** The application's slave nodes: every app host but the master. */
export function appSlaves(topology: Topology): Host[] {
  const master = appMaster(topology);
  return appHosts(topology).filter((h) => h.name !== master?.name);
}

export type AppRole = 'master' | 'slave';

/** master for the application master node (app.master, else the first app host); slave for the others. */
export function appRoleOf(topology: Topology, host: Host): AppRole {
  return appMaster(topology)?.name === host.name ? 'master' : 'slave';
}

/**
 * The application monitor's checks. A topology recorded before the monitor had its own name (the
 * input of a monitor or a schedule still running) holds them as `app.observer`.
 */
export function monitorSettings(topology: Topology): NonNullable<Topology['app']>['monitor'] {
  const app = requireApp(topology) as NonNullable<Topology['app']> & { observer?: NonNullable<Topology['app']>['monitor'] };
  const settings: Partial<NonNullable<Topology['app']>['monitor']> = app.monitor ?? app.observer ?? {};
  return { interval_seconds: settings.interval_seconds ?? 3, timeout_seconds: settings.timeout_seconds ?? 3, failures: settings.failures ?? 3, autostart: settings.autostart ?? true };
}

export function requireApp(topology: Topology): NonNullable<Topology['app']> {
  if (!topology.app) throw new Error(`cluster ${topology.cluster} has no app section`);
  return topology.app;
}

/**
 * The HAProxy the applications reach their database through: the observer's, as in the guide
 * (the first host that is both observer and HAProxy, else the first HAProxy).
 */
export function appDatabaseProxy(topology: Topology): Host {
  const proxies = haproxyHosts(topology);
  const proxy = proxies.find((h) => h.roles.includes('observer')) ?? proxies[0];
  if (!proxy) throw new Error(`cluster ${topology.cluster} has no HAProxy host for the application to reach its database through`);
  return proxy;
}

/** The classic layout's master database host: the application master (app.master, else the first app host). */
export function classicMaster(topology: Topology): Host {
  const master = appMaster(topology) ?? dbHosts(topology)[0];
  if (!master) throw new Error(`cluster ${topology.cluster} has no DB host`);
  return master;
}

export function classicSlaves(topology: Topology): Host[] {
  const master = classicMaster(topology);
  return dbHosts(topology).filter((h) => h.name !== master.name);
}

/** Debian's cluster of the topology's major version, which the classic layout runs: where its configuration and data live. */
export function classicCluster(topology: Topology): { version: number; name: string; confDir: string; dataDir: string } {
  const version = topology.postgresql.version;
  return { version, name: 'main', confDir: `/etc/postgresql/${version}/main`, dataDir: `/var/lib/postgresql/${version}/main` };
}

/**
 * How long HAProxy's health checks take to agree with Patroni: `rise` good checks `inter` apart,
 * after up to `fall` bad ones on a server that was the leader before; plus slack.
 */
export function haproxySettleSeconds(topology: Topology): number {
  const { inter, fall, rise } = topology.haproxy.check;
  return Math.ceil(inter * (fall + rise + 2)) + 30;
}

/** Patroni scope (cluster name in the DCS); defaults to the topology's cluster name. */
export function patroniScope(topology: Topology): string {
  return topology.patroni.scope ?? topology.cluster;
}

/** The host that keeps the backup repository (role backup); undefined when the topology has no backups. */
export function backupHost(topology: Topology): Host | undefined {
  return topology.backup ? hostsWithRole(topology, 'backup')[0] : undefined;
}

/** The backup settings and repository host, for code that runs only when the topology has backups. */
export function requireBackup(topology: Topology): { settings: NonNullable<Topology['backup']>; host: Host; stanza: string } {
  const host = backupHost(topology);
  if (!topology.backup || !host) throw new Error(`cluster ${topology.cluster} has no backups: its topology needs a backup: section and a host with role backup`);
  return { settings: topology.backup, host, stanza: backupStanza(topology) };
}

/** The machines restores and restore drills may use (role restore), in file order. */
export function restoreHosts(topology: Topology): Host[] {
  return topology.backup ? hostsWithRole(topology, 'restore') : [];
}

/** pgBackRest's stanza for the cluster: one per cluster, named as Patroni's scope. */
export function backupStanza(topology: Topology): string {
  return patroniScope(topology);
}

export function postgresBinDir(topology: Topology): string {
  return topology.postgresql.bin_dir ?? `/usr/lib/postgresql/${topology.postgresql.version}/bin`;
}

export function etcdClusterToken(topology: Topology): string {
  return topology.etcd.cluster_token ?? `${topology.cluster}-etcd`;
}

/** Comma-separated client endpoints, as Patroni's etcd3 `hosts` and etcdctl --endpoints take them. */
export function etcdClientEndpoints(topology: Topology): string[] {
  return etcdMembers(topology).map((h) => `${h.address}:${topology.etcd.client_port}`);
}

export function sshTarget(topology: Topology, host: Host): { user: string; port: number } {
  return { user: host.ssh?.user ?? topology.ssh.user, port: host.ssh?.port ?? topology.ssh.port };
}

/** Every TCP port a host will listen on, by the component that owns it (for clash checks and the firewall matrix). */
export function listeningPorts(topology: Topology, host: Host): { port: number; owner: string }[] {
  const ports: { port: number; owner: string }[] = [];
  const has = (r: Role) => host.roles.includes(r);
  ports.push({ port: host.ssh?.port ?? topology.ssh.port, owner: 'ssh' });
  if (has('etcd')) {
    ports.push({ port: topology.etcd.client_port, owner: 'etcd.client_port' });
    ports.push({ port: topology.etcd.peer_port, owner: 'etcd.peer_port' });
  }
  if (has('haproxy')) {
    if (topology.layout !== 'classic') ports.push({ port: topology.haproxy.postgres_port, owner: 'haproxy.postgres_port' });
    ports.push({ port: topology.haproxy.stats_port, owner: 'haproxy.stats_port' });
    if (appHosts(topology).length > 0) {
      ports.push({ port: topology.haproxy.app_http_port, owner: 'haproxy.app_http_port' });
      if (topology.haproxy.tls) ports.push({ port: topology.haproxy.tls.port, owner: 'haproxy.tls.port' });
    }
  }
  if (has('db')) {
    ports.push({ port: topology.postgresql.port, owner: 'postgresql.port' });
    if (topology.layout !== 'classic') ports.push({ port: topology.patroni.rest_api_port, owner: 'patroni.rest_api_port' });
  }
  if (has('app') && topology.app) ports.push({ port: topology.app.http_port, owner: 'app.http_port' });
  return ports;
}

/** "ubuntu 22.04" is supported by "ubuntu 22.04"; "rhel 9.4" by "rhel 9.4"; "debian 12" by "debian 12". */
/** The OS a host is said to run: its own `os`, else the cluster's; undefined when the topology does not say. */
export function hostOs(topology: Pick<Topology, 'os'>, host: Pick<Host, 'os'>): string | undefined {
  return host.os ?? topology.os;
}

export function osSupported(os: string, supported: string[]): boolean {
  return supported.some((s) => os === s || os.startsWith(`${s}.`));
}
