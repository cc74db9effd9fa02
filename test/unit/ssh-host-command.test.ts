// The line a command runs in on a host (activities/shared/ssh.ts, hostCommandLine), run with this
// machine's sh as sshd would run it: it says its process group first, keeps the command's exit
// code, standard input and output, ends the whole group at its limit, and holds a lock when asked.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { groupOf, hostCommandLine, withoutGroupMark } from '../../activities/shared/ssh';

const run = (line: string, input?: string) => spawnSync('sh', ['-c', line], { input, encoding: 'utf8', timeout: 20_000 });
const alive = (pattern: string) => spawnSync('pgrep', ['-fx', pattern], { encoding: 'utf8' }).stdout.trim() !== '';

describe('the line a command runs in on a host', () => {
  test('says its process group first, and leaves the command its exit code, standard input and output', () => {
    const result = run(hostCommandLine('read -r line; echo "got $line"; echo oops >&2; exit 3', 10), 'hello\n');
    assert.equal(result.status, 3);
    assert.equal(result.stdout, 'got hello\n');
    const group = groupOf(result.stderr);
    assert.ok(group && group > 1, result.stderr);
    assert.equal(withoutGroupMark(result.stderr), 'oops\n');
  });

  test('ends the whole process group at its limit, children included', () => {
    const started = Date.now();
    const result = run(hostCommandLine('sleep 31.25 & sleep 32.5; echo never', 1));
    assert.ok(Date.now() - started < 5_000, 'ended by its limit');
    assert.equal(result.stdout, '');
    assert.equal(result.status, 124, 'timeout says so');
    assert.equal(alive('sleep 31.25'), false, 'the background child is gone too');
    assert.equal(alive('sleep 32.5'), false);
  });

  test('the group it names can be ended from another process, as the worker does when it stops waiting', async () => {
    const child = spawn('sh', ['-c', hostCommandLine('sleep 33.75 & sleep 34.5', 60)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    for (let i = 0; i < 50 && (!groupOf(stderr) || !alive('sleep 34.5')); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    const group = groupOf(stderr)!;
    assert.ok(alive('sleep 33.75') && alive('sleep 34.5'));
    assert.equal(spawnSync('sh', ['-c', `env kill -s TERM -- -${group}`]).status, 0);
    await new Promise((resolve) => child.once('exit', resolve));
    for (let i = 0; i < 20 && alive('sleep 33.75'); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(alive('sleep 33.75'), false);
    assert.equal(alive('sleep 34.5'), false);
  });

  test('a second command asking for a held lock waits for it, then exits with its own code', async () => {
    const name = `unit-${process.pid}`;
    try {
      const holder = spawn('sh', ['-c', hostCommandLine('sleep 2', 10, { name, waitSeconds: 1 })], { stdio: 'ignore' });
      await new Promise((resolve) => setTimeout(resolve, 400));
      const blocked = run(hostCommandLine('echo ran', 10, { name, waitSeconds: 1 }));
      assert.equal(blocked.status, 75);
      assert.equal(blocked.stdout, '');
      await new Promise((resolve) => holder.once('exit', resolve));
      const free = run(hostCommandLine('echo ran', 10, { name, waitSeconds: 1 }));
      assert.equal(free.status, 0);
      assert.equal(free.stdout, 'ran\n');
    } finally {
      rmSync(`/run/lock/haflow-${name}.lock`, { force: true });
    }
  });
});
