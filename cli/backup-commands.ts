// The backup commands: `haflow backup` (a runbook: gate, backup, verify) and `haflow backups`
// (the repository and the archive, read by a worker; exit 1 on a problem).
import type { Command } from 'commander';
import { formatBytes } from '../activities/backup/info';
import type { BackupReport } from '../activities/backup/activities';
import { startRunbook } from '../client/api';
import { readBackups } from '../client/cluster';
import { backupSteps, type BackupArgs } from '../runbooks/backup';
import { restoreSteps, type RestoreArgs } from '../runbooks/restore';
import { BACKUP_TYPES, type BackupType, type Topology } from '../topology';
import { formatPlan } from './progress';
import { checkAndReport, connect, follow, oneOf, onCluster, printJson, say } from './support';

export function registerBackupCommands(program: Command): void {
  program
    .command('backup')
    .description("a backup with pgBackRest into the cluster's repository, read from a streaming replica when one streams; verified with pgbackrest info and check; the report gives its size, duration and WAL range")
    .argument('<cluster>', 'cluster name, or a topology YAML file')
    .option('--type <type>', `${BACKUP_TYPES.join(', ')}: a full copy, what changed since the last full one, or since the last backup`, oneOf(BACKUP_TYPES), 'full')
    .option('--plan', 'print the steps, start nothing')
    .option('--check', 'ask the machines what it would do, change nothing')
    .option('--detach', 'start it and return at once')
    .option('--json', 'print the outcome as JSON (the progress goes to stderr)')
    .action(onCluster(backupCommand));

  program
    .command('restore')
    .description("point-in-time recovery onto a restore host (role restore): the newest backup before the target and the archive up to it, started there as a standalone PostgreSQL on the host's socket; nothing of the running cluster is touched. --drill: a restore drill that writes rows on either side of a target time first and checks the restored copy against them")
    .argument('<cluster>', 'cluster name, or a topology YAML file')
    .requiredOption('--to <host>', 'the restore host')
    .option('--target-time <time>', 'the time to recover to (ISO 8601 with its zone, such as 2026-12-08T02:30:00Z)')
    .option('--drill', 'a restore drill: the target is chosen between two known writes, and the copy is checked against them')
    .option('--plan', 'print the steps, start nothing')
    .option('--check', 'ask the machines what it would do, change nothing')
    .option('--detach', 'start it and return at once')
    .option('--json', 'print the outcome as JSON (the progress goes to stderr)')
    .action(onCluster(restoreCommand));

  program
    .command('backups')
    .description("the cluster's backups (newest last), the archive's newest WAL and how far it is behind the leader, the repository's size; exit 1 naming each problem")
    .argument('<cluster>', 'cluster name, or a topology YAML file')
    .option('--json', 'the report as JSON')
    .action(onCluster(backupsCommand));
}

function refusedWithoutBackups(topology: Topology): boolean {
  if (topology.backup) return false;
  say(`cluster ${topology.cluster} has no backups: add a backup: section and a host with role backup to its topology, then run \`haflow install\` (docs/backups.md)`);
  return true;
}

async function backupCommand(topology: Topology, opts: { type: BackupType; plan?: boolean; check?: boolean; detach?: boolean; json?: boolean }): Promise<number> {
  if (refusedWithoutBackups(topology)) return 2;
  const args: BackupArgs = { type: opts.type };
  if (opts.plan) {
    say(formatPlan(backupSteps(topology, args), `${opts.type} backup`));
    return 0;
  }
  const client = await connect();
  if (opts.check) return checkAndReport(client, 'backup', topology, args, 'backup');
  const handle = await startRunbook(client, 'backup', topology, args);
  say(`started a ${opts.type} backup of cluster ${topology.cluster}: workflow ${handle.workflowId}`);
  if (opts.detach) return 0;
  return follow(handle, topology.cluster, 'backup', {}, { json: opts.json });
}

async function restoreCommand(topology: Topology, opts: { to: string; targetTime?: string; drill?: boolean; plan?: boolean; check?: boolean; detach?: boolean; json?: boolean }): Promise<number> {
  if (refusedWithoutBackups(topology)) return 2;
  if ((opts.targetTime === undefined) === (opts.drill !== true)) {
    say('restore needs exactly one of --target-time <time> (a restore to that time) and --drill (a restore drill, which picks its own target)');
    return 2;
  }
  if (opts.targetTime !== undefined && Number.isNaN(Date.parse(opts.targetTime))) {
    say(`restore refused: --target-time ${opts.targetTime} is not a time; write it as ISO 8601 with its zone, such as 2026-12-08T02:30:00Z`);
    return 2;
  }
  const args: RestoreArgs = { to: opts.to, ...(opts.targetTime ? { targetTime: new Date(opts.targetTime).toISOString() } : {}) };
  const what = opts.drill ? `restore drill onto ${opts.to}` : `restore to ${args.targetTime} onto ${opts.to}`;
  if (opts.plan) {
    say(formatPlan(restoreSteps(topology, args), what));
    return 0;
  }
  const client = await connect();
  if (opts.check) return checkAndReport(client, 'restore', topology, args, 'restore');
  const handle = await startRunbook(client, 'restore', topology, args);
  say(`started the ${what} of cluster ${topology.cluster}: workflow ${handle.workflowId}`);
  if (opts.detach) return 0;
  return follow(handle, topology.cluster, opts.drill ? 'restore drill' : 'restore', {}, { json: opts.json });
}

async function backupsCommand(topology: Topology, opts: { json?: boolean }): Promise<number> {
  if (refusedWithoutBackups(topology)) return 2;
  const report = await readBackups(await connect(), topology);
  if (opts.json) printJson(report);
  else say(formatBackupReport(report));
  return report.problems.length === 0 ? 0 : 1;
}

/** `haflow backups` as an operator reads it: a table of backups, then the archive, then the verdict. */
export function formatBackupReport(report: BackupReport): string {
  const { info } = report;
  const lines = [
    `cluster ${report.cluster}: stanza ${report.stanza} in the repository on ${report.repositoryHost}${report.repositoryBytes !== undefined ? ` (${formatBytes(report.repositoryBytes)} on disk)` : ''}${info.cipher ? `, encrypted ${info.cipher}` : ''}; pgBackRest says: ${info.statusMessage}${info.backupRunning ? ' (a backup runs now)' : ''}`,
    '',
  ];
  if (info.backups.length > 0) {
    const rows = [
      ['label', 'type', 'started (UTC)', 'seconds', 'database', 'in repository', 'WAL from … to'],
      ...info.backups.map((b) => [b.label, b.type, b.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ''), String(b.seconds), formatBytes(b.databaseBytes), formatBytes(b.repositoryBytes), b.walStart && b.walStop ? `${b.walStart} … ${b.walStop}` : '']),
    ];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    lines.push(...rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd()), '');
  }
  const a = report.archiver;
  lines.push(
    `archive: ${info.archiveMin && info.archiveMax ? `${info.archiveMin} … ${info.archiveMax}` : 'empty'}` +
      (a ? `; the leader ${a.leader} writes ${a.currentWal}${report.archiveLagSegments !== undefined ? `, ${report.archiveLagSegments} finished segment(s) not archived yet` : ''}${report.archiveAgeSeconds !== undefined ? `, last archived ${report.archiveAgeSeconds} s ago` : ''}${a.failedCount > 0 ? `, ${a.failedCount} failed attempt(s) since the statistics were reset` : ''}` : '; no leader answered'),
  );
  lines.push(report.problems.length === 0 ? 'no problems' : `problems:\n${report.problems.map((p) => `  - ${p}`).join('\n')}`);
  return lines.join('\n');
}
