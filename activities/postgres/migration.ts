// The classic cluster before its migration to Patroni: that it is what the plan says (the master a
// primary, every slave streaming from it, nobody fenced), and a backup of it taken on each DB node
// first (the Patroni guide: back up and remove the old configuration), the master's with a base
// backup of the database. Both run on the migration's topology, whose DB hosts are the classic ones.
import type { Topology } from '../../topology';
import type { HostInput, StepResult } from '../contract';
import { backupStamp, BACKUP_DIR } from '../shared/remote-files';
import { resolveSecret } from '../shared/secrets';
import { unitState } from '../shared/services';
import { targetFor, withHostSsh } from '../shared/ssh';
import { shellQuote } from '../shared/shell';
import { guardFailed, hostOf, onHost, stepResult } from '../shared/step';
import { classicCluster, hostByName } from '../../topology/derive';
import { memberStatus } from '../patroni/rest';
import { classicClusterState, fenceMarkerPath, isFenced } from './classic-failover';
import { streamingFrom } from './streaming';

/** Where a migration's backup lives on each DB node; one per migration's cluster. */
export function migrationBackupDir(topology: Topology): string {
  return `${BACKUP_DIR}/migrate-${topology.cluster}`;
}

/** What of the old configuration is archived: the cluster's configuration, and the application's HA directory and settings. */
export function migrationConfigPaths(topology: Topology): string[] {
  const paths = [classicCluster(topology).confDir];
  if (topology.app) paths.push(topology.app.ha_dir, ...topology.app.config_files.map((f) => f.path));
  return paths;
}

/**
 * The classic cluster as planned: `host` (the master) runs Debian's cluster as an unfenced primary,
 * and every standby streams from it. A master Patroni already leads (a resumed or repeated
 * migration) passes as it is.
 */
export async function classicSourceReady(input: HostInput & { standbys: string[] }): Promise<StepResult> {
  const { topology } = input;
  const master = hostOf(input);
  return onHost(input, async (ssh) => {
    if ((await unitState(ssh, 'patroni')).active === 'active') {
      const status = await memberStatus(input).catch(() => undefined);
      if (status?.role === 'primary' || status?.role === 'master') return stepResult([], `${master.name} runs under Patroni already, as its leader: the database was handed over before`);
    }
    if (await isFenced(ssh, topology)) {
      throw guardFailed(
        `${master.name} is fenced (${fenceMarkerPath(topology)}): a failover moved the database away from it`,
        `plan the migration with the node that is the primary now as the master (app.master in both topologies), or switch back first (\`haflow app switchback\`)`,
      );
    }
    const state = await classicClusterState(ssh, topology);
    if (state !== 'primary') {
      throw guardFailed(
        `${master.name}'s PostgreSQL ${classicCluster(topology).version}/main is ${state === 'standby' ? 'a standby' : 'not running'}: the migration was planned with it as the primary`,
        state === 'standby' ? 'plan the migration with the primary as the master (app.master in both topologies)' : `start it (pg_ctlcluster ${classicCluster(topology).version} main start), then \`haflow resume <cluster> --retry\``,
      );
    }
    const seen: string[] = [];
    for (const name of input.standbys) {
      const standby = hostByName(topology, name);
      const sender = await withHostSsh(targetFor(topology, standby), (s) => streamingFrom(s, topology));
      if (sender !== master.address && sender !== master.name) {
        throw guardFailed(
          `${name} does not stream from ${master.name} (${sender ? `its WAL receiver is connected to ${sender}` : 'no WAL receiver streams'}): Patroni would not take it over as a replica as it is`,
          `bring the classic cluster back to health first (\`haflow install <classic topology>\` rebuilds the standby), then \`haflow resume <cluster> --retry\``,
        );
      }
      seen.push(`${name} streams from it`);
    }
    return stepResult([], `${master.name} is the classic cluster's primary, not fenced; ${seen.join(', ') || 'no standby'}`);
  });
}

/**
 * A backup on this DB node before anything changes, once per migration: the old configuration
 * (see migrationConfigPaths) as a tar archive, and on the master a base backup of the database
 * (pg_basebackup as the replication user, compressed tar), with SHA256SUMS over both.
 */
export async function backupBeforeMigration(input: HostInput & { database?: boolean }): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const dir = migrationBackupDir(topology);
    const done = await ssh.exec(`cat ${shellQuote(`${dir}/DONE`)} 2>/dev/null`, { sudo: true });
    if (done.code === 0 && done.stdout.trim()) return stepResult([], `${host.name}: backed up before the migration in ${dir} (${done.stdout.trim()})`);
    const existing = (await ssh.exec(`for p in ${migrationConfigPaths(topology).map(shellQuote).join(' ')}; do [ -e "$p" ] && echo "$p"; done`, { sudo: true })).stdout.split('\n').filter(Boolean);
    const stamp = backupStamp();
    const actions = [
      `archive ${existing.join(', ')} to ${dir}/config-${stamp}.tar.gz`,
      ...(input.database ? [`take a base backup of PostgreSQL ${topology.postgresql.version}/main (pg_basebackup, compressed tar) into ${dir}/base-${stamp}`] : []),
      `write SHA256SUMS in ${dir}`,
    ];
    if (check) return stepResult(actions.map((a) => `would ${a}`), '');
    const { port, replication } = topology.postgresql;
    const script = [
      'set -e',
      `install -d -m 700 ${shellQuote(dir)}`,
      `tar -czPf ${shellQuote(`${dir}/config-${stamp}.tar.gz`)} ${existing.map(shellQuote).join(' ')}`,
      ...(input.database
        ? [
            // The password reaches pg_basebackup through the environment of this script, read from stdin.
            `export PGPASSWORD=${shellQuote(resolveSecret(replication.password, 'postgresql.replication.password'))}`,
            // As root, into root's directory: it logs in over TCP as the replication user.
            `pg_basebackup -h ${shellQuote(host.address)} -p ${port} -U ${shellQuote(replication.username)} -D ${shellQuote(`${dir}/base-${stamp}`)} -Ft -z -X fetch -c fast -w`,
          ]
        : []),
      `cd ${shellQuote(dir)} && find . -type f ! -name SHA256SUMS ! -name DONE -print0 | sort -z | xargs -0 sha256sum > SHA256SUMS`,
      `du -sh ${shellQuote(dir)} | cut -f1`,
    ].join('\n');
    const size = (await ssh.check('sh -s', { sudo: true, stdin: `${script}\n`, timeoutMs: 6 * 3600_000 })).trim().split('\n').pop() ?? '';
    const record = `${new Date().toISOString()}, ${size}${input.database ? ', with a base backup' : ''}`;
    await ssh.check(`sh -c ${shellQuote(`echo ${shellQuote(record)} > ${dir}/DONE`)}`, { sudo: true });
    return stepResult(actions.map((a) => a.replace(/^(archive|take|write)/, (w) => ({ archive: 'archived', take: 'took', write: 'wrote' })[w]!)), '', [], { backupDir: dir, size });
  });
}
