// injectFault after a lost worker: the attempt that injected the fault records it (its
// heartbeat) before it reports; a later attempt that finds the record reports the same facts
// and does not inject again. Real fault driver (a shell command), a real TCP listener standing
// in for the target's SSH port, the SDK's mock activity environment for attempts and heartbeats.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { StepResult } from '../../activities/contract';
import { injectFault } from '../../activities/failover/faults';
import { standalone } from '../support/topologies';

let dir: string;
let sshStandIn: Server;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'haflow-fault-retry-'));
  sshStandIn = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => sshStandIn.listen(0, '127.0.0.1', resolve));
});

after(() => {
  sshStandIn.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a later attempt reports the fault the lost attempt injected, with its facts, and never runs the driver again', async () => {
  const marker = join(dir, 'powered-off');
  const port = (sshStandIn.address() as AddressInfo).port;
  const topology = standalone({
    hosts: [
      { name: 'observer', address: '127.0.0.1', roles: ['observer', 'haproxy', 'etcd'] },
      { name: 'node1', address: '127.0.0.1', roles: ['app', 'db'], ssh: { port } },
      { name: 'node2', address: '127.0.0.2', roles: ['app', 'db'] },
    ],
    faults: { power_off: `touch ${marker}-{host}` },
  });
  const input = { topology, check: false, host: 'node1', fault: 'crash-leader' as const };

  const first = new MockActivityEnvironment({ attempt: 1 }, { logger: new DefaultLogger('ERROR') });
  const beats: unknown[] = [];
  first.on('heartbeat', (d: unknown) => beats.push(d));
  const injected = (await first.run(injectFault, input)) as StepResult;
  assert.ok(existsSync(`${marker}-node1`), 'the driver ran');
  const record = beats.find((b) => (b as { injected?: boolean })?.injected) as { facts: Record<string, number> } | undefined;
  assert.ok(record, 'the attempt recorded the fault before reporting it');
  assert.deepEqual(record.facts, injected.facts);

  rmSync(`${marker}-node1`);
  const second = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: record }, { logger: new DefaultLogger('ERROR') });
  const reported = (await second.run(injectFault, input)) as StepResult;
  assert.equal(existsSync(`${marker}-node1`), false, 'not injected twice');
  assert.deepEqual(reported.facts, injected.facts, 'the same injection time: the measurement stays right');
  assert.match(reported.summary, /reported by a later attempt: the worker that injected it was lost/);
});
