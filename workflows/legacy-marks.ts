// Runs started before steps carried marks: their runbooks came with their input, unmarked, and
// their workflows found the strike, the recovery and the rest by step id. These are the ids they
// looked for, so that such a run, resumed by this version (or replayed from its history), finds
// the same steps it would have found then. A runbook with a mark on any step uses its own marks.
import { flattenSteps, mapSteps, type Runbook, type StepMark } from '../runbooks/runbook';

/** What identifies a run's steps besides their ids: the migration's primary. */
export interface LegacyContext {
  master?: string;
}

/** The mark a step of an unmarked runbook of this name had, by its id. */
export function legacyMark(runbook: { name: string; ids: readonly string[] }, id: string, context: LegacyContext = {}): StepMark | undefined {
  const probeFrom = id.startsWith('postgres.probe-database');
  switch (runbook.name) {
    case 'drill':
      if (id.startsWith('fault.heal@')) return 'heal';
      if (id.startsWith('fault.')) return 'strike';
      // The application's recovery was the drill's when the runbook had one (the fault struck the application master).
      if (id === 'app.recovered') return 'recovered';
      if (id === 'failover.recovered' && !runbook.ids.includes('app.recovered')) return 'recovered';
      return probeFrom ? 'probe-from' : undefined;
    case 'switchover':
      if (id.startsWith('patroni.switchover@')) return 'strike';
      if (id === 'switchover.recovered') return 'recovered';
      return probeFrom ? 'probe-from' : undefined;
    case 'restart':
    case 'upgrade':
      if (id.startsWith('patroni.switchover@')) return 'switchover';
      if (id === `${runbook.name}.healthy-after`) return 'probe-until';
      if (id.startsWith('postgres.version@')) return 'version';
      return probeFrom ? 'probe-from' : undefined;
    case 'migrate':
      if (id === `db.handover@${context.master}`) return 'switchover';
      if (id === 'migrate.verified') return 'probe-until';
      return probeFrom ? 'probe-from' : undefined;
    case 'app-failover':
    case 'app-switchback':
    case 'app-fence':
      if (id.startsWith('verify.app@')) return 'app-verified';
      if (id.startsWith('app.fence@') || id.startsWith('db.fence@')) return 'fence';
      return undefined;
    default:
      return undefined;
  }
}

const unmarked = (runbook: Runbook<string>) => flattenSteps(runbook).every((s) => s.mark === undefined);

/** The runbook as given when it has marks; otherwise a copy whose steps carry the marks their ids imply. */
export function withMarks<R extends Runbook<string>>(runbook: R, context: LegacyContext = {}): R {
  if (!unmarked(runbook)) return runbook;
  const ids = flattenSteps(runbook).map((s) => s.id);
  return {
    ...runbook,
    items: mapSteps(runbook.items, (step) => {
      const found = legacyMark({ name: runbook.name, ids }, step.id, context);
      return found ? { ...step, mark: found } : step;
    }),
  };
}

/** Steps' states of a run (a child's outcome) with the marks their ids imply, when none carries one. */
export function statesWithMarks<S extends { id: string; mark?: StepMark }>(name: string, states: S[], context: LegacyContext = {}): S[] {
  if (states.some((s) => s.mark !== undefined)) return states;
  const ids = states.map((s) => s.id);
  return states.map((s) => {
    const found = legacyMark({ name, ids }, s.id, context);
    return found ? { ...s, mark: found } : s;
  });
}
