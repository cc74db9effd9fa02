// The file sync's trust: the slave's common user accepts the master's sync key only from the
// master's address and for nothing but the session (restrict), and a line authorised before
// from= existed is replaced by the new one. Authorized keys files are real files in a temporary
// directory, read and written by this machine's sh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rsyncCommand } from '../../activities/app/sync';
import { authorizeKeyLine, restrictedKeyLine } from '../../activities/shared/host-keys';
import { fakeSsh, localShell } from '../support/fake-ssh';
import { loadTopology } from '../../topology';
import { hostNamed, loopbackLab } from '../support/topologies';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHtestkeyblobforhaflowappsync0123456789abcdef haflow-app-sync@node1';
const OTHER = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIanotherkeythatmuststay0123456789abcdefgh admin@laptop';

test("the slave's line for the master's key: from the master's address only, restricted", () => {
  assert.equal(restrictedKeyLine(KEY, ['172.16.12.171']), `from="172.16.12.171",restrict ${KEY}`);
  assert.equal(restrictedKeyLine(KEY, ['10.0.0.2', '10.0.1.2']), `from="10.0.0.2,10.0.1.2",restrict ${KEY}`);
});

test("the master's rsync connects from its own address, the one the slave's line allows", () => {
  const t = loopbackLab({ app: { db_password: { env: 'APP_DB_PASSWORD' }, sync_dirs: ['/opt/flotomate/attachments'] } });
  assert.match(rsyncCommand(t, hostNamed(t, 'node1'), hostNamed(t, 'node2'), '/opt/flotomate/attachments'), /-o BindAddress=127\.0\.0\.12 /);
});

test('an earlier line of the key without from= is replaced in place; other keys, the owner and the mode are kept; a second run changes nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'haflow-authorized-'));
  try {
    const file = join(dir, 'authorized_keys');
    writeFileSync(file, `${OTHER}\nrestrict ${KEY}\n`, { mode: 0o600 });
    const { ssh } = fakeSsh(localShell);
    const line = restrictedKeyLine(KEY, ['127.0.0.12']);
    assert.equal(await authorizeKeyLine(ssh, file, line, 'exit 1', true), true, 'check mode says it would change');
    assert.equal(readFileSync(file, 'utf8'), `${OTHER}\nrestrict ${KEY}\n`, 'check mode writes nothing');
    assert.equal(await authorizeKeyLine(ssh, file, line, 'exit 1', false), true);
    assert.equal(readFileSync(file, 'utf8'), `${OTHER}\n${line}\n`);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(await authorizeKeyLine(ssh, file, line, 'exit 1', false), false);
    assert.equal(readFileSync(file, 'utf8'), `${OTHER}\n${line}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing file is created by the given command, then holds the line alone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'haflow-authorized-'));
  try {
    const file = join(dir, 'keys', 'authorized_keys');
    const { ssh } = fakeSsh(localShell);
    const line = restrictedKeyLine(KEY, ['127.0.0.12']);
    assert.equal(await authorizeKeyLine(ssh, file, line, `mkdir -p ${dir}/keys && install -m 600 /dev/null ${file}`, false), true);
    assert.equal(readFileSync(file, 'utf8'), `${line}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const lab = loadTopology(join(__dirname, '../../lab/topologies/standalone.yaml')).topology;

test('check mode syncs nothing and creates nothing: the dry run asks rsync on the slave not to make the directory', () => {
  const slave = lab.hosts.find((h) => h.name === 'node2')!;
  assert.match(rsyncCommand(lab, lab.hosts.find((h) => h.name === 'node1')!, slave, '/opt/flotomate/patches'), /--rsync-path='sudo mkdir -p \/opt\/flotomate\/patches && sudo rsync'/);
  const dry = rsyncCommand(lab, lab.hosts.find((h) => h.name === 'node1')!, slave, '/opt/flotomate/patches', { dryRun: true });
  assert.match(dry, /--dry-run/);
  assert.doesNotMatch(dry, /mkdir/);
});
