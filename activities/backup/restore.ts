// Point-in-time recovery onto a restore host (role restore): the newest backup before the target
// time and the archive up to it, restored by pgBackRest into backup.restore_dir and started there
// as a standalone PostgreSQL, reachable on the host's socket only, archiving nothing. Nothing of
// the running cluster is touched. A restore drill first writes rows on either side of a target
// time it records in the probe database, and then checks the restored copy against them.
import type { Host, Topology } from '../../topology/schema';
import { hostByName, postgresBinDir, requireBackup } from '../../topology/derive';
import { readClusterHealth } from '../cluster/activities';
import type { ClusterInput, StepResult } from '../contract';
import { PROBE_DATABASE } from '../failover/probe-database';
import { psql } from '../shared/psql';
import { targetFor, withHostSsh, type SshSession } from '../shared/ssh';
import { shellQuote } from '../shared/shell';
import { currentActivity } from '../shared/step-activity';
import { guardFailed, stepResult, waitFor } from '../shared/step';
import { pgbackrest, pgbackrestFailed, stanzaInfo } from './activities';

/** The drill's rows, in the write probe's database. */
export const RESTORE_DRILL_TABLE = 'restore_drill_writes';
export const RESTORE_DRILL_TARGETS = 'restore_drill_targets';
/** Rows the drill writes before the target time, and after it. */
export const DRILL_ROWS = 50;

export interface RestoreInput extends ClusterInput {
  /** The restore host (role restore). */
  to: string;
  /** ISO 8601; without it, the target the drill's marker step recorded for this run. */
  targetTime?: string;
}

/** What a restore measured, kept beside the restored directory for the drill's verdict. */
export interface RestoreMeasurement {
  run: string;
  target: string;
  startedAt: string;
  copiedAt: string;
  queryableAt: string;
  restoreSeconds: number;
  /** The last transaction the recovery replayed, as PostgreSQL logged it. */
  recoveryPoint?: string;
  backupLabel?: string;
}

const runId = () => currentActivity()?.info.workflowExecution?.runId ?? 'outside-a-run';

function restoreHost(topology: Topology, name: string): Host {
  const host = topology.hosts.find((h) => h.name === name);
  if (!host || !host.roles.includes('restore')) {
    const hosts = topology.hosts.filter((h) => h.roles.includes('restore')).map((h) => h.name);
    throw guardFailed(`${name} is not a restore host of cluster ${topology.cluster}`, hosts.length > 0 ? `restore to one of: ${hosts.join(', ')}` : 'add a machine with roles: [restore] to the topology and run `haflow install`');
  }
  return host;
}

async function leaderOf(topology: Topology): Promise<Host> {
  const health = await readClusterHealth({ topology });
  if (!health.leader) throw guardFailed(`cluster ${topology.cluster} has no leader now`, 'run `haflow list` and bring the cluster back first');
  return hostByName(topology, health.leader);
}

const measurementFile = (topology: Topology) => `${requireBackup(topology).settings.restore_dir}.haflow.json`;

/** The gate: a restore host, and a target time the repository can reach (not in the future, not before the oldest backup ended). */
export async function restoreGate(input: RestoreInput): Promise<StepResult> {
  const { topology } = input;
  const { host: repository, stanza } = requireBackup(topology);
  const to = restoreHost(topology, input.to);
  const info = await withHostSsh(targetFor(topology, repository), (ssh) => stanzaInfo(ssh, topology));
  if (info.backups.length === 0) throw guardFailed(`the repository on ${repository.name} holds no backup of ${stanza}`, `take one first: haflow backup ${topology.cluster}`);
  const oldest = info.backups[0];
  if (input.targetTime !== undefined) {
    const target = Date.parse(input.targetTime);
    if (Number.isNaN(target)) throw guardFailed(`--target-time ${input.targetTime} is not a time`, 'write it as ISO 8601 with its zone, such as 2026-12-08T02:30:00Z');
    if (target > Date.now()) throw guardFailed(`--target-time ${input.targetTime} is in the future`, 'give a time that has passed: the archive holds nothing later than now');
    if (target < Date.parse(oldest.stoppedAt)) {
      throw guardFailed(`--target-time ${input.targetTime} is before the oldest backup, ${oldest.label}, ended (${oldest.stoppedAt})`, `give a time after ${oldest.stoppedAt}; the repository keeps nothing older (backup.retention)`);
    }
  }
  // The leader's WAL up to now in the archive, so that a recent target is within reach: a dead
  // cluster cannot archive, and then the restore reaches what the archive holds.
  let archived = 'the leader archived its WAL up to now (pgbackrest check)';
  if (input.targetTime !== undefined && !input.check) {
    const checked = await withHostSsh(targetFor(topology, repository), (ssh) => ssh.exec(pgbackrest(topology, 'check'), { sudo: true, timeoutMs: 180_000 }));
    if (checked.code !== 0) archived = 'the leader could not archive its latest WAL now (the restore reaches what the archive holds)';
  }
  return stepResult([], `${to.name} takes the restore; the repository holds ${info.backups.length} backup(s), from ${oldest.stoppedAt}${input.targetTime ? `; the target ${new Date(input.targetTime).toISOString()} is within reach; ${archived}` : ''}`);
}

/**
 * The drill's known writes, on the leader in the probe database: rows before a target time, the
 * target time itself (the server's clock, a second after them), rows a second after it, then a
 * WAL switch archived (pgbackrest check), so the archive holds both sides.
 */
export async function writeRestoreMarkers(input: ClusterInput): Promise<StepResult> {
  const { topology, check } = input;
  const { host: repository } = requireBackup(topology);
  const leader = await leaderOf(topology);
  const run = runId();
  if (check) return stepResult([`would write ${DRILL_ROWS} rows on ${leader.name}, record a target time, write ${DRILL_ROWS} more and archive the WAL`], '');
  const recorded = await withHostSsh(targetFor(topology, leader), async (ssh) => {
    const exists = (await psql(ssh, topology, `SELECT 1 FROM pg_database WHERE datname = '${PROBE_DATABASE}'`)).trim() === '1';
    if (!exists) await psql(ssh, topology, `CREATE DATABASE ${PROBE_DATABASE}`);
    const r = `'${run.replace(/'/g, "''")}'`;
    const rows = (from: number) => Array.from({ length: DRILL_ROWS }, (_, i) => `INSERT INTO ${RESTORE_DRILL_TABLE} (run, n, payload) VALUES (${r}, ${from + i}, md5(random()::text)) ON CONFLICT DO NOTHING;`).join('\n');
    const out = await psql(
      ssh,
      topology,
      [
        `\\connect ${PROBE_DATABASE}`,
        `CREATE TABLE IF NOT EXISTS ${RESTORE_DRILL_TABLE} (run text NOT NULL, n int NOT NULL, payload text NOT NULL, written_at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (run, n));`,
        `CREATE TABLE IF NOT EXISTS ${RESTORE_DRILL_TARGETS} (run text PRIMARY KEY, target timestamptz NOT NULL, rows_before int NOT NULL, checksum text NOT NULL);`,
        `DELETE FROM ${RESTORE_DRILL_TABLE} WHERE written_at < now() - interval '30 days';`,
        // Retried, the step keeps what its first attempt recorded.
        `SELECT count(*) FROM ${RESTORE_DRILL_TARGETS} WHERE run = ${r} \\gset already_`,
        `\\if :already_count`,
        `\\else`,
        rows(1),
        'SELECT pg_sleep(1);',
        `CREATE TEMP TABLE target AS SELECT clock_timestamp() AS at;`,
        'SELECT pg_sleep(1);',
        rows(DRILL_ROWS + 1),
        `INSERT INTO ${RESTORE_DRILL_TARGETS} SELECT ${r}, (SELECT at FROM target), ${DRILL_ROWS}, md5(string_agg(n || ':' || payload, ',' ORDER BY n)) FROM ${RESTORE_DRILL_TABLE} WHERE run = ${r} AND n <= ${DRILL_ROWS};`,
        `\\endif`,
        `SELECT to_char(target AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || ' ' || checksum FROM ${RESTORE_DRILL_TARGETS} WHERE run = ${r};`,
        '',
      ].join('\n'),
    );
    const [target, checksum] = out.trim().split('\n').at(-1)!.split(' ');
    return { target, checksum };
  });
  // The WAL with the rows after the target reaches the archive: check switches to a new segment and waits for it.
  await withHostSsh(targetFor(topology, repository), async (ssh) => {
    const checked = await ssh.exec(pgbackrest(topology, 'check'), { sudo: true, timeoutMs: 180_000 });
    if (checked.code !== 0) throw pgbackrestFailed('pgbackrest check after the drill\'s writes', checked, repository);
  });
  return stepResult([`wrote ${DRILL_ROWS} rows on ${leader.name} before the target time ${recorded.target} and ${DRILL_ROWS} after it, and archived their WAL`], '', [], { target: recorded.target, checksum: recorded.checksum });
}

/** The target this run's marker step recorded, read on the leader. */
async function recordedTarget(topology: Topology): Promise<{ target: string; rowsBefore: number; checksum: string }> {
  const leader = await leaderOf(topology);
  const run = runId().replace(/'/g, "''");
  const out = await withHostSsh(targetFor(topology, leader), (ssh) =>
    psql(ssh, topology, `\\connect ${PROBE_DATABASE}\nSELECT to_char(target AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || ' ' || rows_before || ' ' || checksum FROM ${RESTORE_DRILL_TARGETS} WHERE run = '${run}';\n`),
  );
  const line = out.trim().split('\n').at(-1) ?? '';
  const [target, rowsBefore, checksum] = line.split(' ');
  if (!target || !checksum) throw guardFailed(`this run recorded no target time on ${leader.name}`, 'run the restore drill from its start: its first step records the target');
  return { target, rowsBefore: Number(rowsBefore), checksum };
}

/**
 * A target time as pgBackRest parses it to pick the backup set and PostgreSQL takes it as
 * recovery_target_time: "2026-12-08 02:30:00.123+00" (UTC, milliseconds kept).
 */
export function pgbackrestTargetTime(iso: string): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) throw new Error(`not a time: ${iso}`);
  return `${at.toISOString().replace('T', ' ').replace('Z', '')}+00`;
}

/** The restored server's own words on where recovery stopped. */
export function recoveryPointFromLog(log: string): string | undefined {
  const stopped = [...log.matchAll(/recovery stopping (?:before|after) commit of transaction \d+, time ([0-9-]+ [0-9:.]+(?:[+-]\d\d)?(?: UTC)?)/g)].at(-1)?.[1];
  const last = [...log.matchAll(/last completed transaction was at log time ([0-9-]+ [0-9:.]+(?:[+-]\d\d(?::\d\d)?)?)/g)].at(-1)?.[1];
  const found = last ?? stopped;
  if (!found) return undefined;
  const iso = found.replace(' UTC', '+00').replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00');
  const at = Date.parse(iso);
  return Number.isNaN(at) ? undefined : new Date(at).toISOString();
}

/**
 * The restore: an earlier restored server on the host stopped and its directory emptied (the
 * host serves restores only), pgBackRest's restore to the target time, and PostgreSQL started on
 * the host's socket only, with archiving and TLS off; it replays the archive to the target and
 * promotes. Measured from the restore's start to a database that answers as a primary.
 */
export async function restoreToHost(input: RestoreInput): Promise<StepResult> {
  const { topology, check } = input;
  const { settings, stanza } = requireBackup(topology);
  const to = restoreHost(topology, input.to);
  const dir = settings.restore_dir;
  const target = input.targetTime ? new Date(input.targetTime).toISOString() : check ? 'the drill\'s target time' : (await recordedTarget(topology)).target;
  if (check) return stepResult([`would empty ${dir} on ${to.name}, restore ${stanza} to ${target} there and start it on the host's socket`], '');
  const bin = postgresBinDir(topology);
  const port = topology.postgresql.port;
  const pgctl = `sudo -u postgres ${bin}/pg_ctl -D ${shellQuote(dir)}`;
  const measurement = await withHostSsh(targetFor(topology, to), async (ssh) => {
    await ssh.exec(`if [ -f ${shellQuote(dir)}/postmaster.pid ]; then ${pgctl} -m immediate -w stop; fi`, { sudo: true, timeoutMs: 120_000 });
    const startedAt = new Date();
    await ssh.check(`rm -rf ${shellQuote(dir)} && install -d -o postgres -g postgres -m 700 ${shellQuote(dir)}`, { sudo: true });
    const restored = await ssh.exec(
      `cd /tmp && sudo -u postgres pgbackrest --stanza=${shellQuote(stanza)} --pg1-path=${shellQuote(dir)} --type=time ${shellQuote(`--target=${pgbackrestTargetTime(target)}`)} --target-action=promote --log-level-console=info restore`,
      { sudo: true, timeoutMs: 6 * 3600_000 },
    );
    if (restored.code !== 0) throw pgbackrestFailed(`the restore of ${stanza} to ${target} on ${to.name}`, restored, to);
    const backupLabel = restored.stdout.match(/restore backup set (\S+)/)?.[1];
    const copiedAt = new Date();
    // The restored configuration is the node's (Patroni's): these options make it a standalone server on this host's socket.
    const options = [
      "-c listen_addresses=''",
      `-c port=${port}`,
      '-c unix_socket_directories=/var/run/postgresql',
      '-c archive_mode=off',
      '-c ssl=off',
      "-c synchronous_standby_names=''",
      `-c hba_file=${dir}/pg_hba.conf`,
      `-c ident_file=${dir}/pg_ident.conf`,
      "-c cluster_name=haflow-restore",
    ].join(' ');
    const started = await ssh.exec(`${pgctl} -l ${shellQuote(`${dir}/haflow-restore.log`)} -w -t 3600 -o ${shellQuote(options)} start`, { sudo: true, timeoutMs: 3600_000 });
    if (started.code !== 0) {
      const log = (await ssh.exec(`tail -20 ${shellQuote(`${dir}/haflow-restore.log`)}`, { sudo: true })).stdout;
      throw guardFailed(`the restored server on ${to.name} did not start: ${log.trim().split('\n').slice(-4).join(' ')}`, `read ${dir}/haflow-restore.log on ${to.name}`);
    }
    await waitFor(
      `the restored server on ${to.name} to reach ${target} and promote`,
      async () => {
        const out = await ssh.exec(`sudo -u postgres psql -X -At -h /var/run/postgresql -p ${port} -d postgres -c 'select pg_is_in_recovery()'`, { sudo: true });
        if (out.stdout.trim() === 'f') return { done: true };
        if (out.stdout.trim() === 't') return { notYet: 'still replaying the archive' };
        // A server that stopped replaying (the archive ends before the target) has shut down: say why now.
        if ((await ssh.exec(`${pgctl} status`, { sudo: true })).code !== 0) {
          const log = (await ssh.exec(`tail -20 ${shellQuote(`${dir}/haflow-restore.log`)}`, { sudo: true })).stdout;
          const short = /recovery ended before configured recovery target was reached/.test(log);
          throw guardFailed(
            short ? `the archive ends before ${target}: the restored server on ${to.name} replayed all of it and stopped short of the target` : `the restored server on ${to.name} stopped: ${log.trim().split('\n').slice(-3).join(' ')}`,
            short ? `the WAL up to the target is not in the archive (yet): retry once the leader has archived it (at most archive_timeout, ${requireBackup(topology).settings.archive_timeout_seconds} s, while it writes), or give an earlier --target-time; \`haflow backups ${topology.cluster}\` shows the archive's newest WAL` : `read ${dir}/haflow-restore.log on ${to.name}`,
          );
        }
        return { notYet: out.stderr.trim() };
      },
      { timeoutMs: 3600_000, intervalMs: 250 },
    );
    const queryableAt = new Date();
    const log = (await ssh.exec(`cat ${shellQuote(`${dir}/haflow-restore.log`)}`, { sudo: true })).stdout;
    const m: RestoreMeasurement = {
      run: runId(),
      target,
      startedAt: startedAt.toISOString(),
      copiedAt: copiedAt.toISOString(),
      queryableAt: queryableAt.toISOString(),
      restoreSeconds: Math.round((queryableAt.getTime() - startedAt.getTime()) / 100) / 10,
      ...(recoveryPointFromLog(log) ? { recoveryPoint: recoveryPointFromLog(log) } : {}),
      ...(backupLabel ? { backupLabel } : {}),
    };
    await ssh.check(`cat > ${shellQuote(measurementFile(topology))}`, { sudo: true, stdin: `${JSON.stringify(m, null, 1)}\n` });
    return m;
  });
  const copySeconds = Math.round((Date.parse(measurement.copiedAt) - Date.parse(measurement.startedAt)) / 100) / 10;
  return {
    changed: true,
    summary: `restored ${stanza} to ${target} on ${to.name}${measurement.backupLabel ? ` from backup ${measurement.backupLabel}` : ''}: queryable after ${measurement.restoreSeconds} s (files ${copySeconds} s, replay and promotion ${Math.round((measurement.restoreSeconds - copySeconds) * 10) / 10} s); recovery point ${measurement.recoveryPoint ?? 'not in the log'}; it runs on ${to.name}'s socket only (sudo -u postgres psql -p ${port})`,
    facts: { restoreSeconds: measurement.restoreSeconds, target, ...(measurement.recoveryPoint ? { recoveryPoint: measurement.recoveryPoint } : {}) },
  };
}

/**
 * The drill's verdict on the restored copy: every row written before the target is there with
 * the same checksum, none written after it is; the restore's time and recovery point against
 * objectives.restore_seconds and objectives.recovery_point_seconds.
 */
export async function verifyRestoreDrill(input: RestoreInput): Promise<StepResult> {
  const { topology, check } = input;
  const to = restoreHost(topology, input.to);
  if (check) return stepResult([], `would compare the restored copy on ${to.name} with the rows written before and after the target`);
  const recorded = await recordedTarget(topology);
  const run = runId().replace(/'/g, "''");
  const port = topology.postgresql.port;
  const { measurement, counts } = await withHostSsh(targetFor(topology, to), async (ssh: SshSession) => {
    const m = JSON.parse((await ssh.check(`cat ${shellQuote(measurementFile(topology))}`, { sudo: true })).trim()) as RestoreMeasurement;
    const out = await ssh.check(`sudo -u postgres psql -X -At -h /var/run/postgresql -p ${port} -d ${PROBE_DATABASE}`, {
      sudo: true,
      stdin: `SELECT count(*) FILTER (WHERE n <= ${recorded.rowsBefore}) || ' ' || count(*) FILTER (WHERE n > ${recorded.rowsBefore}) || ' ' || coalesce(md5(string_agg(n || ':' || payload, ',' ORDER BY n) FILTER (WHERE n <= ${recorded.rowsBefore})), '') FROM ${RESTORE_DRILL_TABLE} WHERE run = '${run}';\n`,
    });
    const [before, after, checksum] = out.trim().split(' ');
    return { measurement: m, counts: { before: Number(before), after: Number(after), checksum } };
  });
  const problems: string[] = [];
  if (counts.before !== recorded.rowsBefore) problems.push(`${counts.before} of the ${recorded.rowsBefore} rows written before the target are in the restored copy`);
  if (counts.after !== 0) problems.push(`${counts.after} row(s) written after the target are in the restored copy`);
  if (counts.checksum !== recorded.checksum) problems.push('the rows written before the target differ from what was written (checksum)');
  const objectives = topology.objectives;
  const lostSeconds = measurement.recoveryPoint ? (Date.parse(recorded.target) - Date.parse(measurement.recoveryPoint)) / 1000 : undefined;
  if (objectives?.restore_seconds !== undefined && measurement.restoreSeconds > objectives.restore_seconds) problems.push(`the restore took ${measurement.restoreSeconds} s, over objectives.restore_seconds ${objectives.restore_seconds}`);
  if (objectives?.recovery_point_seconds !== undefined && (lostSeconds === undefined || lostSeconds > objectives.recovery_point_seconds)) {
    problems.push(lostSeconds === undefined ? 'the restored server logged no recovery point' : `the recovery point is ${lostSeconds.toFixed(1)} s before the target, over objectives.recovery_point_seconds ${objectives.recovery_point_seconds}`);
  }
  const said = `restore ${measurement.restoreSeconds} s to a queryable database; recovery point ${measurement.recoveryPoint ?? 'unknown'} (${lostSeconds !== undefined ? `${lostSeconds.toFixed(1)} s before` : '?'} the target ${recorded.target}); ${counts.before} of ${recorded.rowsBefore} rows before the target present with the same checksum, ${counts.after} after it`;
  if (problems.length > 0) throw guardFailed(`the restore drill on ${to.name} failed: ${problems.join('; ')} (${said})`, `read ${requireBackup(topology).settings.restore_dir}/haflow-restore.log on ${to.name} and \`haflow backups ${topology.cluster}\``);
  return stepResult([], `PASS: ${said}`, [], { restoreSeconds: measurement.restoreSeconds, ...(lostSeconds !== undefined ? { recoveryPointLagSeconds: Math.round(lostSeconds * 10) / 10 } : {}) });
}
