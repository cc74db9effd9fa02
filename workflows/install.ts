// The install runbook: bare machines to a healthy Patroni + etcd + HAProxy database tier.
import type { Topology } from '../topology/schema';
import { INSTALL_ACTIVITIES, installSteps } from './install-steps';
import { runRunbook } from './runner';
import type { RunbookOutcome } from './runbook';

export interface InstallInput {
  /** The validated topology: secret references only, never values. */
  topology: Topology;
  /** Check mode: every step reports what it would change and changes nothing. */
  check?: boolean;
}

export async function installWorkflow(input: InstallInput): Promise<RunbookOutcome> {
  return runRunbook(installSteps(input.topology), {
    check: input.check,
    context: { topology: input.topology },
    knownActivities: INSTALL_ACTIVITIES,
  });
}
