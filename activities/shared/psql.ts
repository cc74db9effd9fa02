// PostgreSQL on a host, from the worker: SQL quoting, psql as the postgres OS user over the
// local socket, role passwords as psql variables, and the application's login check.
// Passwords travel through stdin only.
import type { Host, Topology } from '../../topology';
import type { SshSession } from './ssh';
import { shellQuote } from './shell';

/**
 * A SQL string literal. A plain '…' reads a backslash as an escape when a site turns
 * standard_conforming_strings off, so a value with one is written as an escape string E'…',
 * which reads the same under either setting.
 */
export function sqlLiteral(value: string): string {
  const quoted = value.replace(/'/g, "''");
  return value.includes('\\') ? `E'${quoted.replace(/\\/g, '\\\\')}'` : `'${quoted}'`;
}

export function sqlIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * A psql meta-command argument in single quotes, by psql's own rules (client-side, whatever
 * the server's settings): '' is a quote, a backslash escapes, \n \r \t and octal \ooo stand
 * for control characters (a line break would end the meta-command).
 */
function psqlQuoted(value: string): string {
  const escaped = value.replace(/[\\'\x00-\x1f\x7f]/g, (c) =>
    c === "'" ? "''" : c === '\\' ? '\\\\' : `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`,
  );
  return `'${escaped}'`;
}

/**
 * Lines of a psql script (for `psql`, on its standard input) that set a role's password:
 * the value goes into a psql variable with `\set`, and `:'variable'` puts it into the
 * statement; psql quotes it for the server it is connected to (an escape string E'…' when it
 * holds a backslash), so standard_conforming_strings cannot change it. The value is never on a
 * command line, and the variable is unset after the statement.
 */
export function alterRolePassword(role: string, password: string, attributes = ''): string {
  return [
    `\\set haflow_password ${psqlQuoted(password)}`,
    `ALTER ROLE ${sqlIdentifier(role)}${attributes ? ` ${attributes}` : ''} PASSWORD :'haflow_password';`,
    '\\unset haflow_password',
  ].join('\n');
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
