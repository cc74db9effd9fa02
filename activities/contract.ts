// The contract between the step runner and every step activity: what a step activity takes
// and what it returns. Both sides import it from here (the workflows as types only), so the
// activities depend on nothing in workflows/.
import type { Topology } from '../topology/schema';

/** The input every step activity receives: the step's own input plus the run's mode. */
export type StepInput<T extends object = Record<string, never>> = T & {
  /** Check mode: report what would change, change nothing. */
  check: boolean;
};

/** A step about the whole cluster. The runner adds the topology to every step's input. */
export type ClusterInput = StepInput<{ topology: Topology }>;

/** A step on one host of the topology. */
export type HostInput = StepInput<{ topology: Topology; host: string }>;

/** What every step activity returns: whether it changed anything, and what. */
export interface StepResult {
  changed: boolean;
  /** One line for the operator: "wrote /etc/haproxy/haproxy.cfg (3 lines changed)". */
  summary: string;
  /** Unified diffs or a list of actions; in check mode, what would change. Never a secret value. */
  details?: string[];
  /** A few measured facts a workflow reads back (when a fault was injected, who leads now). */
  facts?: Record<string, string | number | boolean>;
}

/**
 * The ApplicationFailure types step activities throw. Retryable ones may clear up on their own
 * (a host rebooting, a service starting); the others need an operator, so the step blocks at once.
 */
export const StepFailureTypes = {
  // retryable
  hostUnreachable: 'HostUnreachable',
  commandTimeout: 'CommandTimeout',
  commandFailed: 'CommandFailed',
  serviceFailed: 'ServiceFailed',
  timeout: 'Timeout',
  // not retryable
  authFailed: 'AuthFailed',
  sudoRefused: 'SudoRefused',
  hostKeyUnknown: 'HostKeyUnknown',
  hostKeyChanged: 'HostKeyChanged',
  guardFailed: 'GuardFailed',
  invalidConfig: 'InvalidConfig',
  invalidInput: 'InvalidInput',
  secretMissing: 'SecretMissing',
} as const;

/** What a failure's details carry for the operator: the exact remedy. */
export interface FailureDetail {
  remedy: string;
}
