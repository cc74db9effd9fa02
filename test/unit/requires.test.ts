// A check that needs a missing tool is skipped loudly on a developer's machine, and fails in CI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function runTestFile(env: NodeJS.ProcessEnv): { status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'haflow-requires-'));
  try {
    const file = join(dir, 'needs-a-tool.test.ts');
    writeFileSync(
      file,
      `import { test } from 'node:test';\nimport { requires } from ${JSON.stringify(join(__dirname, '../support/requires'))};\n` +
        `test('uses the tool', { skip: requires('the frobnicator is not installed') }, () => {});\n`,
    );
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', file], { encoding: 'utf8', env: { ...process.env, NODE_TEST_CONTEXT: undefined, HAFLOW_REQUIRE_TOOLS: '', ...env } });
    return { status: run.status, out: `${run.stdout}${run.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('without HAFLOW_REQUIRE_TOOLS a missing tool skips the test and says so on stderr', () => {
  const run = runTestFile({});
  assert.equal(run.status, 0, run.out);
  assert.match(run.out, /\*\*\* SKIPPED: the frobnicator is not installed/);
  assert.match(run.out, /# skipped 1/);
});

test('with HAFLOW_REQUIRE_TOOLS (as in CI) a missing tool is a failure', () => {
  const run = runTestFile({ HAFLOW_REQUIRE_TOOLS: '1' });
  assert.notEqual(run.status, 0, run.out);
  assert.match(run.out, /not ok .* required here \(HAFLOW_REQUIRE_TOOLS\): the frobnicator is not installed/);
});
