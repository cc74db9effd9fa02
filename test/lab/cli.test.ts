// `haflow lab …` as an operator types it: the standalone lab, end to end.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Lab } from '../../lab';
import { labLeftovers } from '../support/lab';

const root = join(__dirname, '../..');
const haflow = (...args: string[]) => {
  const run = spawnSync(process.execPath, [join(root, 'bin/haflow.js'), 'lab', ...args], { encoding: 'utf8', cwd: root });
  return { code: run.status, out: run.stdout + run.stderr };
};

after(async () => {
  await Lab.current()?.down();
});

test('lab up, status, crash, boot, partition, heal, wipe and down from the command line', () => {
  const up = haflow('up', 'lab/topologies/standalone.yaml', '--wipe');
  assert.equal(up.code, 0, up.out);
  assert.match(up.out, /observer\s+127\.0\.0\.11\s+running/);
  assert.match(up.out, /ssh with: ssh -i \/var\/lib\/haflow-lab\/id_ed25519 -o UserKnownHostsFile=\/var\/lib\/haflow-lab\/known_hosts labadmin@127\.0\.0\.11/);

  assert.equal(haflow('crash', 'node2').code, 0);
  assert.match(haflow('status').out, /node2\s+127\.0\.0\.13\s+off\s+0 processes/);
  assert.equal(haflow('boot', 'node2').code, 0);
  assert.match(haflow('status').out, /node2\s+127\.0\.0\.13\s+running/);

  assert.equal(haflow('partition', 'node1', '--from', 'observer', '--port', '2379').code, 0);
  assert.match(haflow('status').out, /partition: node1 ✕ observer \(port 2379\)/);
  assert.equal(haflow('heal').code, 0);
  assert.doesNotMatch(haflow('status').out, /partition:/);

  const badPort = haflow('partition', 'node1', '--port', '99999');
  assert.equal(badPort.code, 2);
  assert.match(badPort.out, /must be a TCP port/);
  const noSuchHost = haflow('crash', 'node9');
  assert.equal(noSuchHost.code, 1);
  assert.match(noSuchHost.out, /no machine named node9 in the lab; machines are observer, node1, node2/);

  assert.equal(haflow('wipe').code, 0);
  assert.equal(haflow('down').code, 0);
  assert.deepEqual(labLeftovers(), []);
  const status = haflow('status');
  assert.equal(status.code, 3);
  assert.match(status.out, /no lab is up/);
});

test('a topology with addresses outside 127.0.0.0/8 is refused before anything starts', () => {
  const run = haflow('up', 'topology/examples/standalone.yaml');
  assert.equal(run.code, 1);
  assert.match(run.out, /loopback addresses \(127\.0\.0\.0\/8\) only; observer has 172\.16\.13\.42/);
  assert.equal(Lab.current(), undefined);
});
