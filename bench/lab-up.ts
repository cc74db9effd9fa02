// How long `lab up` takes for each lab layout: from bare disks (wipe: disk copies, host keys,
// sshd answering) and with existing disks (a power-on). Needs root and the lab's packages;
// leaves nothing running.
// Run: npm run bench -- lab [rounds] [layout,...]   (layouts: the files in lab/topologies)
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../lab';
import { median, table, type Bench } from './record';

const TOPOLOGIES = join(__dirname, '../lab/topologies');

async function timed(what: string, body: () => Promise<Lab>): Promise<{ lab: Lab; ms: number }> {
  const started = process.hrtime.bigint();
  const lab = await body();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(`${what}: ${(ms / 1000).toFixed(2)} s\n`);
  return { lab, ms };
}

export const run: Bench = async (args) => {
  const rounds = Number(args[0] ?? 5);
  const layouts = args[1]?.split(',') ?? readdirSync(TOPOLOGIES).filter((f) => f.endsWith('.yaml')).map((f) => f.replace(/\.yaml$/, ''));
  const rows: string[][] = [];
  for (const layout of layouts) {
    const file = join(TOPOLOGIES, `${layout}.yaml`);
    const wiped: number[] = [];
    const powerOn: number[] = [];
    let machines = 0;
    for (let i = 0; i < rounds; i++) {
      const bare = await timed(`${layout} round ${i + 1}: up --wipe`, () => Lab.up(file, { wipe: true }));
      machines = bare.lab.topology.hosts.length;
      wiped.push(bare.ms);
      await bare.lab.down();
      const again = await timed(`${layout} round ${i + 1}: up (existing disks)`, () => Lab.up(file));
      powerOn.push(again.ms);
      await again.lab.down();
    }
    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    rows.push([layout, String(machines), s(median(wiped)), s(Math.max(...wiped)), s(median(powerOn)), s(Math.max(...powerOn))]);
  }
  return {
    title: 'Lab bring-up per layout',
    method: `${rounds} rounds per layout of \`Lab.up\` timed from the call to its return (every machine's sshd answering), bare (\`--wipe\`: disk copies from the image, new host keys) and again on the disks just made (a power-on); each followed by \`lab down\`.`,
    markdown: table(['layout', 'machines', 'up --wipe, median', 'worst', 'up (power-on), median', 'worst'], rows),
  };
};
