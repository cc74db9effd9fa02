// PostgreSQL through Patroni: the guide's DB configuration step (the application's database
// user and password, then reload and restart Patroni members) and the end-to-end check that
// a write through HAProxy lands on the leader and is readable on every replica.
import { randomBytes } from 'node:crypto';
import { dbHosts, patroniScope, type Topology } from '../../topology';
import type { HostInput, StepResult } from '../contract';
import { patroniConfigPath } from '../patroni/config';
import { patroniCluster } from '../patroni/rest';
import { alterRolePassword, appLoginWorks, psql, sqlIdentifier, sqlLiteral } from '../shared/psql';
import { resolveSecret } from '../shared/secrets';
import { archiveCommand, backupStamp, BACKUP_DIR } from '../shared/remote-files';
import type { SshSession } from '../shared/ssh';
import { shellQuote } from '../shared/shell';
import { hostOf, onHost, stepResult, waitFor } from '../shared/step';
import { checkRowOnStandbys, writeCheckRow } from './check-row';
import { superuserClient, superuserPassword } from './superuser';

export async function configureDatabase(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const app = topology.app;
    if (!app) return stepResult([], 'no application tier in this topology: nothing to configure');
    const password = resolveSecret(app.db_password, 'app.db_password');
    if (await appLoginWorks(ssh, topology, host, app.db_user, app.db_name, password)) {
      return stepResult([], `the application's database user ${app.db_user} logs in to ${app.db_name} with the configured password`);
    }
    if (check) return stepResult([`would create or update database user ${app.db_user} and database ${app.db_name}, then reload and restart Patroni members`], '');
    const user = sqlIdentifier(app.db_user);
    await psql(
      ssh,
      topology,
      [
        `DO $$ BEGIN`,
        `  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${sqlLiteral(app.db_user)}) THEN CREATE ROLE ${user} LOGIN;`,
        `  END IF;`,
        `END $$;`,
        alterRolePassword(app.db_user, password, 'LOGIN'),
        `SELECT format('CREATE DATABASE %I OWNER %I', ${sqlLiteral(app.db_name)}, ${sqlLiteral(app.db_user)}) WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = ${sqlLiteral(app.db_name)})`,
        `\\gexec`,
        '',
      ].join('\n'),
    );
    // As the guide's DB configuration does: reload every member, restart those that need it.
    const scope = shellQuote(patroniScope(topology));
    await ssh.check(`sudo -u postgres patronictl -c ${patroniConfigPath} reload ${scope} --force`, { sudo: true });
    await ssh.check(`sudo -u postgres patronictl -c ${patroniConfigPath} restart ${scope} --pending --force`, { sudo: true });
    if (!(await appLoginWorks(ssh, topology, host, app.db_user, app.db_name, password))) {
      throw new Error(`${host.name}: ${app.db_user} still cannot log in to ${app.db_name} after DB configuration`);
    }
    return stepResult([`created or updated database user ${app.db_user} and database ${app.db_name}; reloaded Patroni members`], '');
  });
}

/** Writes a row through HAProxy, checks it landed on the leader, and reads it back on every replica. */
export async function verifyWriteThroughHaproxy(input: HostInput): Promise<StepResult> {
  const { topology } = input;
  const proxy = hostOf(input);
  const port = topology.haproxy.postgres_port;
  if (input.check) return stepResult([], `would write a row through ${proxy.name}:${port} and read it on every replica`);
  const token = `install-check-${randomBytes(6).toString('hex')}`;
  const password = superuserPassword(topology);
  const landedOn = await waitFor(
    `a write through HAProxy on ${proxy.name}:${port}`,
    async () => {
      const client = superuserClient(topology, { host: proxy.address, port }, { connectMs: 3000, queryMs: 5000 }, password);
      try {
        await client.connect();
        await writeCheckRow(client, token);
        const row = await client.query<{ addr: string; recovery: boolean }>('SELECT host(inet_server_addr()) AS addr, pg_is_in_recovery() AS recovery');
        return { done: row.rows[0] };
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    { timeoutMs: 90_000, intervalMs: 2000, remedy: `check \`systemctl status haproxy\` on ${proxy.name} and the stats page on port ${topology.haproxy.stats_port}` },
  );
  const { members } = await patroniCluster(topology);
  const leader = members.find((m) => m.role === 'leader');
  const writer = dbHosts(topology).find((h) => h.address === landedOn.addr);
  if (landedOn.recovery || !leader || writer?.name !== leader.name) {
    throw new Error(`the write through ${proxy.name}:${port} landed on ${writer?.name ?? landedOn.addr} (in recovery: ${landedOn.recovery}), but the Patroni leader is ${leader?.name ?? 'none'}`);
  }
  const replicas = dbHosts(topology).filter((h) => h.name !== leader.name);
  await checkRowOnStandbys(topology, replicas, token);
  return stepResult([], `a write through ${proxy.name}:${port} landed on the leader ${leader.name} and is readable on ${replicas.map((r) => r.name).join(', ') || 'no replica'}`);
}

/** The host lock of the commands that archive, empty or drop a PostgreSQL data directory. */
export const POSTGRES_DATA_LOCK = 'postgres-data';

/** Debian's auto-created cluster (e.g. 15/main): dropped, after a backup if it holds any database of its own. */
export async function dropDebianDefaultCluster(ssh: SshSession, topology: Topology, check: boolean): Promise<string[]> {
  const version = topology.postgresql.version;
  const listed = await ssh.exec(`pg_lsclusters -h 2>/dev/null | awk '$1 == ${version} && $2 == "main" {print $6}'`, { sudo: true });
  const dataDir = listed.stdout.trim();
  if (!dataDir) return [];
  // template0, template1 and postgres are all a fresh cluster has in base/.
  const userData = await ssh.exec(`[ "$(ls ${shellQuote(dataDir)}/base 2>/dev/null | wc -l)" -gt 3 ] && echo yes || echo no`, { sudo: true });
  const archive = `${BACKUP_DIR}/postgresql-${version}-main-${backupStamp()}.tar.gz`;
  // Destructive: preceded by a backup whenever there is anything to lose, and it says which.
  const actions =
    userData.stdout.trim() === 'yes'
      ? [`back up ${dataDir} to ${archive}`, `drop Debian's default cluster ${version}/main (pg_dropcluster --stop ${version} main) after that backup`]
      : [`drop Debian's default cluster ${version}/main (pg_dropcluster --stop ${version} main): it holds no database of its own, nothing to back up`];
  if (check) return actions.map((a) => `would ${a}`);
  // One command under the host's data lock: a retry beside an attempt that still runs waits for it.
  const backup = userData.stdout.trim() === 'yes' ? `${archiveCommand(archive, [], { cwd: dataDir })} && ` : '';
  await ssh.check(`${backup}pg_dropcluster --stop ${version} main`, { sudo: true, lock: POSTGRES_DATA_LOCK, timeoutMs: 30 * 60_000 });
  return actions;
}
