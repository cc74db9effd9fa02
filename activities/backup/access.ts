// pgBackRest's SSH between the repository and the DB nodes, both ways: the repository's user
// reaches each node's postgres (backups, the replica's files), each node's postgres reaches the
// repository's user (archive-push, archive-get, restores). Each side has a key of its own for
// this (./config.ts BACKUP_SSH_KEY), accepted from the other side's addresses only.
import type { Host, Topology } from '../../topology/schema';
import { dbHosts, requireBackup, restoreHosts, sshTarget } from '../../topology/derive';
import type { ClusterInput, StepResult } from '../contract';
import { authorizeKeyFrom, workerKnownHostLines } from '../shared/host-keys';
import { targetFor, withHostSsh, type SshSession } from '../shared/ssh';
import { shellQuote } from '../shared/shell';
import { guardFailed, stepResult } from '../shared/step';
import { BACKUP_KNOWN_HOSTS, BACKUP_SSH_COMMAND, BACKUP_SSH_DIR, BACKUP_SSH_KEY, backupOsUser } from './config';

/** The host's pgBackRest key, made once (owned by the user pgBackRest runs as there); its public half. */
export async function ensureBackupKey(ssh: SshSession, topology: Topology, host: Host, check: boolean): Promise<{ publicKey?: string; action?: string }> {
  const user = backupOsUser(topology, host);
  const existing = await ssh.exec(`cat ${BACKUP_SSH_KEY}.pub`, { sudo: true });
  if (existing.code === 0) return { publicKey: existing.stdout.trim() };
  if (check) return { action: `would create ${host.name}'s pgBackRest SSH key ${BACKUP_SSH_KEY} for ${user}` };
  const u = shellQuote(user);
  const out = await ssh.check(
    `install -d -m 750 -o root -g ${u} ${BACKUP_SSH_DIR} && ssh-keygen -q -t ed25519 -N '' -C haflow-backup@${shellQuote(host.name)} -f ${BACKUP_SSH_KEY} && chown ${u}:${u} ${BACKUP_SSH_KEY} ${BACKUP_SSH_KEY}.pub && chmod 600 ${BACKUP_SSH_KEY} && cat ${BACKUP_SSH_KEY}.pub`,
    { sudo: true },
  );
  return { publicKey: out.trim(), action: `created ${host.name}'s pgBackRest SSH key ${BACKUP_SSH_KEY} for ${user}` };
}

/** known_hosts of pgBackRest's SSH on `on`: exactly the host keys of `peers`, from the worker's known_hosts. */
async function ensureKnownHosts(ssh: SshSession, topology: Topology, on: Host, peers: Host[], check: boolean): Promise<string | undefined> {
  const wanted = `${peers.flatMap((peer) => workerKnownHostLines(topology, on, peer, 'sends backups and WAL to')).join('\n')}\n`;
  const now = await ssh.exec(`cat ${BACKUP_KNOWN_HOSTS}`, { sudo: true });
  if (now.stdout === wanted) return undefined;
  if (!check) await ssh.check(`cat > ${BACKUP_KNOWN_HOSTS}.tmp && chmod 644 ${BACKUP_KNOWN_HOSTS}.tmp && mv ${BACKUP_KNOWN_HOSTS}.tmp ${BACKUP_KNOWN_HOSTS}`, { sudo: true, stdin: wanted });
  return `${check ? 'would write' : 'wrote'} the host keys of ${peers.map((p) => p.name).join(', ')} to ${on.name}:${BACKUP_KNOWN_HOSTS}`;
}

/** `from` reaches `to` with pgBackRest's SSH as pgBackRest would; a guard failure with what SSH said otherwise. */
async function reaches(ssh: SshSession, topology: Topology, from: Host, to: Host): Promise<void> {
  const user = backupOsUser(topology, from);
  const toUser = backupOsUser(topology, to);
  const { port } = sshTarget(topology, to);
  const run = await ssh.exec(`sudo -u ${shellQuote(user)} ${BACKUP_SSH_COMMAND} -p ${port} ${shellQuote(`${toUser}@${to.address}`)} true`, { sudo: true, timeoutMs: 30_000 });
  if (run.code !== 0) {
    throw guardFailed(
      `${from.name} (${user}) cannot reach ${toUser}@${to.name} with pgBackRest's SSH: ${run.stderr.trim().slice(-300)}`,
      `check that ${from.name} reaches ${to.address} on SSH port ${port} (firewall) and that sshd on ${to.name} allows ${toUser} to log in with a key, then retry`,
    );
  }
}

/**
 * The trust both ways between the repository and every DB node, and from each restore host to
 * the repository (restores only read it), then a login each way to prove it.
 */
export async function ensureBackupAccess(input: ClusterInput): Promise<StepResult> {
  const { topology, check } = input;
  const { host: repository } = requireBackup(topology);
  const nodes = [...dbHosts(topology), ...restoreHosts(topology)];
  const twoWay = (node: Host) => node.roles.includes('db');
  const actions: string[] = [];
  await withHostSsh(targetFor(topology, repository), async (repo) => {
    const repoKey = await ensureBackupKey(repo, topology, repository, check);
    if (repoKey.action) actions.push(repoKey.action);
    const known = await ensureKnownHosts(repo, topology, repository, nodes.filter(twoWay), check);
    if (known) actions.push(known);
    for (const node of nodes) {
      await withHostSsh(targetFor(topology, node), async (db) => {
        const nodeKey = await ensureBackupKey(db, topology, node, check);
        if (nodeKey.action) actions.push(nodeKey.action);
        const nodeKnown = await ensureKnownHosts(db, topology, node, [repository], check);
        if (nodeKnown) actions.push(nodeKnown);
        const repoUser = backupOsUser(topology, repository);
        const nodeUser = backupOsUser(topology, node);
        // In check mode on a bare machine the repository's user does not exist yet (backup.config creates it).
        const userMissing = check && (await repo.exec(`id -u ${shellQuote(repoUser)}`)).code !== 0;
        const onRepo = userMissing ? `its authorized keys, once backup.config has created ${repoUser}` : await authorizeKeyFrom(repo, repoUser, nodeKey.publicKey, node, check);
        if (onRepo) actions.push(`${check ? 'would authorize' : 'authorized'} ${node.name}'s pgBackRest key for ${repoUser} on ${repository.name}, from ${node.address} only (${onRepo})`);
        if (twoWay(node)) {
          const onNode = await authorizeKeyFrom(db, nodeUser, repoKey.publicKey, repository, check);
          if (onNode) actions.push(`${check ? 'would authorize' : 'authorized'} ${repository.name}'s pgBackRest key for ${nodeUser} on ${node.name}, from ${repository.address} only (${onNode})`);
        }
        if (!check) {
          if (twoWay(node)) await reaches(repo, topology, repository, node);
          await reaches(db, topology, node, repository);
        }
      });
    }
  });
  return stepResult(actions, `${repository.name} and ${nodes.filter(twoWay).map((n) => n.name).join(', ')} reach each other with pgBackRest's SSH keys, both ways${nodes.some((n) => !twoWay(n)) ? `; ${nodes.filter((n) => !twoWay(n)).map((n) => n.name).join(', ')} reach the repository` : ''}`);
}
