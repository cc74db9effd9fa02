// Offline bundles, measured: how long `haflow bundle` takes and what it holds, then installs of
// the generic lab (3 DB nodes + 1 HAProxy machine) on machines without package sources, from the
// bundle: the packages step of each host (upload, checksums, apt install) and the whole install.
// The same lab installed with its packages already present (the image has them) is the baseline.
// Needs root, the lab's packages, dpkg-dev, the package mirror and the Temporal CLI.
// Run: node --import tsx bench/bundle.ts [rounds]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packagesFor } from '../activities/components';
import { targetFor, withSsh } from '../activities/shared/ssh';
import { startInstall } from '../client/api';
import { buildBundle } from '../client/bundle';
import { Lab } from '../lab';
import type { RunbookOutcome } from '../workflows/protocol';
import { median, withBenchEnvironment } from './environment';

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const stepMs = (outcome: RunbookOutcome, id: string) => {
  const step = outcome.steps.find((s) => s.id === id);
  return step?.startedAt && step.finishedAt ? Date.parse(step.finishedAt) - Date.parse(step.startedAt) : NaN;
};

/** What an air-gapped host looks like: no package source, none of the role packages. */
async function airGap(lab: Lab): Promise<void> {
  await Promise.all(
    lab.topology.hosts.map((host) =>
      withSsh(targetFor(lab.topology, host), (ssh) =>
        ssh.check(
          [
            'rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*',
            'rm -rf /var/lib/apt/lists/*',
            '{ [ ! -d /etc/postgresql/15/main ] || pg_dropcluster --stop 15 main; }',
            `installed=$(dpkg-query -W -f='\${db:Status-Abbrev} \${Package}\\n' ${packagesFor(lab.topology, host, 'apt').join(' ')} 2>/dev/null | awk '/^ii/ {print $2}')`,
            'DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $installed >/dev/null',
            'DEBIAN_FRONTEND=noninteractive apt-get autoremove --purge -y -q >/dev/null',
          ].join(' && '),
          { sudo: true, timeoutMs: 300_000 },
        ),
      ),
    ),
  );
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 2);
  const file = join(__dirname, '../lab/topologies/generic.yaml');
  const work = mkdtempSync(join(tmpdir(), 'haflow-bench-bundle-'));
  try {
    await withBenchEnvironment(async (client) => {
      const probe = await Lab.up(file, { wipe: true });
      const topology = probe.topology;
      await probe.down();
      const builds: number[] = [];
      let dir = '';
      for (let round = 1; round <= rounds; round++) {
        dir = join(work, `bundle-${round}`);
        const started = Date.now();
        const built = await buildBundle(topology, dir);
        builds.push(Date.now() - started);
        process.stdout.write(`haflow bundle round ${round}: ${seconds(builds.at(-1)!)}, ${built.manifest.files.length} packages, ${(built.bytes / 1024 ** 2).toFixed(1)} MB\n`);
      }
      const results: Record<'bundle' | 'present', { wall: number[]; packages: Record<string, number[]> }> = {
        bundle: { wall: [], packages: {} },
        present: { wall: [], packages: {} },
      };
      for (let round = 1; round <= rounds; round++) {
        for (const mode of ['present', 'bundle'] as const) {
          const lab = await Lab.up(file, { wipe: true });
          try {
            if (mode === 'bundle') await airGap(lab);
            const started = Date.now();
            const outcome = await (await startInstall(client, mode === 'bundle' ? { ...lab.topology, packages: { bundle: dir } } : lab.topology)).result();
            if (outcome.status !== 'completed') throw new Error(`${mode} install did not complete`);
            results[mode].wall.push(Date.now() - started);
            const line = lab.topology.hosts.map((h) => {
              const ms = stepMs(outcome, `packages.install@${h.name}`);
              (results[mode].packages[h.name] ??= []).push(ms);
              return `${h.name} ${seconds(ms)}`;
            });
            process.stdout.write(`${mode === 'bundle' ? 'from the bundle ' : 'packages present'} round ${round}: install ${seconds(results[mode].wall.at(-1)!)}; packages step ${line.join(', ')}\n`);
            if (mode === 'bundle') {
              for (const h of lab.topology.hosts) process.stdout.write(`  ${h.name}: ${outcome.steps.find((s) => s.id === `packages.install@${h.name}`)?.summary?.split('; installed')[0]}\n`);
            }
          } finally {
            await lab.down();
          }
        }
      }
      process.stdout.write(`\nhaflow bundle: median ${seconds(median(builds))} over ${rounds}\n`);
      for (const mode of ['present', 'bundle'] as const) {
        const packages = Object.entries(results[mode].packages).map(([host, xs]) => `${host} ${seconds(median(xs))}`);
        process.stdout.write(`${mode === 'bundle' ? 'from the bundle ' : 'packages present'}: install median ${seconds(median(results[mode].wall))}; packages step median ${packages.join(', ')}\n`);
      }
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
