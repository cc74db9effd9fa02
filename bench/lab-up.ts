// How long `lab up` takes for the 5-machine distributed layout, from bare disks (wipe) and
// with existing disks (a power-on). Needs root and the lab's packages; leaves nothing running.
// Run: node --import tsx bench/lab-up.ts [rounds]
import { Lab } from '../lab';
import { join } from 'node:path';

async function timed(what: string, body: () => Promise<Lab>): Promise<{ lab: Lab; ms: number }> {
  const started = process.hrtime.bigint();
  const lab = await body();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(`${what}: ${(ms / 1000).toFixed(2)} s\n`);
  return { lab, ms };
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 5);
  const file = join(__dirname, '../lab/topologies/distributed.yaml');
  const wiped: number[] = [];
  const powerOn: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const bare = await timed(`round ${i + 1}: up --wipe (5 bare machines)`, () => Lab.up(file, { wipe: true }));
    wiped.push(bare.ms);
    await bare.lab.down();
    const again = await timed(`round ${i + 1}: up (5 machines, existing disks)`, () => Lab.up(file));
    powerOn.push(again.ms);
    await again.lab.down();
  }
  const stats = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return `median ${(sorted[Math.floor(sorted.length / 2)] / 1000).toFixed(2)} s, max ${(sorted[sorted.length - 1] / 1000).toFixed(2)} s`;
  };
  process.stdout.write(`\nup --wipe: ${stats(wiped)} over ${rounds} rounds\nup:        ${stats(powerOn)} over ${rounds} rounds\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
