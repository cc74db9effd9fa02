// What TLS costs in failover time: the same standalone lab installed twice in one run, with TLS on
// every plane (the default) and with `security: { insecure: true }`, under the same timing profile;
// on each, rounds of a crash of the leader's machine and of a coordinated switchover, measured by
// haflow's own write probe. Measures; asserts nothing. Needs root, the lab's packages and the
// Temporal CLI; leaves nothing running.
// Run: npm run bench -- tls-cost [rounds] [profile]
//   profiles: lab (the lab topology: ttl 10, loop_wait 2, retry_timeout 4; HAProxy inter 3s fall 3 rise 2)
//             fast (patroni.profile fast: ttl 6, loop_wait 1; HAProxy inter 0.5s fall 2 rise 1)
import type { Client } from '@temporalio/client';
import { startRunbook } from '../client/api';
import type { Lab } from '../lab';
import type { DrillReport } from '../runbooks/report';
import type { MeasuredOutcome } from '../workflows/measured';
import type { Bench } from './record';
import { forEachInstalledProfile, median, waitHealthy, withBenchEnvironment, type ProfileEdit } from './environment';

const TIMING: Record<string, (yaml: string) => string> = {
  lab: (yaml) => yaml,
  fast: (yaml) => yaml.replace(/ttl: 10\n\s*loop_wait: 2\n\s*retry_timeout: 4/, 'profile: fast'),
};

type Measure = 'crash-leader' | 'coordinated switchover';

export const run: Bench = async (args) => {
  const rounds = Number(args[0] ?? 5);
  const timing = args[1] ?? 'lab';
  if (!TIMING[timing]) throw new Error(`unknown profile ${timing}; known: ${Object.keys(TIMING).join(', ')}`);
  const edits: Record<string, ProfileEdit> = {
    tls: (yaml) => TIMING[timing](yaml),
    plain: (yaml) => `${TIMING[timing](yaml)}\nsecurity: { insecure: true }\n`,
  };
  const reports: Record<string, DrillReport[]> = {};
  await withBenchEnvironment(async (client, dir) => {
    process.env.XDG_DATA_HOME = dir;
    await forEachInstalledProfile(client, dir, ['tls', 'plain'], edits, async (lab, planes) => {
      for (let round = 1; round <= rounds; round++) {
        for (const measure of ['crash-leader', 'coordinated switchover'] as const) {
          const report = await once(client, lab, measure);
          (reports[`${planes} ${measure}`] ??= []).push(report);
          const f = report.figures;
          process.stdout.write(`${planes} ${measure} ${round}: write downtime ${f.writeDowntimeSeconds} s, lost ${f.lostWrites}\n`);
        }
      }
    });
  });
  const rows: string[] = [];
  for (const measure of ['crash-leader', 'coordinated switchover'] as const) {
    const medians: Record<string, number> = {};
    for (const planes of ['plain', 'tls']) {
      const rs = reports[`${planes} ${measure}`];
      const down = rs.map((r) => r.figures.writeDowntimeSeconds ?? NaN);
      const lost = rs.map((r) => r.figures.lostWrites ?? NaN);
      medians[planes] = median(down);
      rows.push(`| ${measure} | ${planes === 'tls' ? 'TLS on every plane' : 'plain text (security.insecure)'} | ${rs.length} | ${median(down).toFixed(1)} s | ${Math.min(...down).toFixed(1)} s | ${Math.max(...down).toFixed(1)} s | ${Math.max(...lost)} | ${down.map((d) => d.toFixed(1)).join(', ')} |`);
    }
    rows.push(`| ${measure} | TLS − plain, medians | | ${(medians.tls - medians.plain).toFixed(1)} s | | | | |`);
  }
  return {
    title: `TLS against plain text: failover time (profile ${timing})`,
    method:
      `the standalone lab installed bare twice in one run, with TLS on every plane and with security.insecure, profile ${timing}; on each, ${rounds} rounds of a crash-leader drill ` +
      "(the leader's machine loses its power) and a coordinated switchover; write downtime by the probe (an INSERT through HAProxy's write port every 100 ms, over TLS " +
      'when the cluster has it, from the last acknowledged write before to the first after); lost writes by reading every acknowledged row back from the new leader.',
    markdown: ['| measure | planes | runs | write downtime, median | best | worst | lost writes, worst | rounds (s) |', '|---|---|---|---|---|---|---|---|', ...rows].join('\n'),
  };
};

async function once(client: Client, lab: Lab, measure: Measure): Promise<DrillReport> {
  const health = await waitHealthy(client, lab);
  const handle =
    measure === 'crash-leader'
      ? await startRunbook(client, 'drill', lab.topology, { fault: 'crash-leader', leader: health.leader! })
      : await startRunbook(client, 'switchover', lab.topology, { leader: health.leader!, candidate: health.members.find((m) => m.name !== health.leader && m.streaming)!.name, coordinated: true });
  const outcome = (await handle.result()) as MeasuredOutcome;
  if (outcome.status !== 'completed' || !outcome.report) throw new Error(`${measure} did not complete (${outcome.status})`);
  return outcome.report;
}
