// The commands about a topology file itself, which connect nowhere or only to a worker in check
// mode: `validate`, `render`, `plan` (and `plan --check`), `bundle`.
import type { Command } from 'commander';
import { hostFiles, secretPlaceholder } from '../activities/components';
import { SUMS_FILE } from '../activities/packages/bundle';
import { planCheck } from '../client/api';
import { buildBundle, BundleBuildError } from '../client/bundle';
import { runbookFor } from '../client/runbooks';
import { hostOs, initialLeader, PLATFORMS, platformClaim, platformOf, type Topology } from '../topology';
import { tlsMoveOrSay } from './operation-commands';
import { createProgressDisplay, formatCheckReport, formatPlan, formatRunResult, formatStepFailure } from './progress';
import { connect, exits, fitOutput, INTERRUPTED, loadOrReport, say, whileFollowing, withTopology } from './support';

export function registerTopologyCommands(program: Command): void {
  program
    .command('validate')
    .description('check topology files: every error with its file, line, column and field; exit 0 when all are valid')
    .argument('<topology...>', 'topology YAML files')
    .action(exits((files: string[]) => validate(files)));

  program
    .command('render')
    .description('print every configuration file haflow would write, host by host (passwords shown as <env NAME>); connects nowhere')
    .argument('<topology>', 'topology YAML file')
    .option('--host <name>', 'only this host')
    .action(exits((file: string, opts: { host?: string }) => render(file, opts.host)));

  program
    .command('plan')
    .description('print the install runbook for a topology, step by step in order (connects nowhere); --check asks the machines what each step would change')
    .argument('<topology>', 'topology YAML file')
    .option('--check', 'run the install in check mode on a worker: every step reports what it would change, nothing is changed')
    .option('--to-tls', 'the install that moves a running cluster installed without TLS to TLS (with --check: found by itself too, as install does)')
    .action(exits((file: string, opts: { check?: boolean; toTls?: boolean }) => withTopology(file, (topology) => (opts.check ? planCheckCommand(topology, opts.toTls === true) : planCommand(topology, opts.toTls === true)))));

  program
    .command('bundle')
    .description("download the topology's packages with every dependency into a new directory, for hosts without internet access (run where the package mirror is; install with packages: { bundle: <dir> })")
    .argument('<topology>', 'topology YAML file')
    .argument('<out>', 'a new directory for the bundle')
    .action(exits((file: string, out: string) => withTopology(file, (topology) => bundleCommand(topology, out))));
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
    for (const line of platformLines(topology)) process.stdout.write(`  ${line}\n`);
  }
  return failed > 0 ? 1 : 0;
}

/** What haflow claims of the OS the topology names: tested here, or written for and not tested. */
export function platformLines(topology: Topology): string[] {
  const named = [...new Set(topology.hosts.map((h) => hostOs(topology, h)).filter((os): os is string => os !== undefined))];
  const tested = PLATFORMS.filter((p) => p.tested).map((p) => p.os).join(' and ');
  if (named.length === 0) return [`OS: not named (os: in the topology); haflow is tested on ${tested}`];
  return named.map((os) => {
    const platform = platformOf(os);
    return `OS ${platform ? platformClaim(platform) : `${os}: unknown to haflow, not tested (tested: ${tested})`}`;
  });
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
    for (const f of hostFiles(topology, host, secretPlaceholder)) {
      process.stdout.write(`==> ${host.name} (${host.address}): ${f.path}  ${f.owner}:${f.group} ${f.mode.toString(8)}\n${f.content}\n`);
    }
  }
  return 0;
}

/** `haflow plan`: the install runbook's steps, in order. Connects nowhere. */
async function planCommand(topology: Topology, toTls: boolean): Promise<number> {
  await fitOutput();
  if (toTls && (!topology.tls || topology.layout === 'classic')) {
    say(`--to-tls: the topology of cluster ${topology.cluster} ${topology.layout === 'classic' ? 'has the classic layout, which has no etcd or Patroni to move' : 'has no TLS (security.insecure)'}`);
    return 2;
  }
  // Connecting nowhere, the plan cannot know the leader: the install asks the cluster, and restarts its Patroni first.
  const move = toTls ? { leader: initialLeader(topology).name } : undefined;
  const about = `${topology.layout} layout, ${topology.hosts.length} hosts${move ? `; moving the running cluster to TLS (Patroni on the leader first: ${move.leader} here, the install asks the cluster)` : ''}`;
  const plan = formatPlan(runbookFor('install', topology, move), about);
  // A long title goes on under the plan's "what" column, a long guard under its own text.
  const whatColumn = plan.split('\n')[2].indexOf('what');
  say(plan, (line) => (/^\s+guard: /.test(line) ? line.indexOf('guard: ') + 7 : whatColumn));
  say('\nNothing was contacted. `haflow plan --check <topology>` asks the machines what each step would change.');
  return 0;
}

/** `haflow plan --check`: a check run on the workers; prints what each step would change. */
async function planCheckCommand(topology: Topology, toTls: boolean): Promise<number> {
  runbookFor('install', topology, undefined);
  const client = await connect();
  const move = await tlsMoveOrSay(client, topology, toTls);
  if (move === 'refused') return 2;
  say(`asking the machines of cluster ${topology.cluster} what an install would change (check mode: nothing is changed)…`);
  // The report at the end says it all; while it runs, only the live area (on a terminal) and notices.
  const display = await createProgressDisplay({ stepLines: false });
  const result = await whileFollowing(display, (signal) =>
    planCheck(client, topology, { onProgress: (p) => display.update(p), onNotice: display.notice, signal }, move),
  );
  if (result === 'interrupted') {
    say('stopped: the check run was ended');
    return INTERRUPTED;
  }
  if (result.status === 'completed') {
    say(`\n${formatCheckReport(topology.cluster, result.outcome)}`);
    return 0;
  }
  if (result.status === 'blocked') {
    for (const step of result.blocked) say(`the check stopped at step ${step.id} (${step.title})\n${formatStepFailure(step)}`);
    say(`the check run ${result.workflowId} was ended (it changes nothing); fix the cause and run \`haflow plan --check\` again`);
  } else {
    say(formatRunResult(topology.cluster, 'check', result));
  }
  return 1;
}

/** `haflow bundle`: builds it and prints what it holds; exit 1 with the reason when it cannot. */
async function bundleCommand(topology: Topology, out: string): Promise<number> {
  try {
    const built = await buildBundle(topology, out, (line) => process.stdout.write(`${line}\n`));
    const { manifest } = built;
    process.stdout.write(
      `bundle for ${manifest.cluster} written to ${built.dir}: ${manifest.os} ${manifest.architecture}, ${manifest.files.length} packages, ${(built.bytes / 1024 ** 2).toFixed(1)} MB\n` +
        Object.entries(manifest.packages)
          .map(([name, version]) => `  ${name} ${version}\n`)
          .join('') +
        `copy the directory to a machine a haflow worker runs on, check it there (sha256sum -c ${SUMS_FILE} in it),\n` +
        `and set in the topology:  packages: { bundle: <its path there> }\n`,
    );
    return 0;
  } catch (err) {
    if (!(err instanceof BundleBuildError)) throw err;
    process.stderr.write(`haflow bundle: ${err.message}\n`);
    return 1;
  }
}
