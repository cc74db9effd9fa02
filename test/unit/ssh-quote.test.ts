// Shell quoting of remote commands, proven with a real local /bin/sh: whatever an argument
// holds, the remote shell must see it as exactly one word, byte for byte. No SSH involved:
// the remote side runs `sh -c <line>` (sshd does the same with the user's shell), which is
// what these tests run locally.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { shellCommand, shellQuote } from '../../activities/shared/shell';
import { requires } from '../support/requires';

const SH = '/bin/sh';
const noSh = requires(existsSync(SH) ? false : `${SH} is not installed`);

/** Words the shell passes to printf after expanding `line`, NUL-separated so any other byte survives. */
function wordsAfterShell(line: string): string[] {
  const result = spawnSync(SH, ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
  assert.equal(result.status, 0, `sh -c failed for ${JSON.stringify(line)}: ${result.stderr}`);
  assert.equal(result.stderr, '', `sh complained for ${JSON.stringify(line)}`);
  assert.ok(result.stdout.endsWith('\0'), `no output for ${JSON.stringify(line)}`);
  return result.stdout.slice(0, -1).split('\0');
}

const tricky: string[] = [
  '',
  ' ',
  'two words',
  '  leading and trailing  ',
  'tab\there',
  "it's",
  "'",
  "''",
  '"double"',
  `mixed "double" and 'single'`,
  '\\',
  'back\\slash\\',
  '$(echo substituted)',
  '`echo substituted`',
  '$HOME',
  '${HOME}',
  '$1 $@ $* $$ $? $!',
  'line one\nline two',
  '\n',
  'trailing newline\n',
  '*',
  '/etc/*',
  '?',
  '[a-z]*',
  '~',
  '~root',
  'a;b',
  'a && b || c',
  'a | b',
  '> /dev/null',
  '< /etc/passwd',
  '2>&1',
  '(subshell)',
  '{a,b}',
  '#not a comment',
  'a#b',
  '!',
  '-n',
  '-e',
  '--',
  'x=1',
  'PATH=/nowhere',
  'héllo wörld',
  '日本語',
  '🐘 postgres',
  'ünïcödé\'quote',
  "ALTER USER postgres PASSWORD 'p@ss $ecret`x`'",
  'host all all 0.0.0.0/0 scram-sha-256',
  '%s %d %%',
  '\u00a0nbsp',
  '\x01\x07\x1b[31mcontrol',
];

test('shellQuote returns \'\' for the empty string', () => {
  assert.equal(shellQuote(''), "''");
});

test('plain words (letters, digits and - _ . / : = @ % + ,) are left unquoted', () => {
  for (const word of ['postgres', '/etc/patroni/config.yml', '10.0.0.11:2379', '--data-dir=/var/lib/etcd', 'user@host', '50%', 'a+b,c', 'v1.2-3_4']) {
    assert.equal(shellQuote(word), word);
  }
});

test('anything else is single-quoted, an embedded single quote as \'\\\'\'', () => {
  assert.equal(shellQuote('two words'), "'two words'");
  assert.equal(shellQuote("it's"), "'it'\\''s'");
  assert.equal(shellQuote('$(id)'), "'$(id)'");
});

test('each tricky argument reaches sh -c as exactly one unchanged word', { skip: noSh }, () => {
  for (const arg of tricky) {
    assert.deepEqual(wordsAfterShell(shellQuote(arg)), [arg], `argument ${JSON.stringify(arg)} quoted as ${shellQuote(arg)}`);
  }
});

test('shellCommand keeps every argument separate and in order, empty ones included', { skip: noSh }, () => {
  const argv = ['first', ...tricky, 'last'];
  assert.deepEqual(wordsAfterShell(shellCommand(argv)), argv);
  assert.deepEqual(wordsAfterShell(shellCommand(['', '', ''])), ['', '', '']);
});

test('shellCommand runs the program named by its first argument with the rest as its arguments', { skip: noSh }, () => {
  const argv = ['printf', '%s|', 'a b', '$(id)', '', "'"];
  const result = spawnSync(SH, ['-c', shellCommand(argv)], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, "a b|$(id)||'|");
});

test('a quoted command survives a second shell, as `sudo -n -- sh -c <quoted>` runs it', { skip: noSh }, () => {
  const argv = ['printf', '%s\\0', ...tricky];
  // What SshSession.exec sends when sudo is on: the line is quoted once more for the inner sh.
  const result = spawnSync(SH, ['-c', `${SH} -c ${shellQuote(shellCommand(argv))}`], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(result.stdout.slice(0, -1).split('\0'), tricky);
});

test('command substitution, backticks and redirections inside arguments are not executed', { skip: noSh }, () => {
  const marker = `/tmp/haflow-quote-test-${process.pid}`;
  const argv = ['true', `$(touch ${marker})`, `\`touch ${marker}\``, `> ${marker}`, `; touch ${marker}`, `\n touch ${marker}`];
  try {
    const result = spawnSync(SH, ['-c', shellCommand(argv)], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(existsSync(marker), false, `${marker} was created: an argument was executed`);
  } finally {
    rmSync(marker, { force: true });
  }
});
