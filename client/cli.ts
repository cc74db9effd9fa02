// The operator's command line. A thin shell: each command parses its arguments and calls
// the typed API (topology loader, client functions), so scripts can do the same.
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { hostFiles, secretPlaceholders } from '../activities/render';
import { formatIssue, loadTopology, TopologyError } from '../topology';
import { demoLab } from './demo';
import { defineLabCommands } from './lab-command';

/** Exit codes: 0 ok, 1 the operation failed or found problems, 2 bad usage. */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command()
    .name('haflow')
    .description('Install and operate a highly available PostgreSQL stack (Patroni + etcd + HAProxy) as durable Temporal workflows')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('validate')
    .description('check topology files: every error with its file, line, column and field; exit 0 when all are valid')
    .argument('<topology...>', 'topology YAML files')
    .action((files: string[]) => {
      exitCode = validate(files);
    });

  program
    .command('render')
    .description('print every configuration file haflow would write, host by host (passwords shown as <env NAME>); connects nowhere')
    .argument('<topology>', 'topology YAML file')
    .option('--host <name>', 'only this host')
    .action((file: string, opts: { host?: string }) => {
      exitCode = render(file, opts.host);
    });

  program
    .command('demo')
    .description('a tour on this machine: validate a topology per layout, show the files haflow writes, bring up a lab of real machines (root)')
    .option('--keep', 'leave the lab running at the end')
    .action(async (opts: { keep?: boolean }) => {
      exitCode = demo();
      if (exitCode === 0) await demoLab(opts);
    });

  defineLabCommands(program.command('lab'), (code) => (exitCode = code));

  program
    .command('worker')
    .description('run a worker: executes haflow workflows and activities (Temporal connection from TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE, default the embedded dev server)')
    .option('--grace <seconds>', 'seconds running activities get to finish on SIGINT/SIGTERM', '30')
    .action(async (opts: { grace: string }) => {
      const { runWorker } = await import('../worker/main');
      await runWorker({ graceSeconds: Number(opts.grace) });
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    process.stderr.write(`haflow: ${(err as Error).message}\n`);
    return 1;
  }
  return exitCode;
}

function render(file: string, hostName?: string): number {
  const { topology } = loadOrReport(file) ?? {};
  if (!topology) return 1;
  const hosts = topology.hosts.filter((h) => !hostName || h.name === hostName);
  if (hosts.length === 0) {
    process.stderr.write(`${file}: no host named ${hostName}; hosts are ${topology.hosts.map((h) => h.name).join(', ')}\n`);
    return 1;
  }
  for (const host of hosts) {
    for (const f of hostFiles(topology, host, secretPlaceholders(topology))) {
      process.stdout.write(`==> ${host.name} (${host.address}): ${f.path}  ${f.owner}:${f.group} ${f.mode.toString(8)}\n${f.content}\n`);
    }
  }
  return 0;
}

function demo(): number {
  const examples = ['standalone', 'distributed', 'patroni', 'classic'].map((l) => join(__dirname, '..', 'topology', 'examples', `${l}.yaml`));
  process.stdout.write('haflow demo: the example topologies, one per layout\n');
  const invalid = validate(examples);
  process.stdout.write('\nWhat haflow writes on each machine of the standalone layout (3 machines):\n\n');
  return invalid || render(examples[0]);
}

function loadOrReport(file: string): ReturnType<typeof loadTopology> | undefined {
  try {
    const loaded = loadTopology(file);
    for (const warning of loaded.warnings) process.stderr.write(`${formatIssue(warning)}\n`);
    return loaded;
  } catch (err) {
    if (err instanceof TopologyError) {
      for (const issue of err.issues) process.stderr.write(`${formatIssue(issue)}\n`);
      process.stderr.write(`${file}: ${err.issues.filter((i) => i.severity === 'error').length} error(s)\n`);
    } else {
      process.stderr.write(`${file}: ${(err as Error).message}\n`);
    }
    return undefined;
  }
}

function validate(files: string[]): number {
  let failed = 0;
  for (const file of files) {
    const loaded = loadOrReport(file);
    if (!loaded) {
      failed += 1;
      continue;
    }
    const { topology } = loaded;
    process.stdout.write(`${file}: valid (${topology.layout} layout, cluster ${topology.cluster}, ${topology.hosts.length} hosts)\n`);
  }
  return failed > 0 ? 1 : 0;
}
