// The application's file sync (activities/app/sync.ts): what the master runs to push a directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { rsyncCommand } from '../../activities/app/sync';
import { loadTopology } from '../../topology';

const { topology } = loadTopology(join(__dirname, '../../lab/topologies/standalone.yaml'));

test('check mode syncs nothing and creates nothing: the dry run asks rsync on the slave not to make the directory', () => {
  const slave = topology.hosts.find((h) => h.name === 'node2')!;
  assert.match(rsyncCommand(topology, slave, '/opt/flotomate/patches'), /--rsync-path='sudo mkdir -p \/opt\/flotomate\/patches && sudo rsync'/);
  const dry = rsyncCommand(topology, slave, '/opt/flotomate/patches', { dryRun: true });
  assert.match(dry, /--dry-run/);
  assert.doesNotMatch(dry, /mkdir/);
});
