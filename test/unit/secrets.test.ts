// Secrets on the worker: resolving a reference (line ends, line breaks inside), redaction by
// value and by key (whole values, every line), and the step wrapper that keeps every resolved
// value out of an activity's result and errors. No SSH, no server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { fileDiff } from '../../activities/shared/remote-files';
import { redactSecrets, redactValues } from '../../activities/shared/redact';
import { resolveSecret } from '../../activities/shared/secrets';
import { stepActivity, withinAttempt } from '../../activities/shared/step-activity';
import { waitFor } from '../../activities/shared/step';

/** The activity's expected failures are the tests' business, not the log's. */
const quiet = { logger: new DefaultLogger('ERROR') };
let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'haflow-secrets-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function secretFile(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

describe('resolveSecret', () => {
  test('line ends at the end of a file are not part of the password, however many', () => {
    assert.equal(resolveSecret({ file: secretFile('a', 'hunter2\n') }, 'x'), 'hunter2');
    assert.equal(resolveSecret({ file: secretFile('b', 'hunter2\n\n\n') }, 'x'), 'hunter2');
    assert.equal(resolveSecret({ file: secretFile('c', 'hunter2\r\n') }, 'x'), 'hunter2');
  });

  test('a line break inside the value is refused, naming the reference and the line, never the value', () => {
    const path = secretFile('d', 'first-part\nsecond-part\n');
    assert.throws(
      () => resolveSecret({ file: path }, 'postgresql.rewind.password'),
      (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure);
        assert.equal(err.type, 'SecretMissing');
        assert.equal(err.nonRetryable, true);
        assert.equal(err.message, `postgresql.rewind.password: the value of file ${path} contains a line break (in its line 1); a password must be one line`);
        assert.doesNotMatch(JSON.stringify([err.message, err.details]), /first-part|second-part/);
        return true;
      },
    );
  });

  test('an empty file, or one with line ends only, is refused as empty', () => {
    assert.throws(() => resolveSecret({ file: secretFile('e', '\n\n') }, 'x'), /is empty/);
  });

  test('an environment variable with a line break is refused the same way', () => {
    process.env.HAFLOW_TEST_MULTILINE = 'abc\ndef';
    try {
      assert.throws(() => resolveSecret({ env: 'HAFLOW_TEST_MULTILINE' }, 'x'), /environment variable HAFLOW_TEST_MULTILINE contains a line break/);
    } finally {
      delete process.env.HAFLOW_TEST_MULTILINE;
    }
  });
});

describe('redactValues', () => {
  test('replaces a value wherever it appears, whole', () => {
    assert.equal(redactValues('pw=s3cret and again s3cret.', ['s3cret']), 'pw=<redacted> and again <redacted>.');
  });

  test('a multi-line value leaves no line behind, not even in its escaped form', () => {
    const value = 'line-one\nline-two\nline-three';
    const text = ['password: |', '  line-one', '  line-two', '  line-three', `json: ${JSON.stringify(value)}`, 'other: line-two'].join('\n');
    const redacted = redactValues(text, [value]);
    for (const line of value.split('\n')) assert.ok(!redacted.includes(line), `${line} survived:\n${redacted}`);
    assert.match(redacted, /^json: "<redacted>"$/m);
  });

  test('leaves text without the values alone; empty values redact nothing', () => {
    assert.equal(redactValues('nothing secret here', ['s3cret', '']), 'nothing secret here');
  });
});

describe('redactSecrets (by key, for values haflow does not know)', () => {
  test('a YAML block scalar under a password key is redacted line by line', () => {
    const text = ['authentication:', '  rewind:', '    username: rewind_user', '    password: |-', '      old-line-1', '      old-line-2', '  other: kept', ''].join('\n');
    assert.equal(
      redactSecrets(text),
      ['authentication:', '  rewind:', '    username: rewind_user', '    password: <redacted>', '      <redacted>', '      <redacted>', '  other: kept', ''].join('\n'),
    );
  });

  test('a double-quoted value continued on the next lines is redacted to its end', () => {
    const text = ['  password: "first', '    second"', 'next: 1'].join('\n');
    assert.equal(redactSecrets(text), ['  password: <redacted>', '    <redacted>', 'next: 1'].join('\n'));
  });

  test('the diff of a secret file shows neither the old nor the new multi-line value', () => {
    const before = 'password: |-\n  old-a\n  old-b\nscope: x\n';
    const after = 'password: |-\n  new-a\n  new-b\nscope: x\n';
    const diff = fileDiff('/etc/patroni/config.yml', before, after, { secret: 'passwords' });
    assert.doesNotMatch(diff, /old-a|old-b|new-a|new-b/);
    assert.match(diff, /^-password: <redacted>$/m);
    assert.match(diff, /^\+password: <redacted, changed>$/m, 'the diff still says that the password changed');
  });

  test('an unchanged password is not shown as changed', () => {
    const diff = fileDiff('/etc/patroni/config.yml', 'password: same\nscope: a\n', 'password: same\nscope: b\n', { secret: 'passwords' });
    assert.doesNotMatch(diff, /changed>/);
  });
});

describe('stepActivity', () => {
  test('every value the activity resolved is removed from its result, every line of it', async () => {
    process.env.HAFLOW_TEST_PW = 'pw-value-123';
    try {
      const activity = stepActivity(async () => {
        const value = resolveSecret({ env: 'HAFLOW_TEST_PW' }, 'x');
        return { changed: true, summary: `set ${value}`, details: [`--- a\n+++ b\n+password ${value}`] };
      });
      const result = (await new MockActivityEnvironment({}, quiet).run(activity, {})) as { summary: string };
      assert.doesNotMatch(JSON.stringify(result), /pw-value-123/);
      assert.equal(result.summary, 'set <redacted>');
    } finally {
      delete process.env.HAFLOW_TEST_PW;
    }
  });

  test('and from its errors, keeping their type and retryability', async () => {
    const path = secretFile('f', 'file-secret\n');
    const activity = stepActivity(async () => {
      const value = resolveSecret({ file: path }, 'x');
      throw ApplicationFailure.create({ type: 'CommandFailed', message: `psql: bad password ${value}`, details: [{ remedy: `try ${value}` }] });
    });
    await assert.rejects(new MockActivityEnvironment({}, quiet).run(activity, {}), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'CommandFailed');
      assert.equal(err.nonRetryable, false);
      assert.equal(err.message, 'psql: bad password <redacted>');
      assert.doesNotMatch(JSON.stringify(err.details), /file-secret/);
      return true;
    });
  });

  test('a plain error from a library is redacted too', async () => {
    const path = secretFile('g', 'lib-secret');
    const activity = stepActivity(async () => {
      throw new Error(`connect failed for ${resolveSecret({ file: path }, 'x')}`);
    });
    await assert.rejects(new MockActivityEnvironment({}, quiet).run(activity, {}), /^Error: connect failed for <redacted>$/);
  });
});

describe('time limits inside an attempt', () => {
  test('a wait ends before the activity\'s own time limit, with its own message', async () => {
    const activity = stepActivity(async () => {
      await waitFor('HAProxy to route to the leader', async () => ({ notYet: 'node1 DOWN' }), { timeoutMs: 600_000, intervalMs: 200 });
    });
    const started = Date.now();
    await assert.rejects(new MockActivityEnvironment({ startToCloseTimeoutMs: 7_000 }, quiet).run(activity, {}), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'Timeout');
      assert.match(err.message, /^timed out after 2 s waiting for HAProxy to route to the leader; last seen: node1 DOWN$/);
      return true;
    });
    const took = Date.now() - started;
    assert.ok(took < 5_000, `ended after ${took} ms, within the 7 s limit less its margin`);
  });

  test('outside an activity, or without a limit, the wanted time stands', () => {
    assert.equal(withinAttempt(123_000), 123_000);
  });
});
