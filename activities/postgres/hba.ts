// pg_hba.conf's rules, the same for both ways PostgreSQL runs here: in Patroni's bootstrap
// section, and in the classic layout's own pg_hba.conf.
import type { Host, Topology } from '../../topology/schema';
import { appHosts, dbHosts, haproxyHosts } from '../../topology/derive';
import { assertIdentifier } from '../../topology/identifiers';
import { isIpv4, isLoopback } from '../shared/render';

export interface HbaOptions {
  /**
   * `host` lines even with TLS: while a running cluster moves to TLS, clients that have not moved
   * yet (a replica's stream, an application) still log in; the move ends with `hostssl`.
   */
  plainTextToo?: boolean;
}

/**
 * pg_hba lines, first match wins. Local connections use peer (Patroni, and haflow's psql,
 * connect through the socket as postgres). Replication is open to the DB nodes; ordinary
 * connections also to the HAProxy and application hosts, because HAProxy forwards TCP and
 * PostgreSQL sees the HAProxy host as the client. `postgresql.allowed_networks` replaces both lists when set.
 */
export function pgHbaRules(topology: Topology, file: string, options: HbaOptions = {}): string[] {
  // A name with a space or a # would add words or a comment to the rule: only plain role names.
  const replicationUser = assertIdentifier('pgRole', topology.postgresql.replication.username, 'postgresql.replication.username', `pg_hba in ${file}`);
  const explicit = topology.postgresql.allowed_networks;
  const replicationNets = explicit ?? networksOf(dbHosts(topology));
  const clientNets =
    explicit ?? networksOf([...dbHosts(topology), ...haproxyHosts(topology), ...appHosts(topology)]);
  // With TLS only connections over TLS match (hostssl): a client without it is refused.
  const host = topology.tls && !options.plainTextToo ? 'hostssl' : 'host';
  return [
    'local all all peer',
    ...replicationNets.map((net) => `${host} replication ${replicationUser} ${net} scram-sha-256`),
    ...clientNets.map((net) => `${host} all all ${net} scram-sha-256`),
  ];
}

/**
 * One pg_hba address per host (its IPv4 as /32, a DNS name as is) plus the local machine.
 * On a loopback lab every client connects from 127.0.0.1, whatever 127.x address it owns
 * (the kernel picks that source for loopback traffic), so any loopback host opens 127.0.0.0/8
 * instead of its own /32.
 */
function networksOf(hosts: Host[]): string[] {
  const nets = hosts.map((h) => (isLoopback(h.address) ? '127.0.0.0/8' : isIpv4(h.address) ? `${h.address}/32` : h.address));
  if (!nets.includes('127.0.0.0/8')) nets.push('127.0.0.1/32');
  return [...new Set(nets)];
}
