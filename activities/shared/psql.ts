// PostgreSQL on a host, from the worker: SQL quoting, psql as the postgres OS user over the
// local socket, and the application's login check. Passwords travel through stdin only.
import type { Host, Topology } from '../../topology';
import type { SshSession } from './ssh';
import { shellQuote } from './shell';

/** A SQL string literal (standard_conforming_strings is on since PostgreSQL 9.1). */
export function sqlLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export function sqlIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** psql as the postgres OS user over the local socket; the SQL (and any password in it) goes through stdin. */
export function psql(ssh: SshSession, topology: Topology, sql: string): Promise<string> {
  return ssh.check(`sudo -u postgres psql -X -q -At -v ON_ERROR_STOP=1 -h /var/run/postgresql -p ${topology.postgresql.port} -d postgres`, {
    sudo: true,
    stdin: sql,
  });
}

/** Can the application log in with this password? Checked over TCP on the leader itself, the password via stdin. */
export async function appLoginWorks(ssh: SshSession, topology: Topology, host: Host, user: string, db: string, password: string): Promise<boolean> {
  const script = `export PGPASSWORD=${shellQuote(password)} PGCONNECT_TIMEOUT=5\npsql -X -At -h ${shellQuote(host.address)} -p ${topology.postgresql.port} -U ${shellQuote(user)} -d ${shellQuote(db)} -c 'select 1' >/dev/null 2>&1 && echo yes || echo no\n`;
  const result = await ssh.exec('sh -s', { stdin: script });
  return result.stdout.trim() === 'yes';
}
