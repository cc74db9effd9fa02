// The README's script example is client/examples/install-and-wait.ts, which tsc checks and
// test/workflow/client.test.ts runs: the two must not drift apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '../..');

test('the README shows client/examples/install-and-wait.ts as it is', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const example = readFileSync(join(root, 'client/examples/install-and-wait.ts'), 'utf8');
  const after = readme.slice(readme.indexOf('client/examples/install-and-wait.ts'));
  const snippet = /```ts\n([^]*?)```/.exec(after)?.[1];
  assert.equal(snippet, example);
});
