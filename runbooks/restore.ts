// `haflow restore --to` and the restore drill as data. Pure, like every runbook.
// A restore to a restore host touches nothing of the running cluster; a drill writes its known
// rows on the leader first (into the write probe's own database, never the application's).
import type { Topology } from '../topology/schema';
import { requireBackup } from '../topology/derive';
import { stepOf, type Runbook } from './runbook';

export interface RestoreArgs {
  /** The restore host (role restore). */
  to: string;
  /** ISO 8601; absent for a drill, which picks its own between two known writes. */
  targetTime?: string;
}

export function restoreSteps(topology: Topology, args: RestoreArgs): Runbook {
  const hb = { heartbeatSeconds: 10 };
  const { settings, host, stanza } = requireBackup(topology);
  const drill = args.targetTime === undefined;
  const input = { to: args.to, ...(args.targetTime ? { targetTime: args.targetTime } : {}) };
  return {
    name: drill ? 'restore-drill' : 'restore',
    cluster: topology.cluster,
    items: [
      stepOf('restoreGate', { ...hb, id: 'restore.gate', title: `Gate: ${args.to} is a restore host, the repository on ${host.name} holds a backup${drill ? '' : ` and reaches ${args.targetTime}`}`, kind: 'guard', guard: 'a restore needs a backup that ended before its target, and a target that has passed', timeoutSeconds: 120 }, input),
      ...(drill
        ? [stepOf('writeRestoreMarkers', { ...hb, id: 'restore.markers', title: "Known writes on the leader, in the write probe's database: rows, a target time a second later, rows a second after it; their WAL archived", kind: 'change', timeoutSeconds: 300 }, {})]
        : []),
      stepOf(
        'restoreToHost',
        { ...hb, id: `restore.host@${args.to}`, host: args.to, title: `${args.to} (a machine for restores only): ${settings.restore_dir} emptied, ${stanza} restored to ${drill ? 'the target time' : args.targetTime} from the newest backup before it and the archive, started on the host's socket, archiving nothing`, kind: 'change', timeoutSeconds: 6 * 3600 },
        input,
      ),
      ...(drill
        ? [stepOf('verifyRestoreDrill', { ...hb, id: 'restore.verify', title: 'The restored copy holds every row written before the target, with the same checksum, and none after it; the restore time and recovery point against the objectives', kind: 'verify', timeoutSeconds: 300 }, { to: args.to })]
        : []),
    ],
  };
}
