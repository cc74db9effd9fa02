// The runbooks an operator can start, by name: which workflow runs each, the pure function that
// computes its steps from the topology (the same list `haflow plan` prints), and what else its
// workflow takes. A new runbook is one entry here, a builder in runbooks/ and a workflow in workflows/.
import type { Layout, Topology } from '../topology';
import { drillRun, drillSteps, type DrillArgs } from '../runbooks/drill';
import { classicDrillSteps } from '../runbooks/drill-classic';
import { installSteps } from '../runbooks/install';
import { tlsMoveSteps, type TlsMoveArgs } from '../runbooks/tls-move';
import { classicInstallSteps } from '../runbooks/install-classic';
import { stepIdProblems, type Runbook } from '../runbooks/runbook';
import { restartSteps, type RestartArgs } from '../runbooks/restart';
import { switchoverSteps, type SwitchoverArgs } from '../runbooks/switchover';
import { upgradeSteps, type UpgradeArgs } from '../runbooks/upgrade';
import { tuneSteps } from '../runbooks/tune';
import { migrateSteps, type MigrateArgs } from '../runbooks/migrate';
import { rotationSteps, type RotationArgs } from '../runbooks/certificates';
import { backupSteps, type BackupArgs } from '../runbooks/backup';
import { restoreSteps, type RestoreArgs } from '../runbooks/restore';
import type * as workflows from '../workflows';

export interface RunbookKind<A> {
  /** The workflow that runs it (an export of workflows/index.ts). */
  workflowType: keyof typeof workflows;
  /** Its steps for a topology. */
  steps(topology: Topology, args: A): Runbook;
  /** What its workflow takes besides the runbook and the topology. */
  input?(topology: Topology, args: A): Record<string, unknown>;
  /** The layouts it can drive (default: the Patroni layouts). */
  layouts?: readonly Layout[];
}

/** The layouts with Patroni: the failover runbooks work through it, and the classic layout has not. */
export const PATRONI_LAYOUTS: readonly Layout[] = ['standalone', 'distributed', 'patroni'];

const kind = <A>(k: RunbookKind<A>) => k;

export const RUNBOOKS = {
  // With a leader: the install moves the running cluster from plain text to TLS (runbooks/tls-move.ts).
  install: kind<TlsMoveArgs | void>({
    workflowType: 'installWorkflow',
    steps: (topology, move) => (topology.layout === 'classic' ? classicInstallSteps(topology) : move ? tlsMoveSteps(topology, move) : installSteps(topology)),
    layouts: [...PATRONI_LAYOUTS, 'classic'],
  }),
  drill: kind<DrillArgs>({
    workflowType: 'drillWorkflow',
    steps: (topology, args) => (topology.layout === 'classic' ? classicDrillSteps(topology, args) : drillSteps(topology, args)),
    layouts: [...PATRONI_LAYOUTS, 'classic'],
    input: (topology, args) => ({ drill: drillRun(topology, args) }),
  }),
  switchover: kind<SwitchoverArgs>({ workflowType: 'switchoverWorkflow', steps: switchoverSteps, input: (_topology, args) => ({ switchover: args }) }),
  tune: kind<void>({ workflowType: 'tuneWorkflow', steps: (topology) => tuneSteps(topology) }),
  restart: kind<RestartArgs>({ workflowType: 'restartWorkflow', steps: restartSteps, input: (_topology, args) => ({ restart: args }) }),
  upgrade: kind<UpgradeArgs>({ workflowType: 'upgradeWorkflow', steps: upgradeSteps, input: (_topology, args) => ({ upgrade: args }) }),
  migrate: kind<MigrateArgs>({ workflowType: 'migrateWorkflow', steps: migrateSteps, input: (_topology, args) => ({ migrate: args }) }),
  rotate: kind<RotationArgs>({ workflowType: 'certificateRotationWorkflow', steps: rotationSteps, input: (_topology, args) => ({ rotation: args }) }),
  backup: kind<BackupArgs>({ workflowType: 'backupWorkflow', steps: backupSteps }),
  restore: kind<RestoreArgs>({ workflowType: 'restoreWorkflow', steps: restoreSteps }),
};

export type RunbookName = keyof typeof RUNBOOKS;
export type ArgsOf<N extends RunbookName> = (typeof RUNBOOKS)[N] extends RunbookKind<infer A> ? A : never;

/** The steps of a runbook for a topology; a step id out of the documented form is a bug here, not the operator's. */
export function runbookFor<N extends RunbookName>(name: N, topology: Topology, args: ArgsOf<N>): Runbook {
  const kindOf = RUNBOOKS[name] as RunbookKind<ArgsOf<N>>;
  const layouts = kindOf.layouts ?? PATRONI_LAYOUTS;
  if (!layouts.includes(topology.layout)) {
    throw new UnsupportedLayoutError(
      `layout: ${topology.layout} (cluster ${topology.cluster}): haflow's ${name} runbook works through Patroni and runs on the layouts ${layouts.join(', ')}; ` +
        `haflow install sets up a ${topology.layout} cluster, and this runbook does not run on it yet`,
    );
  }
  const runbook = kindOf.steps(topology, args);
  const problems = stepIdProblems(runbook);
  if (problems.length > 0) throw new Error(`the ${name} runbook is malformed:\n${problems.join('\n')}`);
  return runbook;
}

/** A runbook asked of a layout it cannot drive: refused before anything starts, rather than run half-way. */
export class UnsupportedLayoutError extends Error {
  override readonly name = 'UnsupportedLayoutError';
}

/** The whole input of the runbook's workflow. */
export function runbookInput<N extends RunbookName>(name: N, topology: Topology, args: ArgsOf<N>, check = false): Record<string, unknown> {
  const kindOf = RUNBOOKS[name] as RunbookKind<ArgsOf<N>>;
  return { runbook: runbookFor(name, topology, args), topology, ...(check ? { check: true } : {}), ...(kindOf.input?.(topology, args) ?? {}) };
}
