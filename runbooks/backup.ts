// `haflow backup` as data: a gate, the backup, its verification. Pure, like every runbook:
// `haflow backup --plan` prints these steps.
import type { BackupType, Topology } from '../topology/schema';
import { requireBackup } from '../topology/derive';
import { stepOf, type Runbook } from './runbook';

export interface BackupArgs {
  type: BackupType;
}

const TYPE_WORDS: Record<BackupType, string> = {
  full: 'A full backup',
  diff: 'A differential backup (what changed since the last full one)',
  incr: 'An incremental backup (what changed since the last backup)',
};

export function backupSteps(topology: Topology, args: BackupArgs): Runbook {
  const hb = { heartbeatSeconds: 10 };
  const { settings, host, stanza } = requireBackup(topology);
  return {
    name: 'backup',
    cluster: topology.cluster,
    items: [
      stepOf('backupGate', { ...hb, id: 'backup.gate', title: `Gate: a leader to back up, and the stanza ${stanza} usable in the repository on ${host.name}`, kind: 'guard', guard: 'a backup starts only with a leader and a usable stanza, and never beside another', timeoutSeconds: 120 }, {}),
      stepOf(
        'takeBackup',
        { ...hb, id: 'backup.take', title: `${TYPE_WORDS[args.type]} of ${stanza}${settings.from_standby ? ', read from a streaming replica when one streams' : ', read from the leader'}, into the repository on ${host.name}`, kind: 'change', timeoutSeconds: 6 * 3600 },
        { type: args.type },
      ),
      stepOf('verifyBackup', { ...hb, id: 'backup.verify', title: "The backup is in the repository with the WAL it needs, and the leader's WAL reaches the archive (pgbackrest info, pgbackrest check)", kind: 'verify', timeoutSeconds: 300 }, {}),
    ],
  };
}
