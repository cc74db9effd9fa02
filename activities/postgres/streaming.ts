// The classic layout's database tier: Debian's cluster on the master streams to the slave's,
// without Patroni. The master gets the replication settings, pg_hba.conf and the replication,
// superuser and application roles; the slave, unless it already streams from the master, is
// rebuilt from a base backup of it (its own earlier data archived first) and started as a standby.
import { randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { Host, Topology } from '../../topology';
import { classicCluster, classicMaster, classicSlaves, hostByName } from '../../topology/derive';
import { tlsPaths } from '../../topology/tls';
import { StepFailureTypes, type HostInput, type StepResult } from '../contract';
import { alterRolePassword, psql, sqlIdentifier, sqlLiteral } from '../shared/psql';
import { archiveCommand, backupStamp, BACKUP_DIR, ensureRemoteFiles } from '../shared/remote-files';
import { resolveSecret } from '../shared/secrets';
import { targetFor, withHostSsh, type SshSession } from '../shared/ssh';
import { shellQuote } from '../shared/shell';
import { guardFailed, hostOf, onHost, stepResult, waitFor } from '../shared/step';
import { POSTGRES_DATA_LOCK } from './activities';
import { checkRowOnStandbys, writeCheckRow } from './check-row';
import { superuserClient } from './superuser';
import { fenceMarkerPath, isFenced, primaryConninfoHost } from './classic-failover';
import { classicPostgresFiles } from './streaming-config';

/**
 * With TLS, the standby verifies the master as libpq's verify-full does (the CA, and the master's
 * address among its certificate's names); -R keeps it in primary_conninfo. A conninfo fragment.
 */
function verifiedConnection(topology: Topology): string {
  const tls = tlsPaths(topology);
  return tls ? ` sslmode=verify-full sslrootcert=${tls.caBundle}` : '';
}

/** Where the standby keeps the replication password for its WAL receiver (and pg_basebackup reads it). */
const STANDBY_PASSFILE = '/var/lib/postgresql/.pgpass_haflow';

async function clusterRunning(ssh: SshSession, topology: Topology): Promise<boolean> {
  const { version, name } = classicCluster(topology);
  const out = await ssh.exec(`pg_lsclusters -h | awk '$1 == ${version} && $2 == "${name}" {print $4}'`, { sudo: true });
  return out.stdout.trim() === 'online' || out.stdout.trim().startsWith('online');
}

async function clusterExists(ssh: SshSession, topology: Topology): Promise<boolean> {
  const { confDir } = classicCluster(topology);
  return (await ssh.exec(`[ -f ${shellQuote(`${confDir}/postgresql.conf`)} ]`, { sudo: true })).code === 0;
}

async function pgCluster(ssh: SshSession, topology: Topology, verb: 'start' | 'stop' | 'restart' | 'reload'): Promise<void> {
  const { version, name } = classicCluster(topology);
  await ssh.check(`pg_ctlcluster ${version} ${name} ${verb}${verb === 'stop' ? ' -m fast' : ''}`, { sudo: true, timeoutMs: 120_000 });
}

function missingCluster(topology: Topology, host: Host): ApplicationFailure {
  const { version, confDir } = classicCluster(topology);
  return guardFailed(
    `${host.name}: PostgreSQL ${version}'s cluster main does not exist (no ${confDir}/postgresql.conf): the application's database is not installed there`,
    `install the application on ${host.name} first (its installer creates the database), or create the cluster: pg_createcluster ${version} main`,
  );
}

/**
 * The master: replication settings and pg_hba.conf written (PostgreSQL restarted when they
 * changed, started when it was not running), then the replication user, the superuser's
 * password (the checks log in over TCP) and the application's user and database.
 */
export async function configureStreamingPrimary(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    if (!(await clusterExists(ssh, topology))) throw missingCluster(topology, host);
    // A fenced old master (a failover moved the database away) must not become the primary again.
    if (await isFenced(ssh, topology)) {
      throw guardFailed(
        `${host.name} is fenced (${fenceMarkerPath(topology)}): a failover made another node the primary, and it may hold writes that node never had`,
        `set app.master to the node that is the primary now, so that ${host.name} is rebuilt as its standby; or \`haflow app switchback ${topology.cluster}\` with the application monitor running`,
      );
    }
    const files = await ensureRemoteFiles(ssh, classicPostgresFiles(topology, host), check);
    const actions = [...files.actions];
    const running = await clusterRunning(ssh, topology);
    const inRecovery = running && (await psql(ssh, topology, 'SELECT pg_is_in_recovery()')).trim() === 't';
    if (inRecovery) {
      throw guardFailed(
        `${host.name} is a standby (in recovery): it cannot be the master`,
        `set app.master to the node that is the primary now, or promote ${host.name} first (pg_ctlcluster ${topology.postgresql.version} main promote)`,
      );
    }
    if (check) {
      if (!running) actions.push(`would start PostgreSQL ${topology.postgresql.version}/main`);
      else if (files.changed) actions.push(`would restart PostgreSQL ${topology.postgresql.version}/main`);
      actions.push(`would create or update the roles ${topology.postgresql.replication.username}, ${topology.postgresql.superuser.username}${topology.app ? ` and ${topology.app.db_user}` : ''}`);
      return stepResult(actions, '', files.details);
    }
    if (!running) {
      await pgCluster(ssh, topology, 'start');
      actions.push(`started PostgreSQL ${topology.postgresql.version}/main`);
    } else if (files.changed) {
      // listen_addresses and wal_level take effect on a restart only.
      await pgCluster(ssh, topology, 'restart');
      actions.push(`restarted PostgreSQL ${topology.postgresql.version}/main`);
    }
    const { replication, superuser } = topology.postgresql;
    const statements = [
      roleStatement(replication.username, 'LOGIN REPLICATION', resolveSecret(replication.password, 'postgresql.replication.password')),
      alterRolePassword(superuser.username, resolveSecret(superuser.password, 'postgresql.superuser.password')),
    ];
    const app = topology.app;
    if (app) {
      statements.push(
        roleStatement(app.db_user, 'LOGIN', resolveSecret(app.db_password, 'app.db_password')),
        `SELECT format('CREATE DATABASE %I OWNER %I', ${sqlLiteral(app.db_name)}, ${sqlLiteral(app.db_user)}) WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = ${sqlLiteral(app.db_name)})`,
        '\\gexec',
      );
    }
    // Setting a password again is harmless; saying so would be noise: it is not counted as a change.
    await psql(ssh, topology, `${statements.join('\n')}\n`);
    return stepResult(actions, `${host.name}: PostgreSQL ${topology.postgresql.version}/main is the primary, configured for streaming; roles in place`, files.details);
  });
}

export function roleStatement(name: string, attributes: string, password: string): string {
  return [
    'DO $$ BEGIN',
    `  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${sqlLiteral(name)}) THEN CREATE ROLE ${sqlIdentifier(name)} ${attributes}; END IF;`,
    'END $$;',
    alterRolePassword(name, password, attributes),
  ].join('\n');
}

/** Where the standby's WAL receiver is connected, if it streams: `sender_host` of pg_stat_wal_receiver. */
export async function streamingFrom(ssh: SshSession, topology: Topology): Promise<string | undefined> {
  if (!(await clusterRunning(ssh, topology))) return undefined;
  const out = await psql(ssh, topology, "SELECT coalesce((SELECT sender_host || ' ' || status FROM pg_stat_wal_receiver LIMIT 1), '') WHERE pg_is_in_recovery()");
  const [sender, status] = out.trim().split(' ');
  return status === 'streaming' ? sender : undefined;
}

/** The primary a stopped cluster's data directory would stream from once started, if it is a standby. */
async function standbyOf(ssh: SshSession, dataDir: string): Promise<string | undefined> {
  if ((await ssh.exec(`[ -f ${shellQuote(`${dataDir}/standby.signal`)} ]`, { sudo: true })).code !== 0) return undefined;
  return primaryConninfoHost(ssh, dataDir);
}

/**
 * The slave: a standby streaming from the master. If it already streams from it, its files are
 * kept current and nothing else happens. Otherwise (the application's own local database, or a
 * standby of someone else) it is stopped, its data directory archived to /var/backups/haflow once,
 * replaced by a base backup of the master, and started as a standby.
 */
export async function configureStreamingStandby(input: HostInput & { master?: string }): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const master = input.master ? hostByName(topology, input.master) : classicMaster(topology);
    const { version, name, dataDir } = classicCluster(topology);
    if (!(await clusterExists(ssh, topology))) throw missingCluster(topology, host);
    const files = await ensureRemoteFiles(ssh, classicPostgresFiles(topology, host), check);
    const actions = [...files.actions];
    let sender = await streamingFrom(ssh, topology);
    // A standby of the master that is merely stopped (its machine rebooted, a crash between the
    // base backup and the start) only needs starting: no new base backup.
    if (!sender && !(await clusterRunning(ssh, topology)) && (await standbyOf(ssh, dataDir)) === master.address) {
      if (check) return stepResult([...actions, `would start PostgreSQL ${version}/${name}, a standby of ${master.name}`], '', files.details);
      await pgCluster(ssh, topology, 'start');
      await ssh.check(`rm -f ${shellQuote(`${dataDir}/../.haflow-rebuilding`)}`, { sudo: true });
      actions.push(`started PostgreSQL ${version}/${name}, a standby of ${master.name}`);
      sender = await waitFor(`${host.name} to stream from ${master.name}`, async () => ((await streamingFrom(ssh, topology)) === master.address ? { done: master.address } : { notYet: 'not streaming yet' }), {
        timeoutMs: 60_000,
      });
      return stepResult(actions, '', files.details);
    }
    if (sender === master.address) {
      if (files.changed && !check) {
        await pgCluster(ssh, topology, 'restart');
        actions.push(`restarted PostgreSQL ${version}/${name}`);
      }
      return stepResult(actions, `${host.name} streams from the master ${master.name}`, files.details);
    }
    const marker = `${dataDir}/../.haflow-rebuilding`;
    const archive = `${BACKUP_DIR}/postgresql-${version}-${name}-${host.name}-${backupStamp()}.tar.gz`;
    if (check) {
      actions.push(
        `would stop PostgreSQL ${version}/${name}${sender ? ` (a standby of ${sender})` : ''}`,
        `would archive ${dataDir} to ${archive}`,
        `would replace it with a base backup of ${master.name} and start it as a standby streaming from ${master.name}`,
      );
      return stepResult(actions, '', files.details);
    }
    if (await clusterRunning(ssh, topology)) await pgCluster(ssh, topology, 'stop');
    // Archived once: a retry after a crash half-way through the base backup must not archive
    // that half instead of the database the slave had.
    const earlier = (await ssh.exec(`cat ${shellQuote(marker)} 2>/dev/null`, { sudo: true })).stdout.trim();
    if (earlier) {
      actions.push(`stopped PostgreSQL ${version}/${name}; its earlier data is already in ${earlier}`);
    } else {
      await ssh.check(`${archiveCommand(archive, [], { cwd: dataDir })} && printf '%s\\n' ${shellQuote(archive)} > ${shellQuote(marker)}`, { sudo: true, lock: POSTGRES_DATA_LOCK, timeoutMs: 30 * 60_000 });
      actions.push(`stopped PostgreSQL ${version}/${name}`, `archived ${dataDir} to ${archive}`);
    }
    const { replication, port } = { replication: topology.postgresql.replication, port: topology.postgresql.port };
    const password = resolveSecret(replication.password, 'postgresql.replication.password');
    // The password reaches the host through stdin, into a file only postgres can read. -R writes
    // the connection, application_name included (the master names the standby by it), into
    // postgresql.auto.conf.
    const passLine = `${master.address}:${port}:replication:${replication.username}:${password.replace(/\\/g, '\\\\').replace(/:/g, '\\:')}\n`;
    await ssh.check(`install -m 600 -o postgres -g postgres /dev/null ${STANDBY_PASSFILE} && cat > ${STANDBY_PASSFILE}`, { sudo: true, stdin: passLine });
    await ssh.check(
      [
        `find ${shellQuote(dataDir)} -mindepth 1 -delete`,
        `sudo -u postgres env PGPASSFILE=${STANDBY_PASSFILE} pg_basebackup -d ${shellQuote(`application_name=${host.name}${verifiedConnection(topology)}`)} -h ${shellQuote(master.address)} -p ${port} -U ${shellQuote(replication.username)} -w -D ${shellQuote(dataDir)} -X stream -c fast -R`,
      ].join(' && '),
      // Under the data lock: a retry never empties the directory beside a base backup still being taken.
      { sudo: true, lock: POSTGRES_DATA_LOCK, timeoutMs: 60 * 60_000 },
    );
    // A fenced old master is one no longer: it holds the master's data now, and starts at boot again.
    const fenced = await isFenced(ssh, topology);
    // (Its start.conf says auto again: written with the other files at the start of this step.)
    await ssh.check(`rm -f ${shellQuote(fenceMarkerPath(topology))}`, { sudo: true });
    await pgCluster(ssh, topology, 'start');
    await ssh.check(`rm -f ${shellQuote(marker)}`, { sudo: true });
    actions.push(`took a base backup of ${master.name} into ${dataDir}`, `started it as a standby of ${master.name}${fenced ? ' (its fence removed)' : ''}`);
    return stepResult(actions, '', files.details);
  });
}

/** The master sees the slave streaming (by the application_name its base backup gave it), with its replay lag under the limit. */
export async function standbyStreaming(input: HostInput & { master?: string }): Promise<StepResult> {
  const { topology } = input;
  const standby = hostOf(input);
  const master = input.master ? hostByName(topology, input.master) : classicMaster(topology);
  if (input.check) return stepResult([], `would wait until ${standby.name} streams from ${master.name}`);
  const maxLag = topology.patroni.maximum_lag_on_failover;
  const lag = await withHostSsh(targetFor(topology, master), (ssh) =>
    waitFor(
      `${standby.name} to stream from ${master.name}`,
      async () => {
        const out = await psql(ssh, topology, `SELECT state, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), -1)::bigint FROM pg_stat_replication WHERE application_name = ${sqlLiteral(standby.name)}`);
        const [state, bytes] = out.trim().split('\n')[0]?.split('|') ?? [];
        if (state !== 'streaming') return { notYet: `${master.name} sees ${standby.name} ${state ? `in state ${state}` : 'not connected'}` };
        return Number(bytes) >= 0 && Number(bytes) <= maxLag ? { done: Number(bytes) } : { notYet: `${standby.name} is ${bytes} bytes behind` };
      },
      { timeoutMs: 120_000, intervalMs: 1000, remedy: `look at PostgreSQL's log on ${standby.name} (/var/log/postgresql/postgresql-${topology.postgresql.version}-main.log)` },
    ),
  );
  return stepResult([], `${standby.name} streams from ${master.name}, ${lag} bytes behind`);
}

/** A row written on the master over TCP is read back on every slave. */
export async function verifyStreamingWrite(input: HostInput): Promise<StepResult> {
  const { topology } = input;
  const master = hostOf(input);
  if (input.check) return stepResult([], `would write a row on ${master.name} and read it on every slave`);
  const token = `install-check-${randomBytes(6).toString('hex')}`;
  const client = superuserClient(topology, { host: master.address, port: topology.postgresql.port }, { connectMs: 5000, queryMs: 10_000 });
  try {
    await client.connect();
    await writeCheckRow(client, token);
  } catch (err) {
    throw ApplicationFailure.create({ type: StepFailureTypes.commandFailed, message: `a write on ${master.name}:${topology.postgresql.port} failed: ${(err as Error).message}` });
  } finally {
    await client.end().catch(() => undefined);
  }
  const slaves = classicSlaves(topology);
  await checkRowOnStandbys(topology, slaves, token);
  return stepResult([], `a write on the master ${master.name} is readable on ${slaves.map((s) => s.name).join(', ')}`);
}
