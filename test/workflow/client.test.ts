// The operator's side of the install: the client API (client/api.ts) and the CLI commands over
// it, on a real dev server with a real worker running the real installWorkflow. Only the
// install activities are fakes (test/support/fake-install.ts), to inject failures.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, type WorkflowExecutionInfo } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import {
  AmbiguousStepError,
  ClusterBusyError,
  decide,
  followRun,
  getProgress,
  NoOperationError,
  planCheck,
  startInstall,
  type RunResult,
} from '../../client/api';
import { TASK_QUEUE } from '../../connection/temporal';
import { loadTopology, type Topology } from '../../topology';
import { installSteps } from '../../runbooks/install';
import { flattenSteps } from '../../runbooks/runbook';
import type { Progress, RunbookOutcome } from '../../workflows/protocol';
import { fakeCluster, fakeInstallActivities, type FakeCluster } from '../support/fake-install';
import { startDevServer, waitUntil, workflowBundle } from '../support/temporal';

const root = join(__dirname, '../..');
/** A namespace no worker polls: commands there wait for a worker. */
const IDLE_NAMESPACE = 'idle';

let env: TestWorkflowEnvironment;
let worker: Worker;
let workerRun: Promise<void>;
let dir: string;
const clusters = new Map<string, FakeCluster>();

/** The fake machines of a cluster: each test uses its own cluster name. */
function machinesOf(cluster: string): FakeCluster {
  if (!clusters.has(cluster)) clusters.set(cluster, fakeCluster());
  return clusters.get(cluster)!;
}

before(async () => {
  env = await startDevServer({ namespaces: [IDLE_NAMESPACE] });
  dir = mkdtempSync(join(tmpdir(), 'haflow-client-'));
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowBundle: await workflowBundle(),
    activities: fakeInstallActivities(machinesOf),
  });
  workerRun = worker.run();
});

after(async () => {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await workerRun;
  await env?.teardown();
  rmSync(dir, { recursive: true, force: true });
});

/** A lab topology under another cluster name. */
function topologyFor(cluster: string, lab: 'standalone' | 'generic' = 'standalone'): Topology {
  return { ...loadTopology(join(root, 'lab/topologies', `${lab}.yaml`)).topology, cluster };
}

/** The same, as a file for the CLI. */
function topologyFile(cluster: string): string {
  const text = readFileSync(join(root, 'lab/topologies/standalone.yaml'), 'utf8').replace(/^cluster: .*$/m, `cluster: ${cluster}`);
  const file = join(dir, `${cluster}.yaml`);
  writeFileSync(file, text);
  return file;
}

const uniqueCluster = (what: string) => `${what}-${randomUUID().slice(0, 6)}`;
const follow = (handle: Parameters<typeof followRun>[0]) => followRun(handle, () => undefined);

function completed(result: RunResult): RunbookOutcome {
  assert.equal(result.status, 'completed', JSON.stringify(result));
  return (result as Extract<RunResult, { status: 'completed' }>).outcome;
}

function blocked(result: RunResult): Extract<RunResult, { status: 'blocked' }> {
  assert.equal(result.status, 'blocked', JSON.stringify(result));
  return result as Extract<RunResult, { status: 'blocked' }>;
}

/**
 * The standalone lab topology's install: the database tier's steps (12 that change a host, with
 * etcd's authentication, and 11 guards and verifications), the application tier's (5 and 5), the
 * backups' (pgBackRest on 4 hosts, the SSH trust, the stanza, the first backup) and the spare
 * machine's (its packages and CA bundle, and its preflight).
 */
const STANDALONE = { changes: 31, others: 18 };

describe('client API', () => {
  test('an install runs to completion with its progress reported, and a completed install can be started again', async () => {
    const cluster = uniqueCluster('again');
    const seen: Progress[] = [];
    const first = await startInstall(env.client, topologyFor(cluster));
    assert.equal(first.workflowId, `haflow-${cluster}`);
    const outcome = completed(await followRun(first, (p) => seen.push(p)));
    assert.equal(outcome.changed, STANDALONE.changes);
    assert.equal(outcome.unchanged, 0, 'every change step changed something');
    assert.equal(outcome.passed, STANDALONE.others);
    assert.equal(seen.at(-1)!.status, 'completed', 'the last progress reported is the completed run');
    assert.ok(seen.length >= 2, 'progress is reported while the run goes on');
    assert.notEqual(JSON.stringify(seen.at(-2)), JSON.stringify(seen.at(-1)), 'only changes are reported');

    const second = await startInstall(env.client, topologyFor(cluster));
    assert.equal(second.workflowId, first.workflowId);
    assert.notEqual(second.firstExecutionRunId, first.firstExecutionRunId);
    const again = completed(await follow(second));
    assert.equal(again.changed, 0, 'the second install finds nothing to change');
  });

  test('startInstall refuses while another operation holds the cluster, naming it; an aborted one does not', async () => {
    const cluster = uniqueCluster('busy');
    machinesOf(cluster).broken.set('configureEtcdMember@observer', { type: 'HostUnreachable', message: 'observer: no route to host' });
    const running = await startInstall(env.client, topologyFor(cluster));
    blocked(await follow(running));
    const { startTime } = await running.describe();

    await assert.rejects(startInstall(env.client, topologyFor(cluster)), (err: unknown) => {
      assert.ok(err instanceof ClusterBusyError);
      assert.equal(
        err.message,
        `cluster ${cluster} is busy: installWorkflow haflow-${cluster} started at ${startTime.toISOString()} is still running; see \`haflow status ${cluster}\``,
      );
      return true;
    });

    await decide(env.client, cluster, undefined, 'abort', 'wrong subnet');
    const aborted = await follow(running);
    assert.equal(aborted.status, 'failed');
    assert.equal(aborted.status === 'failed' && aborted.error.type, 'RunbookAborted');
    assert.match(aborted.status === 'failed' ? aborted.error.message : '', /aborted by the operator at step etcd\.member@observer \(wrong subnet\)/);
    const status = await getProgress(env.client, cluster);
    assert.equal(status.status, 'aborted');

    machinesOf(cluster).broken.clear();
    completed(await follow(await startInstall(env.client, topologyFor(cluster))));
  });

  test('followRun reports a blocked step with its error and remedy; decide without a step id retries it', async () => {
    const cluster = uniqueCluster('guard');
    const remedy = 'stop Patroni on the slave: `systemctl stop patroni`, then retry';
    machinesOf(cluster).broken.set('replicaPatroniInactive@node2', {
      type: 'GuardFailed',
      message: 'node2: Patroni is active on the replica',
      remedy,
    });
    const handle = await startInstall(env.client, topologyFor(cluster));
    const { step, progress } = blocked(await follow(handle));
    assert.equal(step.id, 'patroni.replica-inactive@node2');
    assert.equal(step.status, 'blocked');
    assert.deepEqual(step.error, { type: 'GuardFailed', message: 'node2: Patroni is active on the replica', remedy });
    assert.equal(progress.steps.find((s) => s.id === 'db.config@node1')!.status, 'pending', 'nothing after the guard ran');

    const status = await getProgress(env.client, cluster);
    assert.equal(status.status, 'blocked');
    assert.equal(status.type, 'installWorkflow');

    machinesOf(cluster).broken.clear(); // the operator stops Patroni on node2
    const decided = await decide(env.client, cluster, undefined, 'retry');
    assert.equal(decided.id, 'patroni.replica-inactive@node2');
    completed(await follow(handle));
    assert.equal((await getProgress(env.client, cluster)).status, 'completed');
  });

  test('decide with a step id; without one while several steps are blocked, it names them all', async () => {
    const cluster = uniqueCluster('several');
    const machines = machinesOf(cluster);
    machines.broken.set('configureEtcdMember@pg1', { type: 'HostUnreachable', message: 'pg1: connection refused' });
    machines.broken.set('configureEtcdMember@pg2', { type: 'HostUnreachable', message: 'pg2: connection refused' });
    const handle = await startInstall(env.client, topologyFor(cluster, 'generic'));
    await waitUntil(
      'both etcd members blocked',
      () => getProgress(env.client, cluster),
      (op) => op.progress?.steps.filter((s) => s.status === 'blocked').length === 2,
    );

    await assert.rejects(decide(env.client, cluster, undefined, 'retry'), (err: unknown) => {
      assert.ok(err instanceof AmbiguousStepError);
      assert.deepEqual(err.blocked, ['etcd.member@pg1', 'etcd.member@pg2']);
      assert.match(err.message, /2 steps of cluster .* are blocked: etcd\.member@pg1, etcd\.member@pg2/);
      return true;
    });
    await assert.rejects(decide(env.client, cluster, 'patroni.start@pg1', 'skip'), /skip patroni\.start@pg1 rejected: step patroni\.start@pg1 is pending, not blocked/);

    await decide(env.client, cluster, 'etcd.member@pg1', 'skip', 'member added by hand');
    machines.broken.clear();
    const retried = await decide(env.client, cluster, 'etcd.member@pg2', 'retry');
    assert.equal(retried.id, 'etcd.member@pg2');
    const outcome = completed(await follow(handle));
    assert.deepEqual(outcome.skipped, ['etcd.member@pg1']);

    await assert.rejects(decide(env.client, cluster, undefined, 'retry'), /no operation is running on cluster .*: the latest, installWorkflow .*, is completed/);
    await assert.rejects(decide(env.client, uniqueCluster('nothing'), undefined, 'retry'), NoOperationError);
  });

  test('planCheck passes check: true to every activity, changes nothing, and does not hold the cluster', async () => {
    const cluster = uniqueCluster('plancheck');
    const result = await planCheck(env.client, topologyFor(cluster));
    assert.match(result.workflowId, new RegExp(`^haflow-${cluster}-check-[0-9a-f]{8}$`));
    const outcome = completed(result);
    const machines = machinesOf(cluster);
    assert.ok(machines.calls.length > 0);
    assert.ok(machines.calls.every((c) => c.check), 'every activity ran in check mode');
    assert.deepEqual(new Set(machines.calls.map((c) => c.activity)), new Set(flattenSteps(installSteps(topologyFor(cluster))).map((s) => s.activity)), 'every install activity was asked');
    assert.equal(machines.applied.size, 0, 'nothing changed');
    assert.equal(outcome.changed, STANDALONE.changes);
    const packages = outcome.steps.find((s) => s.id === 'packages.install@node1')!;
    assert.equal(packages.summary, 'ensurePackages@node1: would change');
    assert.deepEqual(packages.details, ['--- ensurePackages@node1 now', '+++ ensurePackages@node1 wanted', '+one line']);
    await assert.rejects(getProgress(env.client, cluster), NoOperationError, 'a check run is not an operation on the cluster');
  });

  test('followRun says once that no worker answers, keeps waiting, and carries on when one polls', async () => {
    const cluster = uniqueCluster('noworker');
    const taskQueue = `idle-${randomUUID()}`;
    const handle = await startInstall(env.client, topologyFor(cluster), { taskQueue });
    const notices: string[] = [];
    const following = followRun(handle, () => undefined, { onNotice: (n) => notices.push(n), workerWaitMs: 1_000 });
    await waitUntil('the no-worker notice', async () => notices.length, (n) => n > 0);
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(notices.length, 1, 'said once');
    assert.match(notices[0], new RegExp(`^waiting for a worker on task queue ${taskQueue} …`));

    const late = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: fakeInstallActivities(machinesOf),
    });
    const result = await late.runUntil(following);
    completed(result);
    assert.match(notices[1], /answers again/);
  });
});

interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The `haflow` CLI in a child process, talking to the test's server; the worker runs in this process. */
function haflow(args: string[], extraEnv: Record<string, string> = {}, onStdout?: (text: string) => void): Promise<CliRun> & { kill(signal: NodeJS.Signals): void } {
  const child = spawn(process.execPath, [join(root, 'bin/haflow.js'), ...args], {
    cwd: root,
    env: { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default', ...extraEnv },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    onStdout?.(stdout);
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
  return Object.assign(done, { kill: (signal: NodeJS.Signals) => child.kill(signal) });
}

const explain = (run: CliRun) => `exit ${run.status}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`;

describe('CLI', () => {
  test('install exits 0 when complete with what changed, and says so when there is nothing to change', async () => {
    const cluster = uniqueCluster('cli-install');
    const file = topologyFile(cluster);
    const first = await haflow(['install', file]);
    assert.equal(first.status, 0, explain(first));
    assert.match(first.stdout, new RegExp(`started install of cluster ${cluster}: workflow haflow-${cluster}`));
    assert.match(first.stdout, /^changed\s+packages\.install@node1\s+ensurePackages@node1: changed$/m, 'one line per step state change');
    assert.match(first.stdout, new RegExp(`^install of cluster ${cluster} completed\n${STANDALONE.changes} changed, 0 unchanged, ${STANDALONE.others} checks passed$`, 'm'));

    const second = await haflow(['install', file]);
    assert.equal(second.status, 0, explain(second));
    assert.match(second.stdout, new RegExp(`completed\nnothing to change: the cluster already matches the topology \\(${STANDALONE.others} checks passed\\)$`, 'm'));

    const status = await haflow(['status', cluster]);
    assert.equal(status.status, 0, explain(status));
    assert.match(status.stdout, new RegExp(`^cluster ${cluster}: install completed`, 'm'));
    assert.match(status.stdout, /passed\s+verify\.haproxy@observer/);
  });

  test('install exits 1 when a step blocks, with its error, remedy and the commands; status shows it; resume --retry completes it', async () => {
    const cluster = uniqueCluster('cli-blocked');
    const file = topologyFile(cluster);
    machinesOf(cluster).broken.set('replicaPatroniInactive@node2', {
      type: 'GuardFailed',
      message: 'node2: Patroni is active on the replica',
      remedy: 'stop Patroni on node2: `systemctl stop patroni`',
    });
    const install = await haflow(['install', file]);
    assert.equal(install.status, 1, explain(install));
    assert.match(install.stdout, new RegExp(`BLOCKED: install of cluster ${cluster} waits at step patroni\\.replica-inactive@node2`));
    assert.match(install.stdout, /error \(GuardFailed\): node2: Patroni is active on the replica/);
    assert.match(install.stdout, /remedy: stop Patroni on node2: `systemctl stop patroni`/);
    for (const decision of ['retry', 'skip', 'abort']) assert.ok(install.stdout.includes(`haflow resume ${cluster} --${decision}`), decision);

    const busy = await haflow(['install', file]);
    assert.equal(busy.status, 1, explain(busy));
    assert.match(busy.stderr, new RegExp(`cluster ${cluster} is busy: installWorkflow haflow-${cluster} started at .* is still running; see \`haflow status ${cluster}\``));

    const status = await haflow(['status', cluster]);
    assert.equal(status.status, 0, explain(status));
    assert.match(status.stdout, new RegExp(`^cluster ${cluster}: install blocked`, 'm'));
    assert.match(status.stdout, /BLOCKED\s+patroni\.replica-inactive@node2\s+GuardFailed: node2: Patroni is active/);

    const noDecision = await haflow(['resume', cluster]);
    assert.equal(noDecision.status, 2, explain(noDecision));
    assert.match(noDecision.stderr, /resume needs exactly one of --retry, --skip, --abort/);
    const twoDecisions = await haflow(['resume', cluster, '--retry', '--skip']);
    assert.equal(twoDecisions.status, 2, explain(twoDecisions));
    const notBlocked = await haflow(['resume', cluster, '--skip', '--step', 'patroni.start@node2']);
    assert.equal(notBlocked.status, 1, explain(notBlocked));
    assert.match(notBlocked.stderr, /patroni\.start@node2 is pending, not blocked/);

    machinesOf(cluster).broken.clear();
    const resume = await haflow(['resume', cluster, '--retry', '--reason', 'stopped Patroni by hand']);
    assert.equal(resume.status, 0, explain(resume));
    assert.match(resume.stdout, /retry patroni\.replica-inactive@node2 \(stopped Patroni by hand\): sent/);
    assert.match(resume.stdout, new RegExp(`install of cluster ${cluster} completed`));
  });

  test('resume --abort exits 1, and status shows the install aborted', async () => {
    const cluster = uniqueCluster('cli-abort');
    const file = topologyFile(cluster);
    machinesOf(cluster).broken.set('configureHaproxy@observer', { type: 'InvalidConfig', message: "haproxy -c: unknown keyword 'bogus'" });
    assert.equal((await haflow(['install', file])).status, 1);
    const abort = await haflow(['resume', cluster, '--abort', '--reason', 'wrong topology']);
    assert.equal(abort.status, 1, explain(abort));
    assert.match(abort.stdout, new RegExp(`install of cluster ${cluster} was aborted: .*at step haproxy\\.config@observer \\(wrong topology\\)`));
    const status = await haflow(['status', cluster]);
    assert.equal(status.status, 0, explain(status));
    assert.match(status.stdout, new RegExp(`^cluster ${cluster}: install aborted`, 'm'));
  });

  test('status of a cluster with no operation exits 1 with a clear message', async () => {
    const run = await haflow(['status', 'never-installed']);
    assert.equal(run.status, 1, explain(run));
    assert.match(run.stderr, /no operation found for cluster never-installed/);
  });

  test('install --detach prints the workflow id and how to follow it; status --follow follows it', async () => {
    const cluster = uniqueCluster('cli-detach');
    const detached = await haflow(['install', '--detach', topologyFile(cluster)]);
    assert.equal(detached.status, 0, explain(detached));
    assert.match(detached.stdout, new RegExp(`workflow haflow-${cluster} `));
    assert.match(detached.stdout, new RegExp(`follow it with:  haflow status ${cluster} --follow`));
    const followed = await haflow(['status', cluster, '--follow']);
    assert.equal(followed.status, 0, explain(followed));
    assert.match(followed.stdout, /completed/);
  });

  test('plan --check prints what each step would change and the count', async () => {
    const cluster = uniqueCluster('cli-check');
    const run = await haflow(['plan', '--check', topologyFile(cluster)]);
    assert.equal(run.status, 0, explain(run));
    assert.match(run.stdout, /^~ packages\.install@node1: ensurePackages@node1: would change\n {6}--- ensurePackages@node1 now\n {6}\+\+\+ ensurePackages@node1 wanted/m);
    assert.match(run.stdout, /^= etcd\.healthy: etcdHealthy: ok$/m);
    assert.match(run.stdout, new RegExp(`^${STANDALONE.changes} steps would change something, ${STANDALONE.others} would not$`, 'm'));
    assert.equal(machinesOf(cluster).applied.size, 0);
  });

  test('plan --check exits 1 when a step fails in check mode, with its error and remedy, and ends the check run', async () => {
    const cluster = uniqueCluster('cli-check-fails');
    machinesOf(cluster).broken.set('preflightCluster', {
      type: 'GuardFailed',
      message: 'clocks differ by 4 s between node1 and node2',
      remedy: 'enable NTP on every machine: `timedatectl set-ntp true`',
    });
    const run = await haflow(['plan', '--check', topologyFile(cluster)]);
    assert.equal(run.status, 1, explain(run));
    assert.match(run.stdout, /the check stopped at step preflight\.cluster .*\n  error \(GuardFailed\): clocks differ by 4 s between node1 and node2\n  remedy: enable NTP/);
    const checkRun = /the check run (\S+) was ended/.exec(run.stdout)![1];
    assert.equal((await env.client.workflow.getHandle(checkRun).describe()).status.name, 'TERMINATED');
  });

  test("the README's script example installs and waits", async () => {
    const cluster = uniqueCluster('example');
    const script = spawn(process.execPath, ['--import', 'tsx', join(root, 'client/examples/install-and-wait.ts'), topologyFile(cluster)], {
      cwd: root,
      env: { ...process.env, TEMPORAL_ADDRESS: env.address },
    });
    let stdout = '';
    script.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const code = await new Promise((resolve) => script.on('close', resolve));
    assert.equal(code, 0, stdout);
    assert.match(stdout, new RegExp(`^running: \\d+/${STANDALONE.changes + STANDALONE.others} steps done$`, 'm'), 'progress while it runs');
    assert.match(stdout, new RegExp(`^completed: ${STANDALONE.changes} steps changed something$`, 'm'));
  });

  test('plan --check without a worker says it waits for one; Ctrl-C ends the check run', async () => {
    const cluster = uniqueCluster('cli-idle');
    let output = '';
    const run = haflow(['plan', '--check', topologyFile(cluster)], { TEMPORAL_NAMESPACE: IDLE_NAMESPACE }, (text) => (output = text));
    await waitUntil('the waiting notice', async () => output, (o) => o.includes('waiting for a worker on task queue haflow …'), 15_000);
    run.kill('SIGINT');
    const ended = await run;
    assert.equal(ended.status, 130, explain(ended));
    assert.match(ended.stdout, /stopped: the check run was ended/);
    // The check run is ended, not left waiting for a worker.
    const idle = new Client({ connection: env.client.connection, namespace: IDLE_NAMESPACE });
    const checkRuns = async () => {
      const runs: WorkflowExecutionInfo[] = [];
      for await (const run of idle.workflow.list({ query: `WorkflowId STARTS_WITH "haflow-${cluster}-check-"` })) runs.push(run);
      return runs;
    };
    const runs = await waitUntil('the check run listed as terminated', checkRuns, (r) => r.length === 1 && r[0].status.name === 'TERMINATED');
    assert.match(runs[0].workflowId, new RegExp(`^haflow-${cluster}-check-[0-9a-f]{8}$`));
  });
});
