// pgBackRest's configuration, pure. The repository lives on the backup host; the DB nodes reach
// it, and it reaches them, over SSH with keys haflow gives pgBackRest alone (./access.ts). SSH
// rather than pgBackRest's own TLS server: sshd already runs on every host haflow manages and
// the worker already holds each host's verified host key, so no new daemon or port is opened on
// a DB node, nothing trusts a key on first sight, and it works the same with and without the
// cluster's TLS.
import type { Host, Topology } from '../../topology/schema';
import { dbHosts, requireBackup, sshTarget } from '../../topology/derive';
import type { SecretText } from '../shared/component';
import type { ManagedFile } from '../shared/remote-files';
import { hashComment, managedHeader } from '../shared/render';

/** Debian's place for it (the package ships an example there). */
export const pgbackrestConfigPath = '/etc/pgbackrest.conf';
/** pgBackRest's own SSH: its key, known_hosts and the command that uses them (cmd-ssh). */
export const BACKUP_SSH_DIR = '/etc/haflow/backup';
export const BACKUP_SSH_KEY = `${BACKUP_SSH_DIR}/id_ed25519`;
export const BACKUP_KNOWN_HOSTS = `${BACKUP_SSH_DIR}/known_hosts`;
export const BACKUP_SSH_COMMAND = `${BACKUP_SSH_DIR}/ssh`;
/** archive-async's queue on the DB nodes (Debian's package makes it, for postgres). */
export const SPOOL_PATH = '/var/spool/pgbackrest';
/** The DB nodes' OS user: PostgreSQL's, which runs archive_command and Patroni's replica creation. */
export const DB_OS_USER = 'postgres';

/** The OS user pgBackRest runs as on this host, and so the owner of its key. */
export function backupOsUser(topology: Topology, host: Host): string {
  return host.roles.includes('backup') ? requireBackup(topology).settings.user : DB_OS_USER;
}

/** The commands Patroni's configuration names (archive_command, restore_command, the replica method). */
export function archiveCommands(topology: Topology): { archive: string; restore: string; replica: string } {
  const { stanza } = requireBackup(topology);
  return {
    archive: `pgbackrest --stanza=${stanza} archive-push %p`,
    restore: `pgbackrest --stanza=${stanza} archive-get %f "%p"`,
    // --delta keeps what matches in an old data directory: a rejoining replica copies only what differs.
    replica: `pgbackrest --stanza=${stanza} --delta restore`,
  };
}

const ini = (sections: [string, Record<string, string | number>][]) =>
  sections.map(([name, options]) => [`[${name}]`, ...Object.entries(options).map(([k, v]) => `${k}=${v}`)].join('\n')).join('\n\n');

/** The repository's side: where it is, its encryption and retention, and every DB node it backs up. */
export function renderRepositoryConfig(topology: Topology, host: Host, secret: SecretText): string {
  const { settings, stanza } = requireBackup(topology);
  const retention: Record<string, string | number> =
    settings.retention.full !== undefined
      ? { 'repo1-retention-full-type': 'count', 'repo1-retention-full': settings.retention.full }
      : { 'repo1-retention-full-type': 'time', 'repo1-retention-full': settings.retention.full_days! };
  if (settings.retention.diff !== undefined) retention['repo1-retention-diff'] = settings.retention.diff;
  const nodes: Record<string, string | number> = {};
  dbHosts(topology).forEach((db, i) => {
    const n = i + 1;
    nodes[`pg${n}-host`] = db.address;
    nodes[`pg${n}-host-user`] = DB_OS_USER;
    nodes[`pg${n}-host-port`] = sshTarget(topology, db).port;
    nodes[`pg${n}-path`] = topology.postgresql.data_dir;
    nodes[`pg${n}-port`] = topology.postgresql.port;
    nodes[`pg${n}-socket-path`] = '/var/run/postgresql';
  });
  const header = [...managedHeader(topology, `pgBackRest's repository on ${host.name}`), `Holds the repository's passphrase: keep it root:${settings.user}, mode 0640.`];
  return `${hashComment(header)}\n\n${ini([
    [
      'global',
      {
        'repo1-path': settings.repository_path,
        'repo1-cipher-type': 'aes-256-cbc',
        'repo1-cipher-pass': secret(settings.passphrase, 'backup.passphrase', { noBlanksBecause: "pgBackRest's configuration file trims a value's blanks" }),
        ...retention,
        'compress-type': settings.compress,
        'process-max': settings.process_max,
        // A backup starts at once with a checkpoint, rather than waiting up to checkpoint_timeout.
        'start-fast': 'y',
        'cmd-ssh': BACKUP_SSH_COMMAND,
        'log-level-console': 'warn',
        'log-level-file': 'info',
      },
    ],
    [stanza, nodes],
  ])}\n`;
}

/** A DB node's side (where its data is, and the repository host it archives to and restores from), or a restore host's (where restores go). */
export function renderNodeConfig(topology: Topology, host: Host): string {
  const { settings, host: repository, stanza } = requireBackup(topology);
  const restoreHost = !host.roles.includes('db');
  const header = managedHeader(topology, restoreHost ? `pgBackRest on ${host.name}: restores from the repository on ${repository.name} into ${settings.restore_dir}` : `pgBackRest on ${host.name}: archive-push and restores go to the repository on ${repository.name}`);
  return `${hashComment(header)}\n\n${ini([
    [
      'global',
      {
        'repo1-host': repository.address,
        'repo1-host-user': settings.user,
        'repo1-host-port': sshTarget(topology, repository).port,
        'cmd-ssh': BACKUP_SSH_COMMAND,
        // archive_command returns as soon as the WAL is queued; pgBackRest pushes the queue in parallel.
        'archive-async': 'y',
        'spool-path': SPOOL_PATH,
        'process-max': settings.process_max,
        'log-level-console': 'warn',
        'log-level-file': 'info',
      },
    ],
    [
      stanza,
      {
        'pg1-path': restoreHost ? settings.restore_dir : topology.postgresql.data_dir,
        'pg1-port': topology.postgresql.port,
        'pg1-socket-path': '/var/run/postgresql',
      },
    ],
  ])}\n`;
}

/**
 * The SSH command pgBackRest runs (cmd-ssh): haflow's key for it and the host keys the worker
 * verified, never a prompt; from this host's own address, the one the other side accepts the
 * key from.
 */
export function renderSshCommand(topology: Topology, host: Host): string {
  const header = managedHeader(topology, `the SSH pgBackRest uses on ${host.name}`);
  const options = [
    `-i ${BACKUP_SSH_KEY}`,
    `-o UserKnownHostsFile=${BACKUP_KNOWN_HOSTS}`,
    '-o StrictHostKeyChecking=yes',
    '-o BatchMode=yes',
    '-o IdentitiesOnly=yes',
    `-o BindAddress=${host.address}`,
    '-o ConnectTimeout=10',
    // A dead peer ends the connection in 30 s rather than holding an archive-push forever.
    '-o ServerAliveInterval=10',
    '-o ServerAliveCountMax=3',
  ];
  return `#!/bin/sh\n${hashComment(header)}\nexec /usr/bin/ssh ${options.join(' ')} "$@"\n`;
}

/** Every file of the backup component on a host: the repository's or a DB node's configuration, and the SSH command. */
export function backupFiles(topology: Topology, host: Host, secret: SecretText): ManagedFile[] {
  if (!topology.backup) return [];
  const isRepository = host.roles.includes('backup');
  const user = backupOsUser(topology, host);
  return [
    isRepository
      ? { path: pgbackrestConfigPath, content: renderRepositoryConfig(topology, host, secret), owner: 'root', group: user, mode: 0o640, secret: 'passwords' as const, passwordKeys: ['repo1-cipher-pass'] }
      : { path: pgbackrestConfigPath, content: renderNodeConfig(topology, host), owner: 'root', group: user, mode: 0o640 },
    { path: BACKUP_SSH_COMMAND, content: renderSshCommand(topology, host), owner: 'root', group: 'root', mode: 0o755 },
  ];
}
