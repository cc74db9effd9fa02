// The coordinated switchover: Patroni switches over as in the plain one, and HAProxy is told
// what happens through its runtime API instead of finding out by its checks. The old leader's
// server is marked DOWN (its sessions cut) the moment its /primary stops answering 200, and the
// candidate's is marked UP the moment its /primary answers 200, on every HAProxy host, over SSH
// sessions opened beforehand. Health checks stay on and decide from then on. HAProxy in a state
// the plan does not expect (the leader not the one UP server, the socket not answering) means
// no coordination: the plain switchover runs and the result says why.
import { dbHosts, haproxyHosts, type Host } from '../../topology';
import type { StepResult } from '../contract';
import { HaproxyRuntime, POSTGRES_BACKEND, setHealthCommand, shutdownSessionsCommand, type ServerState } from '../haproxy/runtime';
import { awaitLeaderKey, planSwitchover, requestSwitchover, switchoverTo, type SwitchoverInput } from '../patroni/failover';
import { restGet } from '../patroni/rest';
import { SshSession, targetFor } from '../shared/ssh';
import { sleep, stepResult } from '../shared/step';
import { heartbeat } from '../shared/step-activity';

/** How often the worker asks both members' /primary while the switchover runs. */
const POLL_MS = 25;

/** Why HAProxy's state does not fit a coordinated switchover from `leader` to `candidate` (undefined: it fits). */
export function coordinationProblem(host: string, servers: ServerState[], leader: string, candidate: string): string | undefined {
  const pg = servers.filter((s) => s.backend === POSTGRES_BACKEND);
  for (const name of [leader, candidate]) {
    const server = pg.find((s) => s.server === name);
    if (!server) return `HAProxy on ${host} has no server ${name} in its ${POSTGRES_BACKEND} section`;
    if (server.adminState !== 0) return `${name} is in maintenance or drain on HAProxy ${host} (admin state ${server.adminState})`;
  }
  const up = pg.filter((s) => s.operational === 'up').map((s) => s.server);
  if (up.length !== 1 || up[0] !== leader) return `HAProxy on ${host} sends writes to ${up.join(' and ') || 'no server'}, not to the leader ${leader} alone`;
  return undefined;
}

/** 200 from a member's /primary (it holds the leader key and runs as primary); undefined when it does not answer. */
async function answersPrimary(input: SwitchoverInput, host: Host): Promise<boolean | undefined> {
  return restGet(input.topology, host, '/primary', 1000).then(
    (r) => r.status === 200,
    () => undefined,
  );
}

export async function coordinatedSwitchoverTo(input: SwitchoverInput): Promise<StepResult> {
  const { topology, check } = input;
  const plan = await planSwitchover(input);
  if ('done' in plan) return plan.done;
  const { leader, candidate } = plan;
  const candidateHost = dbHosts(topology).find((h) => h.name === candidate)!;
  const proxies = haproxyHosts(topology);
  const opened = await Promise.allSettled(proxies.map((h) => SshSession.connect(targetFor(topology, h))));
  const sessions = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  try {
    let problem: string | undefined;
    const failed = opened.findIndex((o) => o.status === 'rejected');
    if (failed >= 0) problem = `no SSH session to HAProxy on ${proxies[failed].name}: ${((opened[failed] as PromiseRejectedResult).reason as Error).message}`;
    const runtimes = sessions.map((s) => new HaproxyRuntime(s));
    for (const runtime of problem ? [] : runtimes) {
      const states = await runtime.serversState(POSTGRES_BACKEND).catch((err: Error) => err);
      problem = states instanceof Error ? states.message : coordinationProblem(runtime.host, states, leader.name, candidate);
      if (problem) break;
    }
    const on = proxies.map((h) => h.name).join(', ');
    if (check) {
      return stepResult(
        [problem ? `would switch over from ${leader.name} to ${candidate}, not coordinated (${problem}): HAProxy's checks would route` : `would switch over from ${leader.name} to ${candidate} and mark ${candidate} UP on HAProxy (${on}) the moment it answers /primary`],
        '',
      );
    }
    if (problem) {
      const plain = await switchoverTo(input);
      return { ...plain, details: [...(plain.details ?? []), `not coordinated: ${problem}; HAProxy's checks routed`], facts: { ...plain.facts, coordinated: false, notCoordinated: problem.slice(0, 300) } };
    }

    const requestedAt = Date.now();
    let demotedAt: number | undefined;
    let promotedAt: number | undefined;
    let routedAt: number | undefined;
    let stopped = false;
    const told: Promise<void>[] = [];
    // HAProxy refusing a command (or its socket gone mid-way) is not the switchover's failure:
    // its checks still route, and the result says what went wrong.
    const tellFailures: string[] = [];
    const tellAll = (commands: string[]) =>
      Promise.all(runtimes.map((r) => r.apply(commands))).then(
        () => true,
        (err: Error) => {
          tellFailures.push(err.message);
          return false;
        },
      );
    // Both members' /primary until the candidate answers 200; HAProxy is told at each change.
    const route = (async () => {
      const deadline = requestedAt + (input.waitSeconds ?? 60) * 1000;
      while (!stopped && Date.now() < deadline) {
        const [oldPrimary, newPrimary] = await Promise.all([demotedAt === undefined ? answersPrimary(input, leader) : false, answersPrimary(input, candidateHost)]);
        // Only an answer that is not 200 means demoted; no answer at all may be a slow REST API.
        if (demotedAt === undefined && oldPrimary === false) {
          demotedAt = Date.now();
          told.push(tellAll([setHealthCommand(POSTGRES_BACKEND, leader.name, 'down'), shutdownSessionsCommand(POSTGRES_BACKEND, leader.name)]).then(() => undefined));
        }
        if (newPrimary === true) {
          promotedAt = Date.now();
          if (demotedAt === undefined) told.push(tellAll([setHealthCommand(POSTGRES_BACKEND, leader.name, 'down'), shutdownSessionsCommand(POSTGRES_BACKEND, leader.name)]).then(() => undefined));
          if (await tellAll([setHealthCommand(POSTGRES_BACKEND, candidate, 'up')])) routedAt = Date.now();
          return;
        }
        heartbeat(`switching over to ${candidate}`);
        await sleep(POLL_MS);
      }
    })();
    let answer: string;
    try {
      answer = await requestSwitchover(topology, leader, candidate);
    } catch (err) {
      stopped = true;
      await route.catch(() => undefined);
      await Promise.allSettled(told);
      // Patroni refused or failed: if the old leader still answers as primary, give it back its traffic.
      if (demotedAt !== undefined && (await answersPrimary(input, leader)) === true) await tellAll([setHealthCommand(POSTGRES_BACKEND, leader.name, 'up')]);
      throw err;
    }
    await route;
    await Promise.all(told);
    await awaitLeaderKey(input, candidate);

    // Checks decide from here on; what HAProxy shows now is reported, the recovery step verifies it.
    const after = await Promise.all(
      runtimes.map(async (r) => `${r.host}: ${await r.serversState(POSTGRES_BACKEND).then((states) => states.map((s) => `${s.server} ${s.operational}`).join(', '), (err: Error) => `unread (${err.message})`)}`),
    );
    const ms = (a?: number, b?: number) => (a !== undefined && b !== undefined ? `${b - a} ms` : 'not seen');
    const details = [
      `Patroni: ${ms(requestedAt, promotedAt)} from the request to ${candidate} answering /primary (the old leader stopped answering it after ${ms(requestedAt, demotedAt)})`,
      routedAt !== undefined
        ? `routing: ${ms(promotedAt, routedAt)} more until HAProxy (${on}) had ${candidate} UP`
        : promotedAt === undefined
          ? `routing: ${candidate} never answered /primary while the switchover ran; HAProxy's checks routed`
          : "routing: HAProxy's checks routed",
      ...tellFailures.map((f) => `not coordinated: ${f}`),
      `HAProxy now: ${after.join('; ')}`,
    ];
    return stepResult([`switched over from ${leader.name} to ${candidate}${routedAt !== undefined ? ', HAProxy told at once' : ", HAProxy's checks routing"}: ${answer}`], '', details, {
      oldLeader: leader.name,
      leader: candidate,
      requestedAt,
      doneAt: Date.now(),
      coordinated: routedAt !== undefined,
      ...(demotedAt !== undefined ? { demotedAt } : {}),
      ...(promotedAt !== undefined ? { promotedAt } : {}),
      ...(routedAt !== undefined ? { routedAt } : {}),
      ...(routedAt === undefined ? { notCoordinated: (tellFailures[0] ?? `${candidate} did not answer /primary while the switchover ran`).slice(0, 300) } : {}),
    });
  } finally {
    for (const session of sessions) session.close();
  }
}
