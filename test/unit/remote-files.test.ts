// activities/remote-files.ts: password redaction in diffs, backup names, and ensureRemoteFile's
// look-then-act logic against a fake host (and, for the generated write script, against this
// machine's own sh in a temporary directory). No SSH, no network.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { renderPatroniYml } from '../../activities/patroni/config';
import { redactSecrets } from '../../activities/shared/redact';
import { archiveCommand, backupStamp, ensureRemoteFile, fileDiff, type ManagedFile } from '../../activities/shared/remote-files';
import { fakeSsh, localShell, ok, type FakeCall } from '../support/fake-ssh';
import { hostNamed, standalone } from '../support/topologies';

// ---------------------------------------------------------------- redactSecrets

describe('redactSecrets', () => {
  test('replaces the value of a YAML password key, top level and indented, keeping the indentation', () => {
    const text = 'password: top-secret\nauthentication:\n  superuser:\n    username: postgres\n    password: s3cr3t\n';
    assert.equal(
      redactSecrets(text),
      'password: <redacted>\nauthentication:\n  superuser:\n    username: postgres\n    password: <redacted>\n',
    );
  });

  test('replaces a properties-file password (spring.datasource.password=…) and leaves the other keys', () => {
    const text = 'spring.datasource.url=jdbc:postgresql://172.16.13.42:5000/flotomate\nspring.datasource.password=Flo=to#mate!\nspring.datasource.username=flotomate\n';
    assert.equal(
      redactSecrets(text),
      'spring.datasource.url=jdbc:postgresql://172.16.13.42:5000/flotomate\nspring.datasource.password=<redacted>\nspring.datasource.username=flotomate\n',
    );
  });

  test('replaces an env-file password (DB_PASSWORD=…), whatever the case of the key', () => {
    assert.equal(redactSecrets('DB_URL=jdbc:postgresql://db/x\nDB_PASSWORD=hunter2\n'), 'DB_URL=jdbc:postgresql://db/x\nDB_PASSWORD=<redacted>\n');
    assert.equal(redactSecrets('Db_Password = hunter2'), 'Db_Password = <redacted>');
    assert.equal(redactSecrets('\tPGPASSWORD=hunter2'), '\tPGPASSWORD=<redacted>');
  });

  test('leaves every line without a password key exactly as it was', () => {
    const text = [
      '# Managed by haflow: the password below rotates monthly',
      'scope: serviceops',
      'user: passwordless-admin',
      '  pgpass: /var/lib/postgresql/.pgpass_patroni',
      '  username: replicator',
      'DB_URL=jdbc:postgresql://127.0.0.1:5000/flotomate',
      '',
    ].join('\n');
    assert.equal(redactSecrets(text), text);
  });

  test('leaves none of the three passwords of a rendered patroni.yml, and changes no other line', () => {
    const topology = standalone();
    const secrets = { superuser: 'yes', replication: "it's: a #secret", rewind: 'r3w1nd"pw' };
    const text = renderPatroniYml(topology, hostNamed(topology, 'node1'), secrets);
    const redacted = redactSecrets(text);
    // The secrets are in the file as rendered (maybe quoted), so the test means something.
    assert.match(text, /password: "?yes"?/);
    for (const secret of ['a #secret', 'r3w1nd']) {
      assert.ok(text.includes(secret), `the rendered file holds ${secret}`);
      assert.ok(!redacted.includes(secret), `the redacted file still holds ${secret}`);
    }
    assert.doesNotMatch(redacted, /password: (?!<redacted>)/);
    const before = text.split('\n');
    const after = redacted.split('\n');
    assert.equal(after.length, before.length);
    const touched = before.filter((line, i) => line !== after[i]);
    assert.equal(touched.length, 3);
    for (const line of touched) assert.match(line, /^\s+password: /);
  });
});

// ---------------------------------------------------------------- fileDiff

describe('fileDiff', () => {
  const before = 'scope: serviceops\nttl: 30\nsuperuser:\n  password: old-Secret-1\nreplication:\n  password: old-Secret-2\n';
  const after = 'scope: serviceops\nttl: 10\nsuperuser:\n  password: new-Secret-1\nreplication:\n  password: new-Secret-2\n';

  test("with secret 'passwords', neither the old nor the new password appears, but the other change does", () => {
    const diff = fileDiff('/etc/patroni/config.yml', before, after, { secret: 'passwords' });
    for (const secret of ['old-Secret-1', 'old-Secret-2', 'new-Secret-1', 'new-Secret-2']) assert.ok(!diff.includes(secret), `diff shows ${secret}`);
    assert.match(diff, /^-ttl: 30$/m);
    assert.match(diff, /^\+ttl: 10$/m);
    assert.match(diff, /^--- \/etc\/patroni\/config\.yml\ton the host$/m);
  });

  test("with secret 'passwords', a change of the password alone shows no password", () => {
    const diff = fileDiff('/etc/patroni/config.yml', 'password: first-one\n', 'password: second-one\n', { secret: 'passwords' });
    assert.ok(!diff.includes('first-one') && !diff.includes('second-one'), diff);
  });

  test('without secret, the diff shows the values (redaction is what the flag turns on)', () => {
    const diff = fileDiff('/etc/haproxy/haproxy.cfg', before, after);
    assert.match(diff, /^-  password: old-Secret-1$/m);
    assert.match(diff, /^\+  password: new-Secret-1$/m);
  });
});

// ---------------------------------------------------------------- backupStamp

describe('backupStamp', () => {
  test('is the UTC time as YYYYMMDDTHHMMSSZ, without the milliseconds', () => {
    assert.equal(backupStamp(new Date('2024-03-05T07:08:09.123Z')), '20240305T070809Z');
  });

  test('has no character a shell or a file name minds (no colon)', () => {
    const stamp = backupStamp();
    assert.match(stamp, /^\d{8}T\d{6}Z$/);
    assert.ok(!stamp.includes(':'));
  });

  test('sorts as text in time order', () => {
    const dates = ['2023-12-31T23:59:59.999Z', '2024-01-01T00:00:00.000Z', '2024-09-30T12:00:00Z', '2024-10-01T01:00:00Z', '2024-10-01T10:00:00Z', '2099-01-01T00:00:00Z'];
    const stamps = dates.map((d) => backupStamp(new Date(d)));
    assert.deepEqual([...stamps].reverse().sort(), stamps);
    assert.equal(new Set(stamps).size, stamps.length);
  });
});

// ---------------------------------------------------------------- ensureRemoteFile, fake host

interface OnHost {
  content: string;
  owner: string;
  group: string;
  mode: number;
}

/** A host holding `existing` (or nothing) at the file's path; writes answer with `write`. */
function hostWith(existing: OnHost | undefined, write = ok()) {
  return fakeSsh((command, _options, kind) => {
    if (kind === 'check' && command.includes('base64 -w0')) {
      if (!existing) return ok('absent\n');
      return ok(`file\t${existing.owner} ${existing.group} ${existing.mode.toString(8)} 1\n${Buffer.from(existing.content).toString('base64')}`);
    }
    if (kind === 'exec') return write;
    throw new Error(`unexpected ${kind}: ${command}`);
  });
}

const haproxyCfg: ManagedFile = {
  path: '/etc/haproxy/haproxy.cfg',
  content: '# Managed by haflow\nglobal\n    maxconn 100\n',
  owner: 'root',
  group: 'root',
  mode: 0o644,
  validate: 'haproxy -c -q -f {}',
};
const onHostNow: OnHost = { content: haproxyCfg.content, owner: 'root', group: 'root', mode: 0o644 };

const writes = (calls: FakeCall[]) => calls.filter((c) => c.kind === 'exec');

describe('ensureRemoteFile', () => {
  test('an identical file (content, owner, group, mode) is left alone: no write', async () => {
    const { ssh, calls } = hostWith(onHostNow);
    const change = await ensureRemoteFile(ssh, haproxyCfg, false);
    assert.equal(change.changed, false);
    assert.equal(change.summary, '/etc/haproxy/haproxy.cfg is up to date');
    assert.equal(change.diff, undefined);
    assert.deepEqual(writes(calls), []);
  });

  test('in check mode, different content gives a diff and a "would" summary, and nothing is written', async () => {
    const { ssh, calls } = hostWith({ ...onHostNow, content: '# Managed by haflow\nglobal\n    maxconn 50\n' });
    const change = await ensureRemoteFile(ssh, haproxyCfg, true);
    assert.equal(change.changed, true);
    assert.match(change.summary, /^would rewrite \/etc\/haproxy\/haproxy\.cfg/);
    assert.match(change.diff ?? '', /^-    maxconn 50$/m);
    assert.match(change.diff ?? '', /^\+    maxconn 100$/m);
    assert.equal(change.backup, undefined);
    assert.deepEqual(writes(calls), []);
  });

  test('in check mode, a missing file is reported as "would create" and not written', async () => {
    const { ssh, calls } = hostWith(undefined);
    const change = await ensureRemoteFile(ssh, haproxyCfg, true);
    assert.equal(change.summary, 'would create /etc/haproxy/haproxy.cfg');
    assert.deepEqual(writes(calls), []);
  });

  test('a changed file is written by one script fed the content on stdin: created, owner and mode first, then the content, validate, back up, mv', async () => {
    const { ssh, calls } = hostWith({ ...onHostNow, content: 'old\n', mode: 0o600 });
    const change = await ensureRemoteFile(ssh, haproxyCfg, false);
    const [write, ...more] = writes(calls);
    assert.deepEqual(more, [], 'exactly one write');
    assert.equal(write.options.stdin, haproxyCfg.content);
    assert.equal(write.options.sudo, true);

    const lines = write.command.split('\n');
    assert.equal(lines[0], 'set -e');
    const temp = lines.find((l) => l.startsWith('tmp='))?.slice('tmp='.length) ?? '';
    assert.match(temp, /^\/etc\/haproxy\/haproxy\.cfg\.haflow-new-[0-9a-f]{16}$/);
    const at = (pattern: string) => {
      const i = lines.findIndex((l) => l.includes(pattern));
      assert.ok(i >= 0, `no line with ${pattern} in:\n${write.command}`);
      return i;
    };
    const umask = at('umask 077');
    const cleanup = at(`trap 'rm -f "$tmp"' EXIT`);
    const noclobber = at('set -C');
    const create = at('exec 3> "$tmp"');
    const chown = at('chown root:root /proc/self/fd/3');
    const chmod = at('chmod 644 /proc/self/fd/3');
    const content = at('cat >&3');
    const validate = at('haproxy -c -q -f /proc/self/fd/3 ');
    const backup = at('cp -P --preserve=timestamps /etc/haproxy/haproxy.cfg "$backup"');
    const mv = lines.indexOf('mv -fT "$tmp" /etc/haproxy/haproxy.cfg');
    assert.ok(!write.command.includes('{}'), 'the {} placeholder is replaced');
    assert.ok(umask < create && cleanup < create && noclobber < create, 'the temp file is created root-only, never through what is at its name, and removed on any failure');
    assert.ok(create < chown && chown < content && chmod < content, 'owner and mode are set before the content lands');
    assert.ok(content < validate && validate < backup && backup < mv, 'validate, then back up, then move into place');
    assert.equal(mv, lines.length - 1, 'mv is the last step');
    assert.match(lines[validate], /exit 65/);

    assert.equal(change.changed, true);
    assert.match(change.backup ?? '', /^\/var\/backups\/haflow\/files\/etc\/haproxy\/haproxy\.cfg\.\d{8}T\d{6}Z-[0-9a-f]{16}$/);
    assert.ok(lines.includes(`backup=${change.backup}`), write.command);
    assert.equal(change.summary, `rewrite /etc/haproxy/haproxy.cfg (2 → 4 lines), chmod 644 (was 600); backup ${change.backup}`);
  });

  test('a new file is created without a backup step', async () => {
    const { ssh, calls } = hostWith(undefined);
    const change = await ensureRemoteFile(ssh, haproxyCfg, false);
    const [write] = writes(calls);
    assert.ok(!write.command.includes('cp '), write.command);
    assert.match(write.command, /\nmv -fT "\$tmp" \/etc\/haproxy\/haproxy\.cfg$/);
    assert.equal(change.backup, undefined);
    assert.equal(change.summary, 'create /etc/haproxy/haproxy.cfg');
  });

  test('a file without a validate command is written without a validation step', async () => {
    const { ssh, calls } = hostWith(undefined);
    await ensureRemoteFile(ssh, { ...haproxyCfg, validate: undefined }, false);
    assert.ok(!writes(calls)[0].command.includes('exit 65'));
  });

  test('only the owner differing still rewrites the file, with no diff', async () => {
    const { ssh, calls } = hostWith({ ...onHostNow, group: 'haproxy' });
    const change = await ensureRemoteFile(ssh, haproxyCfg, false);
    assert.equal(writes(calls).length, 1);
    assert.equal(change.diff, undefined);
    assert.match(change.summary, /^chown root:root \(was root:haproxy\)/);
  });

  test('a secret file\'s diff never holds the old or the new password, in check mode or not', async () => {
    const file: ManagedFile = { path: '/etc/patroni/config.yml', content: 'ttl: 30\npassword: brand-new-pw\n', owner: 'root', group: 'postgres', mode: 0o640, secret: 'passwords' };
    for (const check of [true, false]) {
      const { ssh } = hostWith({ content: 'ttl: 10\npassword: the-old-pw\n', owner: 'root', group: 'postgres', mode: 0o640 });
      const change = await ensureRemoteFile(ssh, file, check);
      assert.ok(change.diff, 'there is a diff');
      assert.ok(!change.diff.includes('brand-new-pw') && !change.diff.includes('the-old-pw'), change.diff);
    }
  });

  test('validation failure (exit 65) is a non-retryable InvalidConfig that says the old file is unchanged', async () => {
    const { ssh } = hostWith(onHostNow, { code: 65, stdout: '', stderr: "[ALERT] config : parsing [/etc/haproxy/haproxy.cfg.haflow-new-1234abcd:3] : unknown keyword 'bogus'\n" });
    await assert.rejects(ensureRemoteFile(ssh, { ...haproxyCfg, content: 'global\n    bogus\n' }, false), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.type, 'InvalidConfig');
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, /the old file is unchanged/);
      assert.match(err.message, /^node1: /);
      assert.ok(err.message.includes('`haproxy -c -q -f /etc/haproxy/haproxy.cfg`'), err.message);
      assert.match(err.message, /unknown keyword 'bogus'/);
      return true;
    });
  });

  test('any other write failure is a retryable CommandFailed, not InvalidConfig', async () => {
    const { ssh } = hostWith(onHostNow, { code: 1, stdout: '', stderr: 'mv: cannot move: No space left on device\n' });
    await assert.rejects(ensureRemoteFile(ssh, { ...haproxyCfg, content: 'x\n' }, false), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.type, 'CommandFailed');
      assert.equal(err.nonRetryable, false);
      assert.match(err.message, /exit 1.*No space left on device/);
      return true;
    });
  });
});

// ---------------------------------------------------------------- ensureRemoteFile, the script run by a real sh

const me = {
  owner: spawnSync('id', ['-un'], { encoding: 'utf8' }).stdout.trim(),
  group: spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim(),
};

/** A temporary directory (with a space in its name, to exercise quoting) removed after `body`. */
async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'haflow remote-files '));
  try {
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const leftovers = (dir: string) => readdirSync(dir).filter((f) => f.includes('.haflow-new-'));
/** Where the tests keep backups (haflow's own is /var/backups/haflow/files). */
const backupsIn = (dir: string) => join(dir, 'backups');
const backups = (dir: string) => (existsSync(backupsIn(dir)) ? readdirSync(backupsIn(dir), { recursive: true, withFileTypes: true }).filter((f) => f.isFile()).map((f) => f.name) : []);

describe('ensureRemoteFile run by sh on this machine', () => {
  const fileIn = (dir: string, content: string): ManagedFile => ({
    path: join(dir, 'conf.d', 'app.conf'),
    content,
    owner: me.owner,
    group: me.group,
    mode: 0o640,
    validate: "grep -q '^valid' {}",
  });

  test('creates the file with its mode, then finds it up to date and does not write again', async () => {
    await inTempDir(async (dir) => {
      const { ssh, calls } = fakeSsh(localShell);
      const file = fileIn(dir, 'valid → utf-8 ok\nline 2\n');
      const first = await ensureRemoteFile(ssh, file, false, { backupDir: backupsIn(dir) });
      assert.equal(first.summary, `create ${file.path}`);
      assert.equal(readFileSync(file.path, 'utf8'), file.content);
      assert.equal(statSync(file.path).mode & 0o777, 0o640);

      calls.length = 0;
      const second = await ensureRemoteFile(ssh, file, false, { backupDir: backupsIn(dir) });
      assert.equal(second.changed, false);
      assert.deepEqual(writes(calls), []);
      assert.deepEqual(leftovers(join(dir, 'conf.d')), []);
    });
  });

  test('replaces a changed file and keeps the old one as a backup with its mtime, readable by its owner only', async () => {
    await inTempDir(async (dir) => {
      const { ssh } = fakeSsh(localShell);
      const file = fileIn(dir, 'valid new\n');
      await ensureRemoteFile(ssh, { ...file, content: 'valid old\n' }, false, { backupDir: backupsIn(dir) });
      const old = statSync(file.path);

      const checked = await ensureRemoteFile(ssh, file, true, { backupDir: backupsIn(dir) });
      assert.match(checked.summary, /^would rewrite/);
      assert.equal(readFileSync(file.path, 'utf8'), 'valid old\n', 'check mode wrote nothing');

      const change = await ensureRemoteFile(ssh, file, false, { backupDir: backupsIn(dir) });
      assert.equal(readFileSync(file.path, 'utf8'), 'valid new\n');
      assert.ok(change.backup);
      assert.equal(readFileSync(change.backup, 'utf8'), 'valid old\n');
      const kept = statSync(change.backup);
      assert.equal(kept.mode & 0o777, 0o600, 'a backup may hold passwords: no group or other access, whatever the old mode');
      assert.equal(kept.mtimeMs, old.mtimeMs);
      assert.deepEqual(leftovers(join(dir, 'conf.d')), []);
    });
  });

  test('a new file the validate command rejects leaves the old file, no temp file and no backup', async () => {
    await inTempDir(async (dir) => {
      const { ssh } = fakeSsh(localShell);
      const file = fileIn(dir, 'valid old\n');
      await ensureRemoteFile(ssh, file, false, { backupDir: backupsIn(dir) });
      await assert.rejects(ensureRemoteFile(ssh, { ...file, content: 'broken\n' }, false, { backupDir: backupsIn(dir) }), (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure && err.type === 'InvalidConfig', String(err));
        return true;
      });
      assert.equal(readFileSync(file.path, 'utf8'), 'valid old\n');
      assert.deepEqual(leftovers(join(dir, 'conf.d')), []);
      assert.deepEqual(backups(dir), []);
    });
  });

  test('reads back an existing file that haflow did not write, and rewrites it when only its mode differs', async () => {
    await inTempDir(async (dir) => {
      const { ssh } = fakeSsh(localShell);
      const file = fileIn(dir, 'valid\n');
      spawnSync('mkdir', ['-p', join(dir, 'conf.d')]);
      writeFileSync(file.path, 'valid\n', { mode: 0o600 });
      const change = await ensureRemoteFile(ssh, file, false, { backupDir: backupsIn(dir) });
      assert.match(change.summary, /^chmod 640 \(was 600\); backup /);
      assert.equal(change.diff, undefined);
      assert.equal(statSync(file.path).mode & 0o777, 0o640);
    });
  });

  test('a file whose owner cannot be set is never written: no temp file, no content anywhere, the old file unchanged', async () => {
    await inTempDir(async (dir) => {
      const { ssh } = fakeSsh(localShell);
      const file = fileIn(dir, 'valid old\n');
      await ensureRemoteFile(ssh, file, false, { backupDir: backupsIn(dir) });
      await assert.rejects(ensureRemoteFile(ssh, { ...file, content: 'valid secret: hunter2\n', owner: 'no-such-user-haflow' }, false, { backupDir: backupsIn(dir) }), /writing .* failed/);
      assert.equal(readFileSync(file.path, 'utf8'), 'valid old\n');
      assert.deepEqual(leftovers(join(dir, 'conf.d')), []);
      assert.deepEqual(backups(dir), []);
    });
  });

  test('just before the content lands, the temp file is empty with its final owner and mode; stopped there, it is removed', async () => {
    await inTempDir(async (dir) => {
      const peek = join(dir, 'peek');
      // The write script, stopped where the content would be written: what is there to see?
      const { ssh } = fakeSsh((command, options, kind) =>
        localShell(command.replace('cat >&3', `stat -c '%a %s %U' "$tmp" > '${peek}'; exit 7`), options, kind),
      );
      const file = fileIn(dir, 'valid secret\n');
      await assert.rejects(ensureRemoteFile(ssh, file, false, { backupDir: backupsIn(dir) }), /exit 7/);
      assert.equal(readFileSync(peek, 'utf8').trim(), `640 0 ${me.owner}`);
      assert.deepEqual(leftovers(join(dir, 'conf.d')), [], 'removed on failure');
    });
  });
});

describe('redactSecrets on the application config formats', () => {
  test('an empty password does not redact the next line, and password_encryption is not a secret', () => {
    const text = 'spring.datasource.password=\nspring.datasource.url=jdbc:postgresql://db:5432/x\npassword_encryption: scram-sha-256\n';
    assert.equal(redactSecrets(text), text);
  });

  test('export lines, -D options on a command line and YAML list items are redacted', () => {
    const text = 'export DB_PASSWORD=hunter2\nJAVA_OPTS="-Dspring.datasource.password=hunter2 -Dx=1"\n  - password: hunter2\n';
    const redacted = redactSecrets(text);
    assert.doesNotMatch(redacted, /hunter2/);
    assert.match(redacted, /-Dx=1/, 'other options are kept');
  });
});

describe('archiveCommand run by sh on this machine', () => {
  test('the archive and its directory are readable by their owner only, even under a lax umask', async () => {
    await inTempDir(async (dir) => {
      const source = join(dir, 'old-ha');
      spawnSync('mkdir', ['-p', source]);
      writeFileSync(join(source, 'patroni.yml'), 'password: old\n', { mode: 0o644 });
      const archive = join(dir, 'backups', 'preexisting.tar.gz');
      const run = localShell(`umask 022; ${archiveCommand(archive, [source])}`, {}, 'check');
      assert.equal(run.code, 0, run.stderr);
      assert.equal(statSync(archive).mode & 0o777, 0o600);
      assert.equal(statSync(join(dir, 'backups')).mode & 0o777, 0o700);
    });
  });
});
