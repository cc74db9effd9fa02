// SSH costs on the lab: commands per second over one reused connection against a new connection
// per command (haflow's own SshSession, a lab machine over loopback), then what the install gains
// from keeping a host's connection open between its steps: the standalone install with reuse off
// (HAFLOW_SSH_IDLE_SECONDS=0, every step connects) and on (the default), alternating, on bare labs.
// Measures; asserts nothing. Needs root, the lab's packages and the Temporal CLI; leaves nothing running.
// Run: npm run bench -- ssh [commands] [install rounds]
import { join } from 'node:path';
import { SshSession, targetFor, withSsh } from '../activities/shared/ssh';
import { startInstall } from '../client/api';
import { Lab } from '../lab';
import { withBenchEnvironment } from './environment';
import { runTimes } from '../client/run-times';
import { median, table, type Bench } from './record';

const STANDALONE = join(__dirname, '../lab/topologies/standalone.yaml');

/** Counts SSH handshakes (SshSession.connect) until `stop`. */
function countConnects(): { count: () => number; stop: () => void } {
  const original = SshSession.connect;
  let connects = 0;
  SshSession.connect = (target) => {
    connects++;
    return original.call(SshSession, target);
  };
  return { count: () => connects, stop: () => void (SshSession.connect = original) };
}

async function commandsPerSecond(lab: Lab, commands: number): Promise<{ reused: number[]; fresh: number[] }> {
  const target = targetFor(lab.topology, lab.topology.hosts[0]);
  const reused: number[] = [];
  const fresh: number[] = [];
  // Batches alternate so the machine's noise falls on both alike.
  const batch = Math.max(1, Math.floor(commands / 5));
  for (let round = 0; round < 5; round++) {
    let started = performance.now();
    await withSsh(target, async (ssh) => {
      for (let i = 0; i < batch; i++) await ssh.check('true');
    });
    reused.push(batch / ((performance.now() - started) / 1000));
    started = performance.now();
    for (let i = 0; i < batch; i++) await withSsh(target, (ssh) => ssh.check('true'));
    fresh.push(batch / ((performance.now() - started) / 1000));
  }
  return { reused, fresh };
}

export const run: Bench = async (args) => {
  const commands = Number(args[0] ?? 200);
  const rounds = Number(args[1] ?? 3);
  const lab = await Lab.up(STANDALONE, { wipe: true });
  let rates: { reused: number[]; fresh: number[] };
  try {
    rates = await commandsPerSecond(lab, commands);
  } finally {
    await lab.down();
  }
  const perSecond = (xs: number[]) => median(xs).toFixed(1);
  process.stdout.write(`commands per second: reused ${perSecond(rates.reused)}, new connection each ${perSecond(rates.fresh)}\n`);

  const installs: Record<'off' | 'on', { wallMs: number; activitiesMs: number; connects: number }[]> = { off: [], on: [] };
  await withBenchEnvironment(async (client) => {
    for (let round = 1; round <= rounds; round++) {
      for (const reuse of round % 2 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
        process.env.HAFLOW_SSH_IDLE_SECONDS = reuse === 'off' ? '0' : '';
        const labForInstall = await Lab.up(STANDALONE, { wipe: true });
        const connects = countConnects();
        try {
          const handle = await startInstall(client, labForInstall.topology);
          const outcome = await handle.result();
          if (outcome.status !== 'completed') throw new Error(`the install did not complete: ${outcome.status}`);
          const t = await runTimes(handle);
          installs[reuse].push({ wallMs: t.wallMs, activitiesMs: t.activitiesMs, connects: connects.count() });
          process.stdout.write(`round ${round}, reuse ${reuse}: ${(t.wallMs / 1000).toFixed(1)} s, ${connects.count()} SSH connections\n`);
        } finally {
          connects.stop();
          delete process.env.HAFLOW_SSH_IDLE_SECONDS;
          await labForInstall.down();
        }
      }
    }
  });
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const row = (reuse: 'off' | 'on', what: string) => {
    const runs = installs[reuse];
    return [what, String(runs.length), s(median(runs.map((r) => r.wallMs))), s(median(runs.map((r) => r.activitiesMs))), String(median(runs.map((r) => r.connects)))];
  };
  const gain = median(installs.off.map((r) => r.wallMs)) - median(installs.on.map((r) => r.wallMs));
  return {
    title: 'SSH: reused connections against a new connection per command, and across an install\'s steps',
    method:
      `Commands per second: \`true\` run ${commands} times through haflow's SshSession on one lab machine, in 5 alternating batches, over one connection and with a new connection (handshake, key check, auth) per command; the median of the batches. ` +
      'Installs: the standalone install on a bare lab, wall time and time inside activities from the workflow history, SSH handshakes counted at SshSession.connect; reuse off is HAFLOW_SSH_IDLE_SECONDS=0 (a connection per step and host, as before reuse), on is the default.',
    markdown: [
      table(['connection', 'commands per second, median', 'batches'], [
        ['one connection, reused', perSecond(rates.reused), rates.reused.map((r) => r.toFixed(0)).join(', ')],
        ['a new connection per command', perSecond(rates.fresh), rates.fresh.map((r) => r.toFixed(0)).join(', ')],
      ]),
      '',
      table(['install', 'runs', 'wall time, median', 'in activities, median', 'SSH connections, median'], [row('off', 'reuse off (a connection per step)'), row('on', 'reuse on (kept between a host\'s steps)')]),
      '',
      `Reuse saves ${s(gain)} of the install's median wall time (${((gain / median(installs.off.map((r) => r.wallMs))) * 100).toFixed(1)} %).`,
    ].join('\n'),
  };
};
