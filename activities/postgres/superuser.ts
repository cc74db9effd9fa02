// The superuser's login over TCP, as the install's write checks and the measurement's probe and
// watcher make it: its password resolved on the worker (named in any error by its field), a
// client with time limits of the caller's choosing.
import { Client } from 'pg';
import type { Topology } from '../../topology/schema';
import { resolveSecret } from '../shared/secrets';

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
  });
}
