// `haflow migrate <classic topology> <patroni topology>`: the classic cluster moved under Patroni
// on the same machines. The two files are checked against each other first (each problem points
// at the line of the Patroni file to change); --plan prints the steps, --check asks the machines.
import { readFileSync } from 'node:fs';
import type { Topology } from '../topology';
import { appMaster, dbHosts } from '../topology/derive';
import { migrateSteps, migrationProblems, type MigrateArgs } from '../runbooks/migrate';
import { checkRunbook, startRunbook } from './api';
import { connect, follow, say } from './command-support';
import { createProgressDisplay, formatCheckReport, formatPlan } from './progress';

/** The line of `field`'s last key in a YAML file (1 when it is not written there: a default). */
function lineOf(file: string, field: string): number {
  const key = field.split('.').pop()!;
  const index = readFileSync(file, 'utf8')
    .split('\n')
    .findIndex((l) => new RegExp(`^\\s*${key}\\s*:`).test(l));
  return index + 1 || 1;
}

export async function migrateCommand(
  classic: { file: string; topology: Topology },
  patroni: { file: string; topology: Topology },
  opts: { plan?: boolean; check?: boolean; detach?: boolean; json?: boolean },
): Promise<number> {
  const problems = migrationProblems(classic.topology, patroni.topology);
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`${patroni.file}:${lineOf(patroni.file, p.field)}:1: ${p.field}: ${p.message}\n`);
    process.stderr.write(`migrate refused: ${patroni.file} does not describe ${classic.file}'s cluster under Patroni (${problems.length} problem(s)); nothing was started\n`);
    return 2;
  }
  const master = appMaster(classic.topology)?.name ?? dbHosts(classic.topology)[0].name;
  const args: MigrateArgs = { classicCluster: classic.topology.cluster, master };
  const about = `the classic cluster ${classic.topology.cluster} becomes the Patroni cluster ${patroni.topology.cluster} on the same machines; ${master} stays the primary, its data where it is`;
  if (opts.plan) {
    say(formatPlan(migrateSteps(patroni.topology, args), about));
    return 0;
  }
  const client = await connect();
  if (opts.check) {
    const display = await createProgressDisplay({ stepLines: false });
    const result = await checkRunbook(client, 'migrate', patroni.topology, args, { onProgress: (pr) => display.update(pr), onNotice: display.notice }).finally(() => display.close());
    if (result.status === 'completed') {
      say(formatCheckReport(patroni.topology.cluster, result.outcome).replace('`haflow install`', '`haflow migrate`'));
      return 0;
    }
    say(`the check stopped: ${result.status === 'blocked' ? `${result.step.id}: ${result.step.error?.message}` : result.error.message}`);
    return 1;
  }
  const handle = await startRunbook(client, 'migrate', patroni.topology, args);
  say(`started the migration (${about}): workflow ${handle.workflowId}`);
  if (opts.detach) return 0;
  const code = await follow(handle, patroni.topology.cluster, 'migrate', {}, { json: opts.json });
  if (code === 0 && !opts.json) say(`the old observer is stopped; watch the application under Patroni with \`haflow observer start ${patroni.file}\``);
  return code;
}
