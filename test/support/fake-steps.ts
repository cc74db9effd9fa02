// Step activities for exercising the step runner on a real server. They are fakes only in
// what they do on "hosts": their failures are injected by the test through `hosts`.
import { ApplicationFailure, heartbeat, sleep } from '@temporalio/activity';
import type { StepInput, StepResult } from '../../activities/contract';
import type { Runbook, Step } from '../../runbooks/runbook';

export interface FakeHosts {
  /** Names of things currently broken; a step touching one fails until the test fixes it. */
  broken: Set<string>;
  /** How many times each named step's activity ran. */
  calls: Map<string, number>;
  /** Steps currently inside their activity (to prove a group runs at once). */
  inside: Set<string>;
  maxInside: number;
  /** Names of steps the test holds: their `timed` activity waits until the test lets go. */
  held: Set<string>;
  /** When each run of a `timed` activity started and ended, in the order they ended. */
  spans: Span[];
}

/** One run of a step's activity, in milliseconds since the epoch. */
export interface Span {
  name: string;
  start: number;
  end: number;
}

export function fakeHosts(): FakeHosts {
  return { broken: new Set(), calls: new Map(), inside: new Set(), maxInside: 0, held: new Set(), spans: [] };
}

type NamedInput = StepInput<{ name: string }>;

export function fakeStepActivities(hosts: FakeHosts) {
  const count = (name: string) => hosts.calls.set(name, (hosts.calls.get(name) ?? 0) + 1);
  return {
    async writeFile(input: NamedInput): Promise<StepResult> {
      count(input.name);
      if (hosts.broken.has(input.name)) throw new Error(`${input.name}: haproxy -c failed: unknown keyword 'bogus' in section 'listen postgres'`);
      return { changed: true, summary: input.check ? `would write ${input.name}` : `wrote ${input.name}` };
    },
    async replicaInactive(input: NamedInput & { remedy: string }): Promise<StepResult> {
      count(input.name);
      if (hosts.broken.has(input.name)) {
        throw ApplicationFailure.create({
          type: 'GuardFailed',
          nonRetryable: true,
          message: `${input.name}: Patroni is active on the replica and could not be stopped`,
          details: [{ remedy: input.remedy }],
        });
      }
      return { changed: false, summary: 'Patroni is inactive on the replica' };
    },
    /** Stays inside for a while so a parallel sibling can be seen running at the same time. */
    async overlap(input: NamedInput): Promise<StepResult> {
      count(input.name);
      hosts.inside.add(input.name);
      hosts.maxInside = Math.max(hosts.maxInside, hosts.inside.size);
      for (let i = 0; i < 10; i++) {
        heartbeat();
        await sleep(50);
      }
      hosts.inside.delete(input.name);
      return { changed: false, summary: `${input.name} checked` };
    },
    /** Takes `ms` and records when it ran (to prove what ran in order and what at once); fails while broken. */
    async timed(input: NamedInput & { ms?: number }): Promise<StepResult> {
      count(input.name);
      const start = Date.now();
      while (hosts.held.has(input.name)) {
        heartbeat();
        await sleep(50);
      }
      if (!hosts.broken.has(input.name)) await sleep(input.ms ?? 200);
      hosts.spans.push({ name: input.name, start, end: Date.now() });
      if (hosts.broken.has(input.name)) throw new Error(`${input.name}: the host refused`);
      return { changed: true, summary: `ran ${input.name}` };
    },
  };
}

export const step = (id: string, activity: string, input: Record<string, unknown> = {}): Step<string> => ({
  id,
  title: `do ${id}`,
  kind: 'change',
  host: id.split('@')[1],
  activity,
  input: { name: id, ...input },
});

/** A small install-shaped runbook: preflight on two hosts at once, then three ordered steps. */
export function sampleRunbook(cluster: string): Runbook<string> {
  return {
    name: 'install',
    cluster,
    items: [
      { id: 'preflight', title: 'preflight on every host', parallel: [step('preflight@node1', 'overlap'), step('preflight@node2', 'overlap')] },
      step('haproxy.config@observer', 'writeFile'),
      {
        ...step('patroni.replica-inactive@node2', 'replicaInactive', { remedy: 'stop Patroni on the slave: `systemctl stop patroni`' }),
        kind: 'guard',
        guard: 'Patroni is inactive on the replica until DB configuration',
      },
      step('patroni.start@node2', 'writeFile'),
    ],
  };
}
