// The classic layout's install and its migration to Patroni survive their worker and their
// server: `haflow worker` processes are killed with SIGKILL while the riskiest steps run (the
// slave's base backup, the migration's backup, the primary's handover to Patroni) and replaced,
// and the dev server is restarted on the same SQLite file mid-run. Both complete, with the data
// as it was and Patroni leading where the classic master was. A long test (about 4 minutes).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startRunbook } from '../../client/api';
import { loadTopology } from '../../topology';
import { completesDespite } from '../support/durability';
import { labSecrets, startInstall } from '../support/install';
import { labTopology, sshRun, useLab } from '../support/lab';
import { longTest } from '../support/long';
import { startDevServer } from '../support/temporal';
import { freePort, workerProcesses } from '../support/worker-process';
import { restJson } from '../support/rest';

labSecrets();
const currentLab = useLab(labTopology('classic'));
const dir = mkdtempSync(join(tmpdir(), 'haflow-classic-durability-'));
const dbFilename = join(dir, 'temporal.sqlite');
let port: number;
let env: TestWorkflowEnvironment | undefined;
const workers = workerProcesses(() => `127.0.0.1:${port}`);
let worker: ChildProcess | undefined;

before(async () => {
  port = await freePort();
  env = await startDevServer({ dbFilename, port });
  worker = await workers.start();
});

after(async () => {
  await workers.killAll();
  await env?.teardown();
  rmSync(dir, { recursive: true, force: true });
});

const rig = {
  server: () => env!,
  killWorker: async () => {
    await workers.kill(worker!);
    worker = await workers.start();
  },
  restartServer: async () => {
    await env!.teardown();
    env = await startDevServer({ dbFilename, port });
  },
};

const sql = (host: string, query: string) =>
  sshRun(currentLab(), host, `sudo -u postgres psql -X -At -v ON_ERROR_STOP=1 -h /var/run/postgresql -d flotomate -c ${JSON.stringify(query)}`, { sudo: true }).then((r) => r.stdout.trim());

test('the classic install and its migration to Patroni, with the worker killed during the base backup, the migration backup and the handover, and the server restarted: both complete, the data intact', longTest(), async () => {
  const lab = currentLab();
  const install = await startInstall(env!, lab.topology);
  await completesDespite(
    rig,
    install.workflowId,
    [
      { during: 'db.primary@master', what: 'kill worker' },
      { during: 'db.standby@slave', what: 'kill worker' },
      { during: 'app.config@master', what: 'restart server' },
    ],
    420,
  );
  assert.equal(await sql('slave', 'select pg_is_in_recovery(), (select status from pg_stat_wal_receiver)'), 't|streaming');

  await sql('master', 'create table durability_check (id int primary key, payload text); insert into durability_check select g, md5(g::text) from generate_series(1, 3000) g');
  const fingerprint = "select count(*) || ' ' || md5(string_agg(id || ':' || payload, ',' order by id)) from durability_check";
  const before = await sql('master', fingerprint);
  const patroni = loadTopology(labTopology('classic-patroni')).topology;
  const migrate = await startRunbook(env!.client, 'migrate', patroni, { classicCluster: lab.topology.cluster, master: 'master' });
  await completesDespite(
    rig,
    migrate.workflowId,
    [
      { during: 'migrate.backup@master', what: 'kill worker' },
      { during: 'db.handover@master', what: 'kill worker' },
      { during: 'db.handover@slave', what: 'restart server' },
      { during: 'app.config@master', what: 'kill worker' },
    ],
    420,
  );
  const members = (await restJson(lab.topology, '127.0.0.42', '/cluster')) as { members: { name: string; role: string }[] };
  assert.deepEqual(members.members.map((m) => `${m.name} ${m.role}`).sort(), ['master leader', 'slave replica']);
  assert.equal(await sql('master', fingerprint), before);
  assert.equal(await sql('master', 'show config_file'), '/var/lib/postgresql/15/main/postgresql.conf');
  assert.equal(await sql('slave', 'select pg_is_in_recovery(), (select status from pg_stat_wal_receiver)'), 't|streaming');
  const history = await env!.client.workflow.getHandle(migrate.workflowId).fetchHistory();
  const retried = history.events!.filter((e) => e.activityTaskStartedEventAttributes && (e.activityTaskStartedEventAttributes.attempt ?? 1) > 1);
  assert.ok(retried.length >= 1, 'at least one activity of the migration was interrupted mid-run and retried on a new worker');
  await workers.killAll();
});
