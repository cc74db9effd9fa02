// A managed file is read and written as root, in directories others may write to (an
// application's own directories): nothing there may lead root to another file. A link, a
// directory, a named pipe or a second name of another file at a managed path is refused; the
// temp file and the backup are never opened through a name someone else placed. Each script is
// run by this machine's sh and bash in a temporary directory (sudo is ignored: the tests run as
// the test user).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { setAppConfigFiles } from '../../activities/app/activities';
import { backupStamp, ensureRemoteFile, type ManagedFile } from '../../activities/shared/remote-files';
import type { AppConfigFile } from '../../topology/schema';
import { fakeSsh, type Responder } from '../support/fake-ssh';

const me = {
  owner: spawnSync('id', ['-un'], { encoding: 'utf8' }).stdout.trim(),
  group: spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim(),
};

/** Runs each command with `shell` (stdin passed through); `sudo` is ignored. */
const runWith =
  (shell: string): Responder =>
  (command, options) => {
    const result = spawnSync(shell, ['-c', command], { input: options.stdin, encoding: 'utf8', timeout: 10_000 });
    if (result.error) throw result.error;
    return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  };

const SHELLS = ['sh', 'bash'];
const ROOT_ONLY = 'root:$6$only-root-may-read-this$:19000:0:99999:7:::\n';

interface Scene {
  dir: string;
  /** A directory others could write to, where the managed file lives. */
  appDir: string;
  /** A file only root may read, which no managed file may lead to. */
  victim: string;
  backupDir: string;
}

async function inScene(body: (scene: Scene) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'haflow links '));
  try {
    const appDir = join(dir, 'app dir');
    mkdirSync(appDir);
    const victim = join(dir, 'shadow');
    writeFileSync(victim, ROOT_ONLY, { mode: 0o600 });
    await body({ dir, appDir, victim, backupDir: join(dir, 'backups') });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function assertVictimUntouched(victim: string): void {
  assert.equal(readFileSync(victim, 'utf8'), ROOT_ONLY, 'the other file keeps its content');
  assert.equal(statSync(victim).mode & 0o777, 0o600, 'the other file keeps its mode');
  assert.ok(lstatSync(victim).isFile());
}

const fileAt = (path: string, content = 'valid new\n'): ManagedFile => ({ path, content, owner: me.owner, group: me.group, mode: 0o640, validate: "grep -q '^valid' {}" });

/** The refusal of a path that is not a regular file of its own: not retryable, naming the host, the path and what is there. */
function refusedAs(path: string, what: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, 'GuardFailed');
    assert.equal(err.nonRetryable, true);
    assert.ok(err.message.startsWith('node1: '), err.message);
    assert.ok(err.message.includes(path), err.message);
    assert.match(err.message, what);
    assert.ok(!JSON.stringify({ message: err.message, details: err.details }).includes('only-root-may-read-this'), "the other file's content is not in the error");
    assert.match(JSON.stringify(err.details), /remedy/);
    return true;
  };
}

for (const shell of SHELLS) {
  describe(`a managed file's path, run by ${shell}`, () => {
    test('a symbolic link to another file is refused in check mode and when writing; the other file is unchanged and its content is nowhere', async () => {
      await inScene(async ({ appDir, victim, backupDir }) => {
        const path = join(appDir, 'app.properties');
        symlinkSync(victim, path);
        const { ssh } = fakeSsh(runWith(shell));
        for (const check of [true, false]) {
          await assert.rejects(ensureRemoteFile(ssh, fileAt(path), check, { backupDir }), refusedAs(path, new RegExp(`a symbolic link to ${victim.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`)));
        }
        assert.ok(lstatSync(path).isSymbolicLink(), 'the link is left as it is');
        assertVictimUntouched(victim);
        assert.ok(!existsSync(backupDir), 'no backup of what the link points to');
      });
    });

    test("an application config file that links to a root-only file is refused by app.config's editing, before any content is read", async () => {
      await inScene(async ({ appDir, victim, backupDir }) => {
        const path = join(appDir, 'application-saas.properties');
        symlinkSync(victim, path);
        const file: AppConfigFile = { path, format: 'properties', url_key: 'spring.datasource.url', password_key: 'spring.datasource.password' };
        const { ssh } = fakeSsh(runWith(shell));
        for (const check of [true, false]) {
          await assert.rejects(setAppConfigFiles(ssh, [file], { url: 'jdbc:postgresql://10.0.0.1:5000/db', password: 'new-pw' }, check, { backupDir }), refusedAs(path, /a symbolic link to /));
        }
        assertVictimUntouched(victim);
        assert.ok(lstatSync(path).isSymbolicLink());
      });
    });

    test('a dangling link, a masked unit\'s link to /dev/null, a directory and a named pipe are each refused, naming what they are, and left as they are', async () => {
      await inScene(async ({ appDir, backupDir }) => {
        const { ssh } = fakeSsh(runWith(shell));
        const dangling = join(appDir, 'dangling.conf');
        symlinkSync(join(appDir, 'nowhere'), dangling);
        await assert.rejects(ensureRemoteFile(ssh, fileAt(dangling), false, { backupDir }), refusedAs(dangling, /a symbolic link to .*nowhere/));
        assert.ok(!existsSync(join(appDir, 'nowhere')), 'nothing created where the link points');

        const masked = join(appDir, 'masked.service');
        symlinkSync('/dev/null', masked);
        await assert.rejects(ensureRemoteFile(ssh, fileAt(masked), false, { backupDir }), (err: unknown) => {
          refusedAs(masked, /a symbolic link to \/dev\/null \(masked\)/)(err);
          assert.match(JSON.stringify((err as ApplicationFailure).details), /systemctl unmask/);
          return true;
        });

        const directory = join(appDir, 'dir.conf');
        mkdirSync(directory);
        await assert.rejects(ensureRemoteFile(ssh, fileAt(directory), false, { backupDir }), refusedAs(directory, /is a directory/));
        assert.deepEqual(readdirSync(directory), [], 'nothing moved into the directory');

        const fifo = join(appDir, 'fifo.conf');
        assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
        await assert.rejects(ensureRemoteFile(ssh, fileAt(fifo), true, { backupDir }), refusedAs(fifo, /is a named pipe/));
        await assert.rejects(ensureRemoteFile(ssh, fileAt(fifo), false, { backupDir }), refusedAs(fifo, /is a named pipe/));
        assert.ok(lstatSync(fifo).isFIFO());
      });
    });

    test('a second name of another file (a hard link) is refused: its content is not read', async () => {
      await inScene(async ({ appDir, victim, backupDir }) => {
        const path = join(appDir, 'hard.conf');
        linkSync(victim, path);
        const { ssh } = fakeSsh(runWith(shell));
        await assert.rejects(ensureRemoteFile(ssh, fileAt(path), true, { backupDir }), refusedAs(path, /has 2 names \(hard links\)/));
        assertVictimUntouched(victim);
      });
    });

    test('a link placed where a guessable backup name would be is not written through; the backup is root-only, in a root-only directory, under a name nobody can guess', async () => {
      await inScene(async ({ appDir, victim, backupDir }) => {
        const path = join(appDir, 'app.conf');
        writeFileSync(path, 'valid old\n', { mode: 0o644 });
        // Whoever can write the directory places links at every backup name of the next seconds.
        for (let s = 0; s < 10; s++) symlinkSync(victim, `${path}.haflow-backup-${backupStamp(new Date(Date.now() + s * 1000))}`);
        const { ssh } = fakeSsh(runWith(shell));
        const first = await ensureRemoteFile(ssh, fileAt(path, 'valid one\n'), false, { backupDir });
        const second = await ensureRemoteFile(ssh, fileAt(path, 'valid two\n'), false, { backupDir });
        assertVictimUntouched(victim);
        assert.equal(readFileSync(path, 'utf8'), 'valid two\n');
        for (const [change, old] of [[first, 'valid old\n'], [second, 'valid one\n']] as const) {
          assert.ok(change.backup?.startsWith(`${backupDir}/`), `${change.backup} is under ${backupDir}`);
          assert.ok(change.summary.endsWith(`; backup ${change.backup}`), change.summary);
          assert.equal(readFileSync(change.backup!, 'utf8'), old);
          assert.equal(statSync(change.backup!).mode & 0o777, 0o600);
          assert.match(change.backup!, /\.\d{8}T\d{6}Z-[0-9a-f]{16}$/, 'dated, with a random part');
        }
        assert.notEqual(first.backup, second.backup, 'two backups within a second have different names');
        assert.equal(statSync(backupDir).mode & 0o777, 0o700);
      });
    });

    test("a link placed at the temp file's name before it is created is not followed: the write fails, the other file is unchanged", async () => {
      await inScene(async ({ appDir, victim, backupDir }) => {
        const path = join(appDir, 'app.conf');
        writeFileSync(path, 'valid old\n', { mode: 0o644 });
        // The temp name is random, but suppose it were guessed: a link is there before the script creates it.
        const { ssh } = fakeSsh((command, options, kind) =>
          runWith(shell)(command.replace(/^(tmp=.*)$/m, `$1\nln -s '${victim}' "$tmp"`), options, kind),
        );
        await assert.rejects(ensureRemoteFile(ssh, fileAt(path, 'valid secret: hunter2\n'), false, { backupDir }));
        assertVictimUntouched(victim);
        assert.equal(readFileSync(path, 'utf8'), 'valid old\n');
      });
    });

    test("the temp file's name pointed at another file after it was created: owner, mode and content still go to the file haflow created, and nothing else is put in place", async () => {
      await inScene(async ({ appDir, victim, backupDir }) => {
        const path = join(appDir, 'app.conf');
        writeFileSync(path, 'valid old\n', { mode: 0o644 });
        // Whoever can write the directory sees the new name and swaps a link in, before its owner is set.
        const { ssh } = fakeSsh((command, options, kind) =>
          runWith(shell)(command.replace(/^(chown .*)$/m, `mv "$tmp" "$tmp.taken"; ln -s '${victim}' "$tmp"\n$1`), options, kind),
        );
        await assert.rejects(ensureRemoteFile(ssh, fileAt(path, 'valid secret: hunter2\n'), false, { backupDir }), /changed while haflow wrote it/);
        assertVictimUntouched(victim);
        assert.equal(readFileSync(path, 'utf8'), 'valid old\n', 'the link put in its place is not moved into place');
        assert.ok(lstatSync(path).isFile());
        const taken = readdirSync(appDir).find((f) => f.endsWith('.taken'));
        assert.ok(taken, 'the file haflow created');
        assert.equal(readFileSync(join(appDir, taken), 'utf8'), 'valid secret: hunter2\n');
        assert.equal(statSync(join(appDir, taken)).mode & 0o777, 0o640);
      });
    });
  });
}

test('check mode creates nothing, not even a missing parent directory', async () => {
  await inScene(async ({ appDir, backupDir }) => {
    const path = join(appDir, 'conf.d', 'new.conf');
    const { ssh } = fakeSsh(runWith('sh'));
    const change = await ensureRemoteFile(ssh, fileAt(path), true, { backupDir });
    assert.equal(change.summary, `would create ${path}`);
    assert.ok(!existsSync(join(appDir, 'conf.d')));
    assert.ok(!existsSync(backupDir));
  });
});
