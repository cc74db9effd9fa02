// `npm run bench -- <name> [arguments]`: runs one benchmark, prints its figures, and appends them
// to bench/RESULTS.md with the machine, the date and the command (bench/record.ts).
// Benchmarks on the lab need root, the lab's packages and the Temporal CLI; each leaves nothing running.
import { appendResult, type Bench } from './record';

interface BenchEntry {
  usage: string;
  what: string;
  load: () => Promise<Bench>;
}

const BENCHES: Record<string, BenchEntry> = {
  'install-vs-script': {
    usage: 'install-vs-script [rounds] [mux|new] [debian12|debian13]',
    what: 'the standalone install through haflow against a plain script of the same remote commands',
    load: async () => (await import('./install-vs-script')).run,
  },
  ssh: {
    usage: 'ssh [commands] [install rounds]',
    what: 'commands per second over a reused against a new SSH connection; the install with and without reuse',
    load: async () => (await import('./ssh')).run,
  },
  lab: {
    usage: 'lab [rounds] [layout,...]',
    what: 'time to bring up each lab layout, bare and with existing disks',
    load: async () => (await import('./lab-up')).run,
  },
  monitors: {
    usage: 'monitors [count] [minutes] [watchSeconds] [periodsPerRun] [activity slots]',
    what: 'worker CPU and memory, history growth and checks per second of N healthy application monitors',
    load: async () => (await import('./monitors')).run,
  },
  failover: {
    usage: 'failover [rounds] [profile,...] [fault,...]',
    what: 'drill figures per fault and timing profile, predicted bound beside them',
    load: async () => (await import('./drills')).run,
  },
  'tls-cost': {
    usage: 'tls-cost [rounds] [profile]',
    what: 'crash-leader and coordinated switchover on the standalone lab with TLS on every plane beside plain text, in one run',
    load: async () => (await import('./tls-cost')).run,
  },
  platforms: {
    usage: 'platforms [rounds] [profile,...|none] [layout,...|none]',
    what: 'Debian 12 / PostgreSQL 15 beside Debian 13 / PostgreSQL 17: install time per layout, crash-leader and switchovers per profile',
    load: async () => (await import('./platforms')).run,
  },
  backups: {
    usage: 'backups [pgbench scale]',
    what: 'pgBackRest on the standalone lab with about 1 GB: full backup against pg_basebackup, incremental after 5 % changed, restore time, archive lag under load, a writer during the backup',
    load: async () => (await import('./backups')).run,
  },
  engine: {
    usage: 'engine [concurrency,...] [--configs default,tuned] [--address host:port]',
    what: 'orchestration cost with no-op activities: steps/s, time per workflow, worker CPU and memory, history size',
    load: async () => (await import('./engine')).run,
  },
  'engine-cluster': {
    usage: 'engine-cluster [concurrency,...]',
    what: 'the engine benchmark on the embedded dev server beside a Temporal cluster on PostgreSQL (lab/temporal-cluster.ts)',
    load: async () => (await import('./engine-cluster')).run,
  },
};

function usage(): string {
  const width = Math.max(...Object.values(BENCHES).map((b) => b.usage.length));
  return [
    'usage: npm run bench -- <name> [arguments]',
    '',
    ...Object.values(BENCHES).map((b) => `  ${b.usage.padEnd(width)}  ${b.what}`),
    '',
    'Figures are printed and appended to bench/RESULTS.md.',
  ].join('\n');
}

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  const entry = BENCHES[name];
  if (!entry) {
    process.stderr.write(`unknown benchmark "${name}"\n\n${usage()}\n`);
    process.exitCode = 2;
    return;
  }
  const bench = await entry.load();
  const result = await bench(args);
  const command = ['npm run bench --', name, ...args].join(' ');
  process.stdout.write(appendResult(command, result));
  process.stdout.write('\nAppended to bench/RESULTS.md.\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
