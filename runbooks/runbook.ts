// Runbooks as data: the steps a runbook takes, computed by pure functions of the topology
// (one file per runbook in this folder). The client computes a runbook, shows it (`haflow
// plan`) and hands exactly that list to the workflow, which runs it with the one step runner
// (workflows/runner.ts). Nothing here does I/O.
import type { ActivityInput, ActivityName } from './activities';

export type StepKind = 'guard' | 'change' | 'verify';

/**
 * What a workflow finds a step by, instead of rebuilding its id: the step that strikes (a fault,
 * a switchover), the one that sees the cluster recovered, the heal, the step after which the write
 * probe starts and the one after which it stops, the leader's switchover of a rolling operation
 * (or a migration's handover), a node's version check, the application verified through HAProxy,
 * and the fence of the old application master.
 */
export const STEP_MARKS = ['strike', 'recovered', 'heal', 'probe-from', 'probe-until', 'switchover', 'version', 'app-verified', 'fence'] as const;
export type StepMark = (typeof STEP_MARKS)[number];

/**
 * Step and group ids: `<component>.<what>`, then `@<host>` when the step acts on one host,
 * e.g. `patroni.replica-inactive@node2`, `etcd.healthy`, `preflight.hosts`. They are stable:
 * an operator names them in `haflow resume --step`, and they appear in recorded histories.
 */
export const STEP_ID_FORM = /^[a-z][a-z0-9]*(\.[a-z0-9]+(-[a-z0-9]+)*)+(@[a-z0-9]([a-z0-9-]*[a-z0-9])?)?$/;

/** `A` is the activity-name type: haflow's own activities, or any string for ad-hoc runbooks. */
export interface Step<A extends string = ActivityName> {
  /** Stable id in the form of STEP_ID_FORM. */
  id: string;
  /** What an operator reads in the progress display. */
  title: string;
  kind: StepKind;
  /** The host the step acts on, if any. */
  host?: string;
  /** Name of the activity that does the step (one hop to the code). */
  activity: A;
  /** The activity's own input; the runner adds the run's context and `check`. JSON only, never a secret value. */
  input: Record<string, unknown>;
  /** For guards: the condition checked, as the guide states it. */
  guard?: string;
  /** Time the activity may run per attempt; long ones must heartbeat. Defaults to the runner's. */
  timeoutSeconds?: number;
  /** Heartbeat timeout: a dead worker is noticed after this long. */
  heartbeatSeconds?: number;
  /** Attempts before the step blocks; 1 for a step that must not run twice by itself (injecting a fault). */
  attempts?: number;
  /** What the runbook's workflow finds this step by (the strike, the recovery, …). */
  mark?: StepMark;
}

export interface StepGroup<A extends string = ActivityName> {
  id: string;
  title: string;
  /** Members with no order between them (e.g. preflight on every host), run at once: steps, or lanes of steps. */
  parallel: (Step<A> | StepLane<A>)[];
}

/**
 * A sequence inside a parallel group: its items run one after another, in order, while the
 * group's other members run beside it. Tiers of a runbook with no order between them (HAProxy's
 * configuration, the application's files, while etcd and Patroni come up) each keep their own
 * order this way and still overlap. An item of a lane may itself be a group; a lane is only ever
 * a member of a group.
 */
export interface StepLane<A extends string = ActivityName> {
  /** Stable id in the form of STEP_ID_FORM, like a group's. */
  id: string;
  title: string;
  lane: RunbookItem<A>[];
}

export type RunbookItem<A extends string = ActivityName> = Step<A> | StepGroup<A>;

export interface Runbook<A extends string = ActivityName> {
  /** e.g. `install`. */
  name: string;
  cluster: string;
  items: RunbookItem<A>[];
}

export function isGroup<A extends string>(item: RunbookItem<A> | StepLane<A>): item is StepGroup<A> {
  return (item as StepGroup<A>).parallel !== undefined;
}

export function isLane<A extends string>(item: RunbookItem<A> | StepLane<A>): item is StepLane<A> {
  return (item as StepLane<A>).lane !== undefined;
}

/** Every step of an item in execution order: a group's members in their listed order, a lane's items in order. */
export function stepsIn<A extends string>(item: RunbookItem<A> | StepLane<A>): Step<A>[] {
  if (isGroup(item)) return item.parallel.flatMap(stepsIn);
  if (isLane(item)) return item.lane.flatMap(stepsIn);
  return [item];
}

/** Every step of a runbook in execution order (group members in their listed order, a lane's items in order). */
export function flattenSteps<A extends string>(runbook: Runbook<A>): Step<A>[] {
  return runbook.items.flatMap(stepsIn);
}

/** The items with every step replaced by `change(step)`, groups and lanes kept as they are. */
export function mapSteps<A extends string>(items: RunbookItem<A>[], change: (step: Step<A>) => Step<A>): RunbookItem<A>[] {
  const mapMember = (member: Step<A> | StepLane<A>): Step<A> | StepLane<A> =>
    isLane(member) ? { ...member, lane: mapSteps(member.lane, change) } : change(member);
  return items.map((item) => (isGroup(item) ? { ...item, parallel: item.parallel.map(mapMember) } : change(item)));
}

/** Every group and lane of the items, in listing order (an enclosing one before those inside it). */
function groupsAndLanes<A extends string>(items: RunbookItem<A>[]): (StepGroup<A> | StepLane<A>)[] {
  return items.filter(isGroup).flatMap((group) => [
    group,
    ...group.parallel.filter(isLane).flatMap((lane) => [lane, ...groupsAndLanes(lane.lane)]),
  ]);
}

/** The step with this mark, if the runbook has one (the first, in execution order). */
export function stepMarked<A extends string>(runbook: Runbook<A>, mark: StepMark): Step<A> | undefined {
  return flattenSteps(runbook).find((s) => s.mark === mark);
}

/** Every step with this mark, in execution order. */
export function stepsMarked<A extends string>(runbook: Runbook<A>, mark: StepMark): Step<A>[] {
  return flattenSteps(runbook).filter((s) => s.mark === mark);
}

/** Ids not of the documented form (checked where runbooks are built; the runner accepts any unique id). */
export function stepIdProblems(runbook: Runbook<string>): string[] {
  const ids = [...groupsAndLanes(runbook.items).map((g) => g.id), ...flattenSteps(runbook).map((s) => s.id)];
  return ids.filter((id) => !STEP_ID_FORM.test(id)).map((id) => `step id ${id} is not of the form <component>.<what>[@<host>]`);
}

/**
 * What is wrong with a runbook, one sentence each; empty when it can run. A runbook arrives as
 * workflow input (from a client that may be older or newer than the worker), so the runner
 * checks it before the first step.
 */
export function runbookProblems(runbook: Runbook<string>, knownActivities?: readonly string[]): string[] {
  const problems: string[] = [];
  if (!runbook || !Array.isArray(runbook.items) || runbook.items.length === 0) return ['the runbook has no steps'];
  // The rest walks groups and lanes, so their shape comes first.
  const shape = shapeProblems(runbook.items);
  if (shape.length > 0) return shape;
  const seen = new Set<string>();
  const ids = [...groupsAndLanes(runbook.items).map((g) => g.id), ...flattenSteps(runbook).map((s) => s.id)];
  for (const id of ids) {
    if (seen.has(id)) problems.push(`step id ${id} is used twice; step ids must be unique`);
    seen.add(id);
  }
  for (const step of flattenSteps(runbook)) {
    if (knownActivities && !knownActivities.includes(step.activity)) {
      problems.push(`step ${step.id} names activity ${step.activity}, which this worker does not have; known: ${knownActivities.join(', ')}`);
    }
  }
  return problems;
}

/**
 * Groups without members, lanes without items, and a lane or a group where the runner has no way
 * to run it: a lane outside a group, a group directly inside a group.
 */
function shapeProblems(items: RunbookItem<string>[]): string[] {
  return items.flatMap((item): string[] => {
    if (isLane(item)) return [`lane ${item.id} is not a member of a group; a lane runs beside the other members of its group`];
    if (!isGroup(item)) return [];
    if (!Array.isArray(item.parallel) || item.parallel.length === 0) return [`group ${item.id} has no members`];
    return item.parallel.flatMap((member): string[] => {
      if (isGroup(member)) return [`group ${member.id} is a member of group ${item.id}; a group inside a group belongs in a lane`];
      if (!isLane(member)) return [];
      if (!Array.isArray(member.lane) || member.lane.length === 0) return [`lane ${member.id} has no steps`];
      return shapeProblems(member.lane);
    });
  });
}

type StepFields = Omit<Step, 'activity' | 'input'>;

/** A step whose activity name and input are checked against the activity itself. */
export function stepOf<N extends ActivityName>(activity: N, fields: StepFields, input: ActivityInput<N>): Step {
  return { ...fields, activity, input: input as Record<string, unknown> };
}

/**
 * Whether the runner always finishes step `first` before it starts step `then`: they sit in one
 * sequence (the runbook's items, or a lane) at increasing places, not in different members of
 * one group. The order constraints of a runbook are stated with it.
 */
export function runsBefore<A extends string>(runbook: Runbook<A>, first: string, then: string): boolean {
  const a = placeOf(runbook.items, first);
  const b = placeOf(runbook.items, then);
  if (!a || !b) throw new Error(`no step ${!a ? first : then} in runbook ${runbook.name}`);
  for (let depth = 0; depth < Math.min(a.length, b.length); depth++) {
    if (a[depth].index === b[depth].index) continue;
    return a[depth].sequence && a[depth].index < b[depth].index;
  }
  return false;
}

/** Where a step sits: at each level, its index there and whether that level is a sequence (not a group). */
function placeOf<A extends string>(items: RunbookItem<A>[], id: string): { index: number; sequence: boolean }[] | undefined {
  for (const [index, item] of items.entries()) {
    if (!isGroup(item)) {
      if (item.id === id) return [{ index, sequence: true }];
      continue;
    }
    for (const [member, inside] of item.parallel.entries()) {
      const rest = isLane(inside) ? placeOf(inside.lane, id) : inside.id === id ? [] : undefined;
      if (rest) return [{ index, sequence: true }, { index: member, sequence: false }, ...rest];
    }
  }
  return undefined;
}
