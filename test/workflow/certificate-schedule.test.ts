// The certificate check on a Temporal Schedule, on a real Temporal dev server with the reading of
// the certificates faked (the unit under test is the schedule, not the reading): a triggered run
// succeeds when every certificate is good and fails with CertificatesDue when one is near its end,
// without pausing the schedule; creating it again updates it; --off deletes it; the drills' list
// leaves it out; and the CLI's `certs schedule` and `certs status` with --json.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { stringify } from 'yaml';
import type { CertificateEntry, CertificateReport } from '../../activities/tls/status';
import {
  certificateScheduleId,
  readCertificateSchedule,
  scheduleCertificateCheck,
  unscheduleCertificateCheck,
  type CertificateCheckRun,
  type CertificateScheduleView,
} from '../../client/certificate-schedule';
import { listSchedules } from '../../client/schedules';
import { TASK_QUEUE } from '../../connection/temporal';
import { loadTopology, type Topology } from '../../topology';
import { startDevServer, waitUntil, workflowBundle } from '../support/temporal';
import { haflowProcess } from '../support/cli-process';
import { plainTextOf } from '../../topology/tls';

let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
const scratch = mkdtempSync(join(tmpdir(), 'haflow-cert-schedule-'));
const { topology: lab } = loadTopology(join(__dirname, '../../lab/topologies/standalone.yaml'));
/** Clusters whose node1 certificate is within the warning window. */
const due = new Set<string>();

/** What readCertificates would find: the CA and two hosts, node1's near its end when the cluster is in `due`. */
function reportOf(topology: Topology): CertificateReport {
  const entry = (where: string, daysLeft: number): CertificateEntry => ({
    where,
    daysLeft,
    facts: {
      subject: `CN=${where}`,
      issuer: 'CN=haflow CA',
      serial: '0a1b2c3d4e5f',
      notBefore: '2026-01-01T00:00:00Z',
      notAfter: new Date(Date.now() + daysLeft * 86_400_000).toISOString(),
      dns: [],
      ips: [],
      fingerprint: 'AB:CD',
      isAuthority: where === 'CA',
    },
    ...(daysLeft < 30 ? { problem: `it expires in ${daysLeft} days, within 30 days` } : {}),
  });
  const entries = [entry('CA', 3000), entry('node1', due.has(topology.cluster) ? 5 : 300), entry('node2', 300)];
  return { cluster: topology.cluster, readAt: new Date().toISOString(), warningDays: 30, entries, ok: entries.every((e) => !e.problem) };
}

before(async () => {
  env = await startDevServer();
  // The worker's queue, so that the CLI's schedule and its status read find it.
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowBundle: await workflowBundle(),
    activities: { readCertificates: async (input: { topology: Topology }) => reportOf(input.topology) },
  });
  running = worker.run();
});

after(async () => {
  worker?.shutdown();
  await running?.catch(() => undefined);
  await env?.teardown();
  rmSync(scratch, { recursive: true, force: true });
});

const clusterTopology = (): Topology => ({ ...lab, cluster: `certs-${randomUUID().slice(0, 8)}` });

/** Runs the schedule now and waits for that run's result, as `certs status` shows it. */
async function triggered(cluster: string): Promise<CertificateCheckRun> {
  const before = (await readCertificateSchedule(env.client, cluster))!;
  // A run's workflow id ends with its start time in whole seconds: the next run needs the next second.
  const last = before.runs[0]?.startedAt.getTime();
  if (last !== undefined && Date.now() - last < 2000) await new Promise((resolve) => setTimeout(resolve, 2000 - (Date.now() - last)));
  await env.client.schedule.getHandle(certificateScheduleId(cluster)).trigger(ScheduleOverlapPolicy.SKIP);
  const view = await waitUntil(
    'the triggered run to end',
    async () => (await readCertificateSchedule(env.client, cluster))!,
    (v) => v.runs.length === before.runs.length + 1 && v.runs[0].result !== 'running',
  );
  return view.runs[0];
}

test('a run succeeds while every certificate is good and fails with CertificatesDue when one is near its end; the schedule goes on', async () => {
  const topology = clusterTopology();
  const { view, created } = await scheduleCertificateCheck(env.client, { topology, when: { every: '12h' } });
  assert.equal(created, true);
  assert.equal(view.id, `${topology.cluster}-certificates`);
  assert.equal(view.when, 'every 12h');
  assert.equal(view.paused, false);
  assert.ok(view.nextRun && view.nextRun.getTime() > Date.now() && view.nextRun.getTime() <= Date.now() + 12 * 3_600_000, String(view.nextRun));
  assert.deepEqual(view.runs, []);

  const description = await env.client.schedule.getHandle(view.id).describe();
  assert.deepEqual(description.spec.intervals?.map((i) => i.every), [12 * 3_600_000]);
  assert.equal(description.policies.pauseOnFailure, false);
  assert.equal(description.policies.overlap, ScheduleOverlapPolicy.SKIP);
  assert.equal(description.action.workflowType, 'certificateStatusWorkflow');
  assert.equal(description.action.taskQueue, TASK_QUEUE);
  const [input] = description.action.args as [{ topology: Topology; failWhenDue: boolean }];
  assert.equal(input.failWhenDue, true);
  assert.equal(input.topology.cluster, topology.cluster);

  const fine = await triggered(topology.cluster);
  assert.equal(fine.result, 'ok', JSON.stringify(fine));
  assert.match(fine.workflowId, new RegExp(`^haflow-scheduled-${view.id}-`));

  due.add(topology.cluster);
  const renew = await triggered(topology.cluster);
  assert.equal(renew.result, 'due', JSON.stringify(renew));
  assert.equal(renew.message, `cluster ${topology.cluster}: node1: it expires in 5 days, within 30 days`);

  const after = (await readCertificateSchedule(env.client, topology.cluster))!;
  assert.equal(after.paused, false, 'a run that finds certificates due does not pause the schedule');
  assert.deepEqual(after.runs.map((r) => r.result), ['due', 'ok'], 'newest first');

  // Not a drill: the drills' list leaves it out.
  assert.deepEqual(await listSchedules(env.client, topology.cluster), []);
  assert.ok((await listSchedules(env.client)).every((s) => s.id !== view.id));
  assert.equal(await unscheduleCertificateCheck(env.client, topology.cluster), true);
});

test('given again, the schedule is updated in place (timetable, topology), its runs kept; --off deletes it, and again is no error', async () => {
  const topology = clusterTopology();
  await scheduleCertificateCheck(env.client, { topology, when: { every: '12h' } });
  await triggered(topology.cluster);

  const tuned: Topology = { ...topology, tls: { ...topology.tls!, warning_days: 60 } };
  const { view, created } = await scheduleCertificateCheck(env.client, { topology: tuned, when: { every: '1d' } });
  assert.equal(created, false);
  assert.equal(view.when, 'every 1d');
  assert.equal(view.runs.length, 1, 'the runs before the update are still shown');
  let description = await env.client.schedule.getHandle(view.id).describe();
  assert.deepEqual(description.spec.intervals?.map((i) => i.every), [86_400_000]);
  assert.equal((description.action.args as [{ topology: Topology }])[0].topology.tls?.warning_days, 60);
  assert.equal(description.policies.pauseOnFailure, false);

  const cron = (await scheduleCertificateCheck(env.client, { topology: tuned, when: { cron: '0 6 * * *' } })).view;
  assert.equal(cron.when, "cron '0 6 * * *' (UTC)");
  assert.equal(cron.nextRun?.getUTCHours(), 6);
  assert.equal(cron.nextRun?.getUTCMinutes(), 0);
  description = await env.client.schedule.getHandle(view.id).describe();
  assert.deepEqual(description.spec.intervals ?? [], []);

  await assert.rejects(scheduleCertificateCheck(env.client, { topology, when: { every: '10m' } }), /at least 1h between certificate checks/);
  await assert.rejects(scheduleCertificateCheck(env.client, { topology, when: { cron: 'daily' } }), /five fields/);
  const insecure = plainTextOf(topology);
  await assert.rejects(scheduleCertificateCheck(env.client, { topology: insecure, when: { every: '1d' } }), /has no TLS/);

  assert.equal(await unscheduleCertificateCheck(env.client, topology.cluster), true);
  assert.equal(await readCertificateSchedule(env.client, topology.cluster), undefined);
  assert.equal(await unscheduleCertificateCheck(env.client, topology.cluster), false);
});

const haflow = (...args: string[]) => haflowProcess(env.address, scratch, ...args);

test('the CLI: certs schedule and certs status with --json, text, and the refusals', async () => {
  const topology = clusterTopology();
  const file = join(scratch, `${topology.cluster}.yaml`);
  writeFileSync(file, stringify(JSON.parse(JSON.stringify(topology))));

  const none = await haflow('certs', 'status', file, '--json');
  assert.equal(none.code, 0, none.stderr);
  assert.equal((JSON.parse(none.stdout) as { schedule: unknown }).schedule, null);
  const noneText = await haflow('certs', 'status', file);
  assert.match(noneText.stdout, new RegExp(`no scheduled certificate check: \`haflow certs schedule ${topology.cluster} --every 1d\` creates one`));

  const created = await haflow('certs', 'schedule', file, '--every', '1d', '--json');
  assert.equal(created.code, 0, created.stderr);
  const view = JSON.parse(created.stdout) as Record<keyof CertificateScheduleView, unknown>;
  assert.deepEqual(Object.keys(view).sort(), ['cluster', 'createdAt', 'id', 'nextRun', 'paused', 'runs', 'when']);
  assert.equal(view.id, `${topology.cluster}-certificates`);
  assert.equal(view.when, 'every 1d');

  const status = await haflow('certs', 'status', file, '--json');
  assert.equal(status.code, 0, status.stderr);
  const report = JSON.parse(status.stdout) as CertificateReport & { schedule: { id: string; when: string; runs: unknown[] } };
  assert.equal(report.ok, true);
  assert.equal(report.entries.length, 3);
  assert.equal(report.schedule.id, view.id);
  assert.deepEqual(report.schedule.runs, []);
  const text = await haflow('certs', 'status', file);
  assert.match(text.stdout, new RegExp(`^scheduled check ${view.id}: every 1d\\n  state     active\\n  next run  \\S+Z\\n  last runs none yet$`, 'm'));

  const updated = await haflow('certs', 'schedule', file, '--cron', '0 6 * * *');
  assert.equal(updated.code, 0, updated.stderr);
  assert.match(updated.stdout, new RegExp(`^updated schedule ${view.id}\\nscheduled check ${view.id}: cron '0 6 \\* \\* \\*' \\(UTC\\)`));

  const both = await haflow('certs', 'schedule', file, '--every', '1d', '--off');
  assert.equal(both.code, 2);
  assert.match(both.stdout, /needs exactly one of --cron <expr>, --every <duration> and --off/);
  const tooOften = await haflow('certs', 'schedule', file, '--every', '5m');
  assert.equal(tooOften.code, 2);
  assert.match(tooOften.stdout, /certs schedule refused: --every 5m: at least 1h/);
  const insecureFile = join(scratch, `${topology.cluster}-insecure.yaml`);
  const { tls: _tls, ...plain } = topology;
  writeFileSync(insecureFile, stringify(JSON.parse(JSON.stringify({ ...plain, security: { insecure: true } }))));
  const insecure = await haflow('certs', 'schedule', insecureFile, '--every', '1d');
  assert.equal(insecure.code, 2, `${insecure.stdout}${insecure.stderr}`);
  assert.match(insecure.stdout, /has no TLS/);

  const off = await haflow('certs', 'schedule', file, '--off', '--json');
  assert.equal(off.code, 0, off.stderr);
  assert.deepEqual(JSON.parse(off.stdout), { cluster: topology.cluster, deleted: true });
  const offAgain = await haflow('certs', 'schedule', file, '--off');
  assert.equal(offAgain.code, 0);
  assert.match(offAgain.stdout, /has no certificate check schedule: nothing to delete/);
});
