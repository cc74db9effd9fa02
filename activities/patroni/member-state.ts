// Patroni's words for a member's state, which changed after 3.0; pure, for the health verdict too.

/**
 * A member's state in GET /cluster that means its PostgreSQL runs: Patroni 3.0 says `running`
 * for every member; later ones say `streaming` for a replica that streams (and `in archive
 * recovery` for one that replays from an archive), `running` for the leader.
 */
export const RUNNING_MEMBER_STATES = ['running', 'streaming', 'in archive recovery'] as const;

export function memberRuns(state: string | undefined): boolean {
  return (RUNNING_MEMBER_STATES as readonly string[]).includes(state ?? '');
}

/**
 * A member's role in GET /cluster that is a replica of the leader: `replica`, or in synchronous
 * mode `sync_standby` (Patroni 4's quorum mode: `quorum_standby`).
 */
export const REPLICA_ROLES = ['replica', 'sync_standby', 'quorum_standby'] as const;

export function memberIsReplica(role: string | undefined): boolean {
  return (REPLICA_ROLES as readonly string[]).includes(role ?? '');
}
