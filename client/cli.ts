// The operator's command line. A thin shell: each command parses its arguments and calls
// the typed API (topology loader, client functions), so scripts can do the same.
import { Command, CommanderError } from 'commander';
import { formatIssue, loadTopology, TopologyError } from '../topology';

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

function validate(files: string[]): number {
  let failed = 0;
  for (const file of files) {
    try {
      const { topology, warnings } = loadTopology(file);
      for (const warning of warnings) process.stderr.write(`${formatIssue(warning)}\n`);
      process.stdout.write(`${file}: valid (${topology.layout} layout, cluster ${topology.cluster}, ${topology.hosts.length} hosts)\n`);
    } catch (err) {
      failed += 1;
      if (err instanceof TopologyError) {
        for (const issue of err.issues) process.stderr.write(`${formatIssue(issue)}\n`);
        process.stderr.write(`${file}: ${err.issues.filter((i) => i.severity === 'error').length} error(s)\n`);
      } else {
        process.stderr.write(`${file}: ${(err as Error).message}\n`);
      }
    }
  }
  return failed > 0 ? 1 : 0;
}
