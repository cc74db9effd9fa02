// The guide's firewall matrix, derived from the topology: which host must reach which
// port on which other host. Pure; preflight probes each pair from its source host.
import type { Host, Topology } from './schema';
import { appHosts, backupHost, dbHosts, etcdMembers, haproxyHosts, restoreHosts, sshTarget } from './derive';

export interface FirewallRule {
  from: Host;
  to: Host;
  port: number;
  purpose: string;
}

export function firewallMatrix(topology: Topology): FirewallRule[] {
  const rules: FirewallRule[] = [];
  const add = (from: Host[], to: Host[], port: number, purpose: string) => {
    for (const f of from) for (const t of to) if (f.name !== t.name) rules.push({ from: f, to: t, port, purpose });
  };
  const dbs = dbHosts(topology);
  const proxies = haproxyHosts(topology);
  const members = etcdMembers(topology);
  const { postgresql, patroni, etcd, haproxy } = topology;
  // Patroni's REST API exists in the Patroni layouts only (classic has streaming replication
  // without it), and so does HAProxy's database port: there each application uses its local database.
  const patroniApi = topology.layout !== 'classic';
  // HAProxy → DB nodes: PostgreSQL, and Patroni's REST API for the health check.
  if (patroniApi) add(proxies, dbs, postgresql.port, 'HAProxy to PostgreSQL');
  if (patroniApi) add(proxies, dbs, patroni.rest_api_port, 'HAProxy health check on the Patroni REST API');
  // HAProxy → application nodes (listen backend).
  if (topology.app) add(proxies, appHosts(topology), topology.app.http_port, 'HAProxy to the application');
  // DB nodes → etcd (Patroni is an etcd client) and → HAProxy, as in the guide's table.
  add(dbs, members, etcd.client_port, 'Patroni to etcd');
  add(dbs, members, etcd.peer_port, 'etcd peer port (guide)');
  if (patroniApi) add(dbs, proxies, haproxy.postgres_port, 'DB node to HAProxy');
  // DB nodes ↔ each other: replication and Patroni's REST API.
  add(dbs, dbs, postgresql.port, 'replication');
  if (patroniApi) add(dbs, dbs, patroni.rest_api_port, 'Patroni REST API between members');
  // etcd members ↔ each other.
  add(members, members, etcd.peer_port, 'etcd peers');
  // The application reaches the database through HAProxy.
  if (topology.app && patroniApi) add(appHosts(topology), proxies, haproxy.postgres_port, 'application to the database through HAProxy');
  // pgBackRest over SSH, both ways: backups from the nodes, WAL and restores to and from the repository.
  const repository = backupHost(topology);
  if (repository) {
    for (const db of dbs) add([repository], [db], sshTarget(topology, db).port, "pgBackRest's SSH from the repository");
    add(dbs, [repository], sshTarget(topology, repository).port, "pgBackRest's SSH to the repository");
    add(restoreHosts(topology), [repository], sshTarget(topology, repository).port, "pgBackRest's SSH to the repository (restores)");
  }
  const seen = new Set<string>();
  return rules.filter((r) => {
    const key = `${r.from.name}>${r.to.name}:${r.port}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
