// Injecting a drill's fault into a healthy cluster, and healing it. Power and network go through
// the topology's fault drivers (./drivers.ts); the rest through SSH and Patroni's REST API. Both
// look first, so a retry (or the heal a drill always runs) never does a thing twice.
import { sshTarget, type Host } from '../../topology';
import { FAULTS, type FaultName } from '../../topology/faults';
import type { HostInput, StepResult } from '../contract';
import { switchoverTo } from '../patroni/failover';
import { ensureUnit } from '../shared/services';
import { shellQuote } from '../shared/shell';
import { hostOf, onHost, portAnswers, sleep, stepResult, waitFor } from '../shared/step';
import { currentActivity, heartbeat } from '../shared/step-activity';
import { runDriver } from './drivers';

/** `candidate`: for the switchover fault, the member it was planned to go to (a retry then finds it done). */
export type FaultInput = HostInput & { fault: FaultName; candidate?: string };

/** What an attempt of injectFault records (as its heartbeat) once the fault is in place. */
interface InjectedRecord {
  injected: true;
  what: string;
  facts: Record<string, number | string>;
}

const RECORD_FLUSH_MS = 300;

const sshPort = (input: HostInput, host: Host) => sshTarget(input.topology, host).port;

/** Injects the fault; its facts say when (`injectedAt`, epoch ms on the worker). */
export async function injectFault(input: FaultInput): Promise<StepResult> {
  const { topology, check, fault } = input;
  const host = hostOf(input);
  const spec = FAULTS[fault];
  if (check) return stepResult([`would inject ${fault} on ${host.name}: ${spec.what}`], '');
  // A later attempt after a lost worker: the one before may have injected the fault and died
  // before reporting it. What it recorded says so, and the fault is never injected twice.
  const earlier = currentActivity()?.info.heartbeatDetails as InjectedRecord | undefined;
  if (earlier?.injected) {
    return stepResult([`${earlier.what} (reported by a later attempt: the worker that injected it was lost)`], '', [], earlier.facts);
  }
  const injectedAt = Date.now();
  const done = async (what: string, facts: Record<string, number | string> = {}) => {
    const record: InjectedRecord = { injected: true, what, facts: { injectedAt, ...facts } };
    heartbeat(record);
    // The first heartbeat of an attempt goes out at once; give it a moment to reach the server
    // before the result does, so that a worker lost in between leaves the record behind.
    await sleep(RECORD_FLUSH_MS);
    return stepResult([what], '', [], record.facts);
  };
  switch (fault) {
    case 'switchover': {
      // To the planned candidate: a later attempt after a lost worker finds it leading and does not switch over again.
      const result = await switchoverTo({ topology, check: false, waitSeconds: 60, ...(input.candidate ? { candidate: input.candidate } : {}) });
      return done(`switchover from ${host.name}: ${result.summary}`, { doneAt: Date.now() });
    }
    case 'stop-patroni':
      return onHost(input, async (ssh) => {
        const stopped = await ensureUnit(ssh, 'patroni', { running: false, enabled: true }, false);
        return done(stopped.length > 0 ? `stopped Patroni on ${host.name} (systemctl stop patroni)` : `Patroni was stopped on ${host.name} already`);
      });
    case 'kill-postgres':
      return onHost(input, async (ssh) => {
        const pidFile = `${topology.postgresql.data_dir}/postmaster.pid`;
        const pid = (await ssh.check(`head -1 ${shellQuote(pidFile)}`, { sudo: true })).trim();
        if (!/^\d+$/.test(pid)) throw new Error(`${host.name}: no postmaster PID in ${pidFile}: ${pid}`);
        await ssh.check(`kill -9 ${pid}`, { sudo: true });
        return done(`killed the postmaster (PID ${pid}) on ${host.name} with SIGKILL`);
      });
    case 'crash-leader':
    case 'crash-observer':
    case 'crash-app-master': {
      if (!(await portAnswers(host.address, sshPort(input, host)))) return stepResult([], `${host.name} is powered off already`, [], { injectedAt });
      const run = await runDriver(topology, 'power_off', host);
      // The fault is surely in place once the driver returns: the time it is measured from.
      return done(`cut the power of ${host.name}: \`${run.command}\``, { injectedAt: run.finishedAt, strikeFrom: run.startedAt });
    }
    case 'partition-leader': {
      const run = await runDriver(topology, 'partition', host);
      return done(`cut ${host.name} from the other machines: \`${run.command}\``, { injectedAt: run.finishedAt, strikeFrom: run.startedAt });
    }
  }
}

/** Undoes the fault, whatever state the drill is in; already healed is fine. */
export async function healFault(input: FaultInput): Promise<StepResult> {
  const { topology, check, fault } = input;
  const host = hostOf(input);
  switch (fault) {
    case 'switchover':
    case 'kill-postgres':
      return stepResult([], `nothing to heal after ${fault}: ${FAULTS[fault].heal}`);
    case 'stop-patroni':
      return onHost(input, async (ssh) => {
        const actions = await ensureUnit(ssh, 'patroni', { running: true, enabled: true }, check);
        return stepResult(actions, `Patroni runs on ${host.name}`, [], { healedAt: Date.now() });
      });
    case 'crash-leader':
    case 'crash-observer':
    case 'crash-app-master': {
      if (await portAnswers(host.address, sshPort(input, host))) return stepResult([], `${host.name} is powered on`);
      if (check) return stepResult([`would power ${host.name} on (faults.power_on)`], '');
      const run = await runDriver(topology, 'power_on', host);
      await waitFor(`${host.name} to answer on SSH after power-on`, async () => ((await portAnswers(host.address, sshPort(input, host), 1000)) ? { done: true } : { notYet: 'no answer' }), {
        timeoutMs: 120_000,
        remedy: `check that \`${run.command}\` powers ${host.name} on`,
      });
      return stepResult([`powered ${host.name} on: \`${run.command}\``], '', [], { healedAt: Date.now() });
    }
    case 'partition-leader': {
      if (check) return stepResult([`would remove the partition of ${host.name} (faults.heal)`], '');
      const run = await runDriver(topology, 'heal', host);
      return stepResult([`removed the partition: \`${run.command}\``], '', [], { healedAt: Date.now() });
    }
  }
}
