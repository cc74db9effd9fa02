// Runbooks as data: the steps a runbook will take, computed by pure functions of the
// topology, then executed by the one step runner (./runner.ts). Nothing here does I/O,
// so `haflow plan` can print exactly what `haflow install` will run.

export type StepKind = 'guard' | 'change' | 'verify';

export interface Step {
  /** Stable id, `<component>.<what>@<host>`, e.g. `patroni.replica-inactive@node2`. */
  id: string;
  /** What an operator reads in the progress display. */
  title: string;
  kind: StepKind;
  /** The host the step acts on, if any. */
  host?: string;
  /** Name of the activity that does the step (one hop to the code). */
  activity: string;
  /** The activity's single argument; the runner adds `check` to it. JSON only, never a secret value. */
  input: Record<string, unknown>;
  /** For guards: the condition checked, as the guide states it. */
  guard?: string;
  /** Time the activity may run per attempt; long ones must heartbeat. Defaults to the runner's. */
  timeoutSeconds?: number;
  /** Heartbeat timeout for long activities: a dead worker is noticed after this long. */
  heartbeatSeconds?: number;
}

export interface StepGroup {
  id: string;
  title: string;
  /** Steps with no order between them (e.g. preflight on every host), run at once. */
  parallel: Step[];
}

export type RunbookItem = Step | StepGroup;

export interface Runbook {
  /** e.g. `install`, `switchover`. */
  name: string;
  cluster: string;
  items: RunbookItem[];
}

export function isGroup(item: RunbookItem): item is StepGroup {
  return (item as StepGroup).parallel !== undefined;
}

/** Every step of a runbook in execution order (group members in their listed order). */
export function flattenSteps(runbook: Runbook): Step[] {
  return runbook.items.flatMap((item) => (isGroup(item) ? item.parallel : [item]));
}

/** What every step activity returns: whether it changed anything, and what. */
export interface StepResult {
  changed: boolean;
  /** One line for the operator: "wrote /etc/haproxy/haproxy.cfg (3 lines changed)". */
  summary: string;
  /** Unified diff or list of actions; in check mode, what would change. */
  details?: string[];
}

/** The input every step activity receives: the step's own input plus the run's mode. */
export type StepInput<T extends Record<string, unknown> = Record<string, unknown>> = T & {
  /** Check mode: report what would change, change nothing. */
  check: boolean;
};

export type StepStatus = 'pending' | 'running' | 'done' | 'blocked' | 'skipped';

export interface StepError {
  message: string;
  /** ApplicationFailure type, e.g. GuardFailed, HostUnreachable, InvalidConfig. */
  type: string;
  /** The exact remedy, when the failure knows it. */
  remedy?: string;
}

export interface StepState {
  id: string;
  title: string;
  kind: StepKind;
  host?: string;
  group?: string;
  status: StepStatus;
  /** True or false once done; undefined before. */
  changed?: boolean;
  summary?: string;
  details?: string[];
  /** The last failure, kept after a retry succeeds so the operator sees what happened. */
  error?: StepError;
  /** How many times the runner started the step's activity (each may retry internally). */
  runs: number;
  startedAt?: string;
  finishedAt?: string;
}

export type RunStatus = 'running' | 'blocked' | 'completed' | 'aborted';

export interface Progress {
  runbook: string;
  cluster: string;
  check: boolean;
  status: RunStatus;
  steps: StepState[];
}

export type Decision = 'retry' | 'skip' | 'abort';

export interface DecisionRequest {
  stepId: string;
  decision: Decision;
  /** Why, recorded in the history and shown on abort. */
  reason?: string;
}

export interface RunbookOutcome {
  status: 'completed';
  changed: number;
  unchanged: number;
  skipped: string[];
  steps: StepState[];
}

/** ApplicationFailure types the runner and activities agree on. */
export const FailureTypes = {
  guardFailed: 'GuardFailed',
  invalidRunbook: 'InvalidRunbook',
  aborted: 'RunbookAborted',
} as const;
