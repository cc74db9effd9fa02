// The operator's command line. A thin shell over the client library (client/): each file of
// this folder registers its own commands, and each command parses its arguments, calls the
// library and prints what happened, so scripts can do the same through the library.
import { Command, CommanderError } from 'commander';
import { registerBackupCommands } from './backup-commands';
import { registerCertsCommands } from './certs-commands';
import { registerDemoCommand } from './demo';
import { registerFailoverCommands } from './failover-commands';
import { registerLabCommands } from './lab-commands';
import { registerMaintenanceCommands } from './maintenance-commands';
import { registerMonitorCommands } from './monitor-commands';
import { registerOperationCommands } from './operation-commands';
import { registerScheduleCommands } from './schedule-commands';
import { registerServerCommands } from './server-commands';
import { setJsonOutput, takeExitCode } from './support';
import { registerTopologyCommands } from './topology-commands';

/** In the order `haflow --help` lists them: the topology, the operations, the processes, the lab. */
const REGISTRATIONS: ((program: Command) => void)[] = [
  registerTopologyCommands,
  registerOperationCommands,
  registerFailoverCommands,
  registerMaintenanceCommands,
  registerCertsCommands,
  registerBackupCommands,
  registerScheduleCommands,
  registerMonitorCommands,
  registerServerCommands,
  registerDemoCommand,
  registerLabCommands,
];

/** Runs one `haflow` command line; resolves with its exit code (0 ok, 1 failed or found problems, 2 bad usage or refused). */
export async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name('haflow')
    .description('Install and operate a highly available PostgreSQL stack (Patroni + etcd + HAProxy) as durable Temporal workflows')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    // A command given --json prints the JSON alone on standard output; its messages go to standard error.
    .hook('preAction', (_program, action) => setJsonOutput(Boolean(action.opts().json)));
  for (const register of REGISTRATIONS) register(program);
  takeExitCode();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    process.stderr.write(`haflow: ${(err as Error).message}\n`);
    return 1;
  } finally {
    setJsonOutput(false);
  }
  return takeExitCode();
}
