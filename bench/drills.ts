// Failover figures per fault and per timing profile, measured by haflow's own drills on the
// lab (a real dev server and worker, the standalone lab installed once per profile): write
// downtime and lost writes over several drills, the median and the worst, next to the
// predicted downtime. Measures; asserts nothing. Needs root, the lab's packages and the
// Temporal CLI; leaves nothing running.
// Run: npm run bench -- failover [rounds] [profile,...] [fault,...]
//   profiles: lab (the lab topology: ttl 10, loop_wait 2, retry_timeout 4; HAProxy inter 3s fall 3 rise 2)
//             safe (Patroni's defaults: ttl 30, loop_wait 10, retry_timeout 10; HAProxy as in the lab)
//             fast (ttl 6, loop_wait 1, retry_timeout 2; HAProxy inter 0.5s fall 2 rise 1)
//             aggressive (patroni.profile aggressive: ttl 5, loop_wait 1, retry_timeout 2; HAProxy inter 0.25s fall 2 rise 1)
import type { Client } from '@temporalio/client';
import { startRunbook } from '../client/api';
import { Lab } from '../lab';
import { FAULT_NAMES, FAULTS, type FaultName } from '../topology/faults';
import type { DrillReport } from '../runbooks/report';
import type { MeasuredOutcome } from '../workflows/measured';
import type { Bench } from './record';
import { forEachInstalledProfile, median, waitHealthy, withBenchEnvironment } from './environment';

const PROFILES: Record<string, (yaml: string) => string> = {
  lab: (yaml) => yaml,
  // Patroni's defaults, the `safe` timing profile; HAProxy's checks as in the lab (the guide's).
  safe: (yaml) => yaml.replace(/ttl: 10\n\s*loop_wait: 2\n\s*retry_timeout: 4/, 'ttl: 30\n  loop_wait: 10\n  retry_timeout: 10'),
  fast: (yaml) =>
    yaml
      .replace(/ttl: 10\n\s*loop_wait: 2\n\s*retry_timeout: 4/, 'ttl: 6\n  loop_wait: 1\n  retry_timeout: 2')
      .replace('haproxy:\n', 'haproxy:\n  check: { inter: 0.5, fall: 2, rise: 1 }\n'),
  aggressive: (yaml) => yaml.replace(/ttl: 10\n\s*loop_wait: 2\n\s*retry_timeout: 4/, 'profile: aggressive'),
};


export const run: Bench = async (args) => {
  const rounds = Number(args[0] ?? 5);
  const profiles = (args[1] ?? 'lab,fast').split(',');
  // A power cut of the application master needs the application observer running to fail the
  // application over; this bench does not start one: bench/app-failover.ts measures that fault.
  const faults = (args[2] ?? FAULT_NAMES.filter((f) => FAULTS[f].target !== 'app-master').join(',')).split(',') as FaultName[];
  const needObserver = faults.filter((f) => FAULTS[f]?.target === 'app-master');
  if (needObserver.length) throw new Error(`${needObserver.join(', ')} needs the application observer: measure it with node --import tsx bench/app-failover.ts [rounds] lab,classic drill`);
  const rows: string[] = [];
  await withBenchEnvironment(async (client, dir) => {
    process.env.XDG_DATA_HOME = dir;
    await forEachInstalledProfile(client, dir, profiles, PROFILES, async (lab, profile) => {
      for (const fault of faults) rows.push(await drillRounds(client, lab, profile, fault, rounds));
    });
  });
  return {
    title: 'Failover drills per fault and profile',
    method:
      `${rounds} drills of each fault on a healthy standalone lab, installed bare per profile; write downtime by the drill's probe (a write every 100 ms through HAProxy, ` +
      "from the last acknowledged write before the fault to the first after it); lost writes by reading the probe's acknowledged sequence numbers back from the new leader; " +
      "the prediction by runbooks/report.ts from the cluster's own settings.",
    markdown: ['| profile | fault | drills | write downtime, median | worst | predicted (vs median) | predicted worst | lost writes, worst |', '|---|---|---|---|---|---|---|---|', ...rows].join('\n'),
  };
};

/** `rounds` drills of one fault; one row of the results table. */
async function drillRounds(client: Client, lab: Lab, profile: string, fault: FaultName, rounds: number): Promise<string> {
  const reports: DrillReport[] = [];
  for (let round = 1; round <= rounds; round++) {
    const health = await waitHealthy(client, lab);
    const handle = await startRunbook(client, 'drill', lab.topology, { fault, leader: health.leader! });
    const outcome = (await handle.result()) as MeasuredOutcome;
    if (!outcome.report) throw new Error(`drill ${fault} gave no report`);
    reports.push(outcome.report);
    const f = outcome.report.figures;
    process.stdout.write(`${profile} ${fault} round ${round}: write downtime ${f.writeDowntimeSeconds} s, lost ${f.lostWrites}, predicted ${outcome.report.predicted.expectedSeconds} s (worst ${outcome.report.predicted.worstSeconds} s)\n`);
  }
  const downtimes = reports.map((r) => r.figures.writeDowntimeSeconds ?? NaN);
  const lost = reports.map((r) => r.figures.lostWrites ?? NaN);
  const predicted = reports[0].predicted;
  const m = median(downtimes);
  const row = `| ${profile} | ${fault} | ${rounds} | ${m.toFixed(1)} s | ${Math.max(...downtimes).toFixed(1)} s | ${predicted.expectedSeconds.toFixed(1)} s (${(((predicted.expectedSeconds - m) / m) * 100).toFixed(0)} %) | ${predicted.worstSeconds.toFixed(1)} s | ${Math.max(...lost)} |`;
  process.stdout.write(`${row}\n`);
  return row;
}

