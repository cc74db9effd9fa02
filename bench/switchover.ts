// The plain switchover against the coordinated one, on the same installed cluster, alternating
// so that the machine's noise falls on both alike: write downtime (the drill's write probe, a
// write through HAProxy every 100 ms, from the last acknowledged write before the switchover to
// the first after), lost acknowledged writes, and the two phases (Patroni's demote and promote;
// routing). Measures; asserts nothing. Needs root, the lab's packages and the Temporal CLI;
// leaves nothing running.
// Run: node --import tsx bench/switchover.ts [rounds per kind] [profile,...]
//   profiles: lab (the lab topology: Patroni ttl 10, loop_wait 2; HAProxy inter 3s fall 3 rise 2, the guide's checks)
//             fast (patroni.profile fast: ttl 6, loop_wait 1; HAProxy inter 0.5s fall 2 rise 1)
import { startRunbook } from '../client/api';
import type { DrillReport } from '../runbooks/report';
import type { MeasuredOutcome } from '../workflows/measured';
import { forEachInstalledProfile, median, waitHealthy, withBenchEnvironment } from './environment';

const PROFILES: Record<string, (yaml: string) => string> = {
  lab: (yaml) => yaml,
  fast: (yaml) => yaml.replace(/ttl: 10\n\s*loop_wait: 2\n\s*retry_timeout: 4/, 'profile: fast'),
};



async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 10);
  const profiles = (process.argv[3] ?? 'lab,fast').split(',');
  const rows: string[] = [];
  await withBenchEnvironment(async (client, dir) => {
    process.env.XDG_DATA_HOME = dir;
    await forEachInstalledProfile(client, dir, profiles, PROFILES, async (lab, profile) => {
      const reports: Record<'plain' | 'coordinated', DrillReport[]> = { plain: [], coordinated: [] };
      for (let round = 1; round <= rounds; round++) {
        for (const kind of ['plain', 'coordinated'] as const) {
          const health = await waitHealthy(client, lab);
          const candidate = health.members.find((m) => m.name !== health.leader && m.streaming)!.name;
          const handle = await startRunbook(client, 'switchover', lab.topology, { leader: health.leader!, candidate, ...(kind === 'coordinated' ? { coordinated: true } : {}) });
          const outcome = (await handle.result()) as MeasuredOutcome;
          if (outcome.status !== 'completed' || !outcome.report) throw new Error(`${kind} switchover ${round} did not complete (${outcome.status})`);
          const f = outcome.report.figures;
          reports[kind].push(outcome.report);
          process.stdout.write(
            `${profile} ${kind} ${round}: write downtime ${f.writeDowntimeSeconds} s, lost ${f.lostWrites}, Patroni ${f.switchover?.patroniSeconds} s, routing ${f.switchover?.routingSeconds} s${f.switchover?.coordinated === false && kind === 'coordinated' ? ' (fell back to checks)' : ''}\n`,
          );
        }
      }
      for (const kind of ['plain', 'coordinated'] as const) {
        const rs = reports[kind];
        const down = rs.map((r) => r.figures.writeDowntimeSeconds ?? NaN);
        const patroni = rs.map((r) => r.figures.switchover?.patroniSeconds ?? NaN);
        const routing = rs.map((r) => r.figures.switchover?.routingSeconds ?? NaN);
        const lost = rs.map((r) => r.figures.lostWrites ?? NaN);
        const coordinated = rs.filter((r) => r.figures.switchover?.coordinated).length;
        const row = `| ${profile} | ${kind}${kind === 'coordinated' ? ` (${coordinated} of ${rs.length} coordinated)` : ''} | ${rs.length} | ${median(down).toFixed(1)} s | ${Math.max(...down).toFixed(1)} s | ${median(patroni).toFixed(1)} s | ${median(routing).toFixed(1)} s | ${Math.max(...lost)} |`;
        process.stdout.write(`${row}\n`);
        rows.push(row);
      }
    });
  });
  process.stdout.write(['', "| profile | switchover | runs | write downtime, median | worst | Patroni's demote and promote, median | routing, median | lost writes, worst |", '|---|---|---|---|---|---|---|---|', ...rows].join('\n') + '\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
