// The superuser's login over TCP, as the install's write checks and the measurement's probe and
// watcher make it: its password resolved on the worker (named in any error by its field), a
// client with time limits of the caller's choosing.
import { Client, type ClientConfig } from 'pg';
import { dbHosts } from '../../topology/derive';
import type { Topology } from '../../topology/schema';
import { resolveSecret } from '../shared/secrets';
import { trustedBundle } from '../tls/authority';

export function superuserPassword(topology: Topology): string {
  return resolveSecret(topology.postgresql.superuser.password, 'postgresql.superuser.password');
}

/** A client (not yet connected) of `database` at host:port, as the superuser. */
export function superuserClient(
  topology: Topology,
  at: { host: string; port: number; database?: string },
  limits: { connectMs: number; queryMs: number; statementMs?: number },
  password = superuserPassword(topology),
): Client {
  return new Client({
    host: at.host,
    port: at.port,
    user: topology.postgresql.superuser.username,
    password,
    database: at.database ?? 'postgres',
    connectionTimeoutMillis: limits.connectMs,
    query_timeout: limits.queryMs,
    ...(limits.statementMs !== undefined ? { statement_timeout: limits.statementMs } : {}),
    ssl: postgresTls(topology, at),
  });
}

/**
 * How a client of the cluster's PostgreSQL speaks TLS: not at all without it; with it, verifying
 * the server with the cluster's CA, and its name as libpq's verify-full does when it dials a DB
 * node itself. Through HAProxy the server's certificate names the DB node behind it, not the
 * address dialled, so there the CA alone is checked (libpq's verify-ca).
 */
export function postgresTls(topology: Topology, at: { host: string; port: number }): ClientConfig['ssl'] {
  const ca = trustedBundle(topology);
  if (!ca) return false;
  const node = at.port === topology.postgresql.port && dbHosts(topology).some((h) => h.address === at.host);
  return node ? { ca, rejectUnauthorized: true } : { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
}
