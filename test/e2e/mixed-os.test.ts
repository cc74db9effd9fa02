// The guide's rule, one OS and one PostgreSQL major on every DB node, on machines of both OS side
// by side in one lab: the standalone layout on Debian 13, its node2 booted as Debian 12 (a machine
// installed with the wrong release). A topology that says so is refused by validate; one that says
// Debian 13 everywhere is refused by the preflight, which reads what node2 runs, before anything
// on any machine changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { haflowCli, labSecrets, startInstall, useInstallEnvironment, waitForProgress } from '../support/install';
import { labTopology, sshRun, useLab } from '../support/lab';

labSecrets();
process.env.XDG_DATA_HOME = mkdtempSync(join(tmpdir(), 'haflow-mixed-os-data-'));
const currentLab = useLab(labTopology('standalone-debian13'), { machineOs: { node2: 'debian 12' } });
const installEnv = useInstallEnvironment();
const MACHINES = ['observer', 'node1', 'node2'];

test('machines of both OS run side by side, each with its own packages', async () => {
  const lab = currentLab();
  const on = async (host: string, command: string) => (await sshRun(lab, host, command)).stdout.trim();
  assert.deepEqual(
    await Promise.all(MACHINES.map((h) => on(h, '. /etc/os-release; echo "$ID $VERSION_ID"; ls /usr/lib/postgresql'))),
    ['debian 13\n17', 'debian 13\n17', 'debian 12\n15'],
  );
  assert.match(await on('node2', 'patroni --version'), /^patroni 3\./);
  assert.match(await on('node1', 'patroni --version'), /^patroni 4\./);
});

test('a topology that puts the DB nodes on two OS is refused by validate, naming the field and its line', async () => {
  const lab = currentLab();
  const mixed = join(mkdtempSync(join(tmpdir(), 'haflow-mixed-os-')), 'mixed.yaml');
  writeFileSync(mixed, readFileSync(lab.topologyFile, 'utf8').replace('    address: 127.0.0.13\n', '    address: 127.0.0.13\n    os: debian 12\n'));
  const run = await haflowCli(installEnv(), 'validate', mixed);
  assert.notEqual(run.code, 0, run.out);
  assert.match(run.out, /mixed\.yaml:\d+.*hosts\[2\]\.os/);
  assert.match(run.out, /the DB nodes must run one OS .*node1 runs debian 13, node2 runs debian 12/);
});

test('a topology that says Debian 13 everywhere is refused by the preflight, which reads Debian 12 on node2: nothing on any machine changes', async () => {
  const lab = currentLab();
  // Every file the install could write: configuration, data and the application's directories.
  const WATCHED = '/etc /var/lib/postgresql /var/lib/etcd /opt';
  await Promise.all(MACHINES.map((h) => sshRun(lab, h, 'touch /root/before-install', { sudo: true })));
  const handle = await startInstall(installEnv(), lab.topology);
  const blocked = await waitForProgress(handle, 'the preflight to refuse node2', (p) => p.steps.some((s) => s.status === 'blocked'));
  const refused = blocked.steps.filter((s) => s.status === 'blocked');
  assert.deepEqual(refused.map((s) => s.id), ['preflight.host@node2']);
  const { error } = refused[0];
  assert.equal(error!.type, 'GuardFailed');
  assert.match(error!.message, /node2 runs debian 12, but the topology says debian 13/);
  assert.match(error!.remedy!, /correct os in the topology to debian 12, or install on a machine that runs debian 13/);
  const ran = blocked.steps.filter((s) => s.status !== 'pending' && !s.id.startsWith('preflight.'));
  assert.deepEqual(ran.map((s) => s.id), [], 'nothing after the preflight ran');
  await handle.terminate('the test is over');
  for (const host of MACHINES) {
    const changed = await sshRun(lab, host, `find ${WATCHED} -xdev -newer /root/before-install -not -type d 2>/dev/null`, { sudo: true });
    assert.equal(changed.stdout.trim(), '', `no file changed on ${host}`);
  }
  // The same refusal from the CLI, with the remedy, and an exit code that says so.
  const run = await haflowCli(installEnv(), 'install', lab.topologyFile);
  assert.notEqual(run.code, 0, run.out);
  assert.match(run.out, /node2 runs debian 12, but the topology says debian 13/);
});
