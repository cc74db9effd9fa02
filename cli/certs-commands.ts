// `haflow certs status`: the certificates of a cluster with TLS, one line each, read on a worker;
// exit 1 when any needs renewing (missing, from another CA, or ending within tls.warning_days).
// `haflow certs rotate`: every host's key and certificate made new, one host at a time, with the
// write probe throughout; exit 0 when it completed and paused no write, 1 otherwise, 2 when refused.
// `haflow certs schedule`: the status check on a Temporal Schedule (client/certificate-schedule.ts),
// whose runs fail when a certificate needs renewing; `certs status` shows the schedule and its last runs.
import type { Command } from 'commander';
import type { CertificateReport } from '../activities/tls/status';
import { checkRunbook, startRunbook } from '../client/api';
import { readCertificateSchedule, scheduleCertificateCheck, unscheduleCertificateCheck, type CertificateCheckRun, type CertificateScheduleView } from '../client/certificate-schedule';
import { readCertificateStatus } from '../client/cluster';
import { rotationSteps, type RotationArgs } from '../runbooks/certificates';
import { certificateAuthority, type Topology } from '../topology';
import { healthyOrSay } from './failover-commands';
import { createProgressDisplay, formatCheckReport, formatPlan } from './progress';
import { connect, follow, onCluster, printJson, refusable, say } from './support';

export function registerCertsCommands(program: Command): void {
  const certs = program.command('certs').description("the cluster's TLS certificates: their state, their rotation, a scheduled check");
  certs
    .command('status')
    .description("each certificate's subject, issuer, serial and expiry (the CA's on the worker, each host's on the host); exit 1 when one needs renewing, 2 when the cluster has no TLS")
    .argument('<cluster>', 'cluster name (its topology is the one of its latest operation), or a topology YAML file')
    .option('--json', 'the report as JSON, with the scheduled check under `schedule` (null when none)')
    .action(onCluster(statusCommand));
  certs
    .command('schedule')
    .description('the status check on a Temporal Schedule: a run fails (CertificatesDue) when a certificate needs renewing, and the next runs still happen; given again, it updates the timetable and the topology the runs use')
    .argument('<cluster>', 'cluster name (its topology is the one of its latest operation), or a topology YAML file')
    .option('--cron <expr>', "when, as cron in UTC: '0 6 * * *' is every day at 06:00")
    .option('--every <duration>', 'when, as an interval: 1d, 12h (at least 1h)')
    .option('--off', 'delete the schedule (its past runs stay in Temporal)')
    .option('--json', 'print the schedule as JSON')
    .action(onCluster(scheduleCommand));
  certs
    .command('rotate')
    .description("every host's key and certificate made new from the cluster's CA, one host at a time, services reloaded (not restarted), the write probe throughout; the report gives every write pause")
    .argument('<cluster>', 'cluster name (its topology is the one of its latest operation), or a topology YAML file')
    .option('--ca', "a new CA first: every host trusts it and the old one, gets a certificate from it, then trusts only it (etcd restarts a member at a time)")
    .option('--plan', 'print the steps and change nothing')
    .option('--check', 'run it in check mode on a worker: every step reports what it would change, nothing is changed')
    .option('--detach', 'start the rotation and return at once')
    .option('--json', 'print the report as JSON (the progress goes to stderr)')
    .action(onCluster(rotateCommand));
}

async function rotateCommand(topology: Topology, opts: { ca?: boolean; plan?: boolean; check?: boolean; detach?: boolean; json?: boolean }): Promise<number> {
  if (!topology.tls) {
    say(`certs rotate refused: cluster ${topology.cluster} has no TLS (security.insecure); install it with a tls section first`);
    return 2;
  }
  if (topology.tls.site) {
    say(`certs rotate refused: the site issues cluster ${topology.cluster}'s certificates (tls.site); put the new ones in its files and run \`haflow install\`, which writes and reloads them`);
    return 2;
  }
  const health = await healthyOrSay(topology, 'certs rotate');
  if (!health) return 2;
  const args: RotationArgs = { leader: health.leader! };
  if (opts.ca) {
    const replacing = await signingAuthority(topology);
    if (!replacing) return 2;
    args.ca = { replacing };
  }
  const about = opts.ca
    ? `a new CA replaces serial ${args.ca!.replacing.slice(0, 12)}…; etcd members first, then the DB nodes, ${health.leader} last; etcd restarts a member at a time, PostgreSQL and Patroni reload, no switchover`
    : `etcd members first, then the DB nodes, ${health.leader} last; reloads only, no switchover`;
  if (opts.plan) {
    say(formatPlan(rotationSteps(topology, args), about));
    return 0;
  }
  const client = await connect();
  if (opts.check) {
    const display = await createProgressDisplay({ stepLines: false });
    const result = await checkRunbook(client, 'rotate', topology, args, { onProgress: (pr) => display.update(pr), onNotice: display.notice }).finally(() => display.close());
    if (opts.json) {
      printJson(result.status === 'completed' ? result.outcome : result);
      return result.status === 'completed' ? 0 : 1;
    }
    if (result.status === 'completed') {
      say(formatCheckReport(topology.cluster, result.outcome).replace('`haflow install`', `\`haflow certs rotate${opts.ca ? ' --ca' : ''}\``));
      return 0;
    }
    say(`the check stopped: ${result.status === 'blocked' ? `${result.step.id}: ${result.step.error?.message}` : result.error.message}`);
    return 1;
  }
  const handle = await startRunbook(client, 'rotate', topology, args);
  say(`started the certificate rotation of cluster ${topology.cluster} (${about}): workflow ${handle.workflowId}`);
  if (opts.detach) return 0;
  return follow(handle, topology.cluster, 'rotate', {}, { json: opts.json });
}

/** The serial of the CA that signs now, or undefined (said why) when a CA rotation cannot start. */
async function signingAuthority(topology: Topology): Promise<string | undefined> {
  const key = certificateAuthority(topology)!.key;
  if (!('file' in key)) {
    say(`certs rotate --ca refused: the CA key of cluster ${topology.cluster} (tls.ca.key) is not a file; a CA rotation writes a new key, which haflow does only to a file: point tls.ca.key at a file ({file: …})`);
    return undefined;
  }
  const report = await readCertificateStatus(await connect(), topology);
  const authorities = report.entries.filter((e) => e.where.startsWith('CA'));
  if (authorities.length !== 1 || !authorities[0].facts) {
    say(
      `certs rotate --ca refused: the worker's bundle for cluster ${topology.cluster} trusts ${authorities.length} CAs: a CA rotation is under way or stopped halfway. ` +
        `Resume it (haflow resume ${topology.cluster}), or, if it was abandoned, leave only the CA that signs in ${certificateAuthority(topology)!.certificate} and run \`haflow install\``,
    );
    return undefined;
  }
  return authorities[0].facts.serial;
}

async function statusCommand(topology: Topology, opts: { json?: boolean }): Promise<number> {
  if (!topology.tls) {
    say(`cluster ${topology.cluster} has no TLS (security.insecure): there are no certificates to show`);
    return 2;
  }
  const client = await connect();
  // The schedule is an addition: a failure to read it is said, and does not fail the status.
  const [report, schedule] = await Promise.all([
    readCertificateStatus(client, topology),
    readCertificateSchedule(client, topology.cluster).then(
      (view) => view ?? null,
      (err: Error) => ({ unreadable: err.message }),
    ),
  ]);
  if (opts.json) printJson({ ...report, schedule });
  else say(`${formatCertificates(report)}\n\n${formatCertificateSchedule(topology.cluster, schedule)}`);
  return report.ok ? 0 : 1;
}

/** `haflow certs schedule`: exit 0 when created, updated or deleted (or none to delete), 2 when refused. */
async function scheduleCommand(topology: Topology, opts: { cron?: string; every?: string; off?: boolean; json?: boolean }): Promise<number> {
  if ([opts.cron, opts.every, opts.off].filter((o) => o !== undefined).length !== 1) {
    say('certs schedule needs exactly one of --cron <expr>, --every <duration> and --off');
    return 2;
  }
  // --off still works on a cluster that has dropped TLS since it was scheduled.
  if (!topology.tls && !opts.off) {
    say(`certs schedule refused: cluster ${topology.cluster} has no TLS (security.insecure): there are no certificates to check`);
    return 2;
  }
  return refusable(async () => {
    const client = await connect();
    if (opts.off) {
      const deleted = await unscheduleCertificateCheck(client, topology.cluster);
      if (opts.json) printJson({ cluster: topology.cluster, deleted });
      else say(deleted ? `deleted the certificate check schedule of cluster ${topology.cluster} (its past runs stay in Temporal)` : `cluster ${topology.cluster} has no certificate check schedule: nothing to delete`);
      return 0;
    }
    const { view, created } = await scheduleCertificateCheck(client, { topology, when: opts.cron !== undefined ? { cron: opts.cron } : { every: opts.every! } });
    if (opts.json) printJson(view);
    else say(`${created ? 'created' : 'updated'} schedule ${view.id}\n${formatCertificateSchedule(topology.cluster, view)}\n\na run fails when a certificate needs renewing: \`haflow certs status ${topology.cluster}\` shows the last runs, as does the Temporal UI (schedule ${view.id})`);
    return 0;
  }, 'certs schedule refused: ');
}

const isoSeconds = (date: Date) => date.toISOString().replace(/\.\d+Z$/, 'Z');

function formatCheckRun(run: CertificateCheckRun): string {
  const what = { running: 'RUNNING', ok: 'ok', due: 'CERTIFICATES DUE', failed: 'CHECK FAILED', unknown: 'UNKNOWN' }[run.result];
  return `${isoSeconds(run.startedAt)}  ${what}${run.message ? `: ${run.message}` : ''}`;
}

/** The scheduled check under the status: its timetable, next run and last runs; or how to create one. */
export function formatCertificateSchedule(cluster: string, schedule: CertificateScheduleView | null | { unreadable: string }): string {
  if (schedule === null) return `no scheduled certificate check: \`haflow certs schedule ${cluster} --every 1d\` creates one`;
  if ('unreadable' in schedule) return `(the scheduled certificate check could not be read: ${schedule.unreadable})`;
  return [
    `scheduled check ${schedule.id}: ${schedule.when}`,
    `  state     ${schedule.paused ? `PAUSED: ${schedule.pausedBecause}` : 'active'}`,
    `  next run  ${schedule.nextRun ? isoSeconds(schedule.nextRun) : schedule.paused ? '(none while paused)' : 'none'}`,
    ...(schedule.runs.length === 0 ? ['  last runs none yet'] : ['  last runs', ...schedule.runs.map((r) => `    ${formatCheckRun(r)}`)]),
  ].join('\n');
}

/** The report as a table, then one line per certificate that needs renewing. */
export function formatCertificates(report: CertificateReport): string {
  const rows = report.entries.map((e) => [
    e.where,
    e.facts?.subject ?? '(none)',
    e.facts ? (e.facts.issuer === e.facts.subject ? '(itself)' : e.facts.issuer) : '',
    e.facts?.serial.slice(0, 12) ?? '',
    e.facts?.notAfter.slice(0, 10) ?? '',
    e.daysLeft === undefined ? '' : String(e.daysLeft),
    e.problem ? 'RENEW' : 'ok',
  ]);
  const header = ['WHERE', 'SUBJECT', 'ISSUER', 'SERIAL', 'EXPIRES', 'DAYS', 'STATE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  const due = report.entries.filter((e) => e.problem);
  return [
    `cluster ${report.cluster}: certificates read ${report.readAt.replace(/\.\d+Z$/, 'Z')}, warning window ${report.warningDays} days`,
    line(header),
    ...rows.map(line),
    ...(due.length === 0 ? ['every certificate is good for longer than the warning window'] : due.map((e) => `${e.where}: ${e.problem}`)),
    ...(due.length > 0 ? [`renew: haflow certs rotate ${report.cluster}`] : []),
  ].join('\n');
}
