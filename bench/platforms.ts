// Debian 12 / PostgreSQL 15 / Patroni 3.0.2 beside Debian 13 / PostgreSQL 17 / Patroni 4.0.7, in
// one run on the same box: the install time of each layout from bare machines, and on the
// standalone layout, per timing profile, a crash of the leader's machine and switchovers, plain
// and coordinated, measured by haflow's own write probe. Measures; asserts nothing. Needs root,
// the lab's packages, mmdebstrap and the Temporal CLI; leaves nothing running.
// Run: npm run bench -- platforms [rounds] [profile,...|none] [layout,...|none]
//   profiles: lab (the lab topologies' own timings), fast, aggressive (patroni.profile); none to skip the failovers
//   layouts:  standalone, distributed, generic, classic (installs timed); none to skip them
import type { Client } from '@temporalio/client';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startInstall, startRunbook } from '../client/api';
import { Lab } from '../lab';
import type { DrillReport } from '../runbooks/report';
import type { MeasuredOutcome } from '../workflows/measured';
import type { Bench } from './record';
import { median, waitHealthy, withBenchEnvironment } from './environment';

const PLATFORMS = { 'debian 12': '', 'debian 13': '-debian13' } as const;
type Platform = keyof typeof PLATFORMS;
const LAYOUTS = ['standalone', 'distributed', 'generic', 'classic'] as const;
type Measure = 'crash-leader' | 'switchover' | 'coordinated switchover';
const MEASURES: Measure[] = ['crash-leader', 'switchover', 'coordinated switchover'];

/** A profile's edit of a lab topology: its timings replaced by the named profile's. */
function withProfile(yaml: string, profile: string): string {
  if (profile === 'lab') return yaml;
  return yaml.replace(/ttl: \d+[^\n]*\n\s*loop_wait: \d+\n\s*retry_timeout: \d+/, `profile: ${profile}`);
}

export const run: Bench = async (args) => {
  const rounds = Number(args[0] ?? 3);
  const profiles = args[1] === 'none' ? [] : (args[1] ?? 'lab,fast,aggressive').split(',');
  const layouts = args[2] === 'none' ? [] : ((args[2]?.split(',') ?? LAYOUTS) as (typeof LAYOUTS)[number][]);
  const installs: Record<string, number> = {};
  const reports: Record<string, DrillReport[]> = {};
  await withBenchEnvironment(async (client, dir) => {
    process.env.XDG_DATA_HOME = dir;
    for (const layout of layouts) {
      for (const platform of Object.keys(PLATFORMS) as Platform[]) {
        const file = join(__dirname, `../lab/topologies/${layout}${PLATFORMS[platform]}.yaml`);
        const lab = await Lab.up(file, { wipe: true, progress: (line) => process.stderr.write(`${line}\n`) });
        try {
          installs[`${layout} ${platform}`] = await timedInstall(client, lab);
          process.stdout.write(`install ${layout} on ${platform}: ${installs[`${layout} ${platform}`].toFixed(1)} s\n`);
        } finally {
          await lab.down();
        }
      }
    }
    for (const profile of profiles) {
      for (const platform of Object.keys(PLATFORMS) as Platform[]) {
        const file = join(mkdtempSync(join(dir, 'topology-')), `standalone-${profile}.yaml`);
        writeFileSync(file, withProfile(readFileSync(join(__dirname, `../lab/topologies/standalone${PLATFORMS[platform]}.yaml`), 'utf8'), profile));
        const lab = await Lab.up(file, { wipe: true });
        try {
          await timedInstall(client, lab);
          for (let round = 1; round <= rounds; round++) {
            for (const measure of MEASURES) {
              const report = await once(client, lab, measure);
              (reports[`${profile} ${platform} ${measure}`] ??= []).push(report);
              process.stdout.write(`${profile} ${platform} ${measure} ${round}: write downtime ${report.figures.writeDowntimeSeconds} s (predicted ${report.predicted.expectedSeconds} s), lost ${report.figures.lostWrites}\n`);
            }
          }
        } finally {
          await lab.down();
        }
      }
    }
  });
  const installRows = layouts.map((layout) => {
    const [old, now] = [installs[`${layout} debian 12`], installs[`${layout} debian 13`]];
    return `| ${layout} | ${old.toFixed(1)} s | ${now.toFixed(1)} s | ${(now / old).toFixed(2)} |`;
  });
  const drillRows: string[] = [];
  for (const profile of profiles) {
    for (const measure of MEASURES) {
      const cell = (platform: Platform) => {
        const rs = reports[`${profile} ${platform} ${measure}`] ?? [];
        const down = rs.map((r) => r.figures.writeDowntimeSeconds ?? NaN);
        return `${median(down).toFixed(1)} s (${down.map((d) => d.toFixed(1)).join(', ')}; predicted ${median(rs.map((r) => r.predicted.expectedSeconds)).toFixed(1)} s), lost ${Math.max(...rs.map((r) => r.figures.lostWrites ?? NaN))}`;
      };
      drillRows.push(`| ${profile} | ${measure} | ${cell('debian 12')} | ${cell('debian 13')} |`);
    }
  }
  const drillTable = drillRows.length === 0 ? [] : [
    '| profile | measure | Debian 12 (Patroni 3.0.2): median (rounds; predicted), lost | Debian 13 (Patroni 4.0.7): median (rounds; predicted), lost |',
    '|---|---|---|---|',
    ...drillRows,
  ];
  return {
    title: 'Debian 12 / PostgreSQL 15 / Patroni 3.0.2 beside Debian 13 / PostgreSQL 17 / Patroni 4.0.7',
    method:
      'one run on one box, each platform on its own lab machines (Debian 13 booted from the root file system the lab builds with mmdebstrap). ' +
      "Install: `haflow install` of each layout's lab topology on bare machines, from the run's start to its completion. " +
      `Failover: the standalone lab of each platform installed bare per timing profile, then ${rounds} rounds of a crash-leader drill, a plain switchover and a coordinated one; ` +
      'write downtime by the probe (an INSERT through HAProxy every 100 ms, a new libpq-style connection after a failure), from the last acknowledged write before to the first after; ' +
      'lost writes by reading every acknowledged row back from the new leader; predicted from the timings the leader\'s Patroni runs with.',
    markdown: [
      ...(installRows.length > 0 ? ['| layout | install, Debian 12 | install, Debian 13 | 13 / 12 |', '|---|---|---|---|', ...installRows, ''] : []),
      ...drillTable,
    ].join('\n'),
  };
};

async function timedInstall(client: Client, lab: Lab): Promise<number> {
  const started = Date.now();
  const outcome = await (await startInstall(client, lab.topology)).result();
  if (outcome.status !== 'completed') throw new Error(`the install of ${lab.topology.cluster} did not complete (${outcome.status})`);
  return (Date.now() - started) / 1000;
}

async function once(client: Client, lab: Lab, measure: Measure): Promise<DrillReport> {
  const health = await waitHealthy(client, lab);
  const candidate = health.members.find((m) => m.name !== health.leader && m.streaming)!.name;
  const handle =
    measure === 'crash-leader'
      ? await startRunbook(client, 'drill', lab.topology, { fault: 'crash-leader', leader: health.leader! })
      : await startRunbook(client, 'switchover', lab.topology, { leader: health.leader!, candidate, coordinated: measure === 'coordinated switchover' });
  const outcome = (await handle.result()) as MeasuredOutcome;
  if (outcome.status !== 'completed' || !outcome.report) throw new Error(`${measure} did not complete (${outcome.status})`);
  return outcome.report;
}
