// The tutorials' generic cluster (3 DB nodes that are the 3 etcd members, 1 HAProxy machine) installed on the lab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labTopology, sshRun, useLab } from '../support/lab';
import { installTwice, labSecrets, useInstallEnvironment } from '../support/install';
import { assertHostsHoldRendered, haflowRender } from '../support/rendered';

labSecrets();
const currentLab = useLab(labTopology('generic'));
const installEnv = useInstallEnvironment();

test('3 DB nodes with a 3-member etcd install, both replicas stream, a second install changes nothing, the files are what `haflow render` shows', async () => {
  const lab = currentLab();
  const { first, second } = await installTwice(installEnv(), lab.topology);
  assert.equal(first.steps.some((s) => s.id.startsWith('db.config')), false, 'no application tier, no DB configuration step');
  assert.match(first.steps.find((s) => s.id === 'verify.cluster')!.summary!, /one leader \(pg1\), 2 replica\(s\) running/);
  const members = await sshRun(lab, 'pg2', 'ETCDCTL_API=3 etcdctl --endpoints 127.0.0.32:2379 member list -w simple');
  assert.equal(members.stdout.trim().split('\n').length, 3, `three etcd members: ${members.stdout}`);
  assert.match(first.steps.find((s) => s.id === 'verify.haproxy@proxy')!.summary!, /exactly the leader pg1 is UP/);
  assert.equal(second.changed, 0, second.steps.filter((s) => s.changed).map((s) => `${s.id}: ${s.summary}`).join('\n'));
  await assertHostsHoldRendered(lab, haflowRender(lab.topologyFile));
});
