// How a client talks to a running runbook: the input every runbook workflow takes, the
// `progress` query, the `decide` update and its decisions, and the outcome. One definition,
// used by the runner, the client API and the CLI (Temporal's samples share definitions the
// same way: defined with @temporalio/workflow, imported by the client).
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Topology } from '../topology/schema';
import type { Runbook, StepKind, StepMark } from '../runbooks/runbook';

/** What every runbook workflow is started with. */
export interface RunbookInput {
  /** The steps, computed by the client from the topology: the plan the operator saw is the plan that runs. */
  runbook: Runbook;
  /** The validated topology: secret references only, never values. */
  topology: Topology;
  /** Check mode: every step reports what it would change and changes nothing. */
  check?: boolean;
  /** Unattended runs (scheduled): minutes a blocked step waits for an operator before the run aborts. */
  abortBlockedAfterMinutes?: number;
}

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
  /** The nearest parallel group the step runs in, if any. */
  group?: string;
  /** The nearest lane the step runs in, if any (a sequence inside a group: runbooks/runbook.ts, StepLane). */
  lane?: string;
  /** The step's mark in its runbook (what its workflow finds it by). */
  mark?: StepMark;
  status: StepStatus;
  /** True or false once done; undefined before. */
  changed?: boolean;
  summary?: string;
  details?: string[];
  /** Measured facts the step reported (see StepResult). */
  facts?: Record<string, string | number | boolean>;
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

/** What an operator decides for a blocked step. */
export const DECISIONS = ['retry', 'skip', 'abort'] as const;
export type Decision = (typeof DECISIONS)[number];

export interface DecisionRequest {
  stepId: string;
  decision: Decision;
  /** Why, recorded in the history and shown on abort. */
  reason?: string;
}

export interface RunbookOutcome {
  status: 'completed';
  /** Steps that changed something (in check mode: would change). */
  changed: number;
  /** Change steps that found nothing to change. */
  unchanged: number;
  /** Guards and verifications that passed without changing anything. */
  passed: number;
  skipped: string[];
  steps: StepState[];
}

/** The runner's own failure types (a step's failure carries its activity's type). */
export const RunbookFailureTypes = {
  invalidRunbook: 'InvalidRunbook',
  aborted: 'RunbookAborted',
  /** certificateStatusWorkflow with failWhenDue: a certificate needs renewing (a scheduled check's run fails with it). */
  certificatesDue: 'CertificatesDue',
} as const;

/** Every step's state; answered by whichever worker holds the run. */
export const progressQuery = defineQuery<Progress>('progress');

/** An operator's decision for a blocked step; the validator rejects one for a step that is not blocked. */
export const decideUpdate = defineUpdate<StepState, [DecisionRequest]>('decide');
