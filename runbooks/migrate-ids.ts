// The migration's step ids its workflow needs (workflows/migrate.ts), apart from the runbook so
// the workflow bundle takes none of what builds the steps.

/** The write probe starts after this step (its database exists) and writes to the master directly. */
export const MIGRATE_PROBE_FROM = 'postgres.probe-database';
/** The last step: the probe stops once it is done. */
export const MIGRATE_PROBE_UNTIL = 'migrate.verified';
/** The step expected to pause writes: the primary's restart under Patroni. */
export const handoverStep = (master: string) => `db.handover@${master}`;
