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

/** Patroni scope (cluster name in the DCS); defaults to the topology's cluster name. */
export function patroniScope(topology: Topology): string {
  return topology.patroni.scope ?? topology.cluster;
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
export function osSupported(os: string, supported: string[]): boolean {
  return supported.some((s) => os === s || os.startsWith(`${s}.`));
}
