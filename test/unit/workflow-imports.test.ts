// Workflow code must stay deterministic: it sees activities only as types and never
// touches Node's builtins (files, network, clocks outside Temporal's control).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const workflowsDir = join(__dirname, '../../workflows');
const importLine = /^\s*import\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm;

test('workflow files import activities as types only and no Node builtins', () => {
  const problems: string[] = [];
  for (const file of readdirSync(workflowsDir).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(workflowsDir, file), 'utf8');
    for (const match of text.matchAll(importLine)) {
      const [, typeOnly, source] = match;
      const bare = source.replace(/^node:/, '');
      if (source.startsWith('node:') || builtinModules.includes(bare)) problems.push(`${file}: imports Node builtin ${source}`);
      if (/activities/.test(source) && !typeOnly) problems.push(`${file}: imports ${source} as values; use \`import type\``);
      if (!source.startsWith('.') && !source.startsWith('@temporalio/workflow') && !source.startsWith('@temporalio/common')) {
        problems.push(`${file}: imports ${source}; workflow code may only use @temporalio/workflow and project modules`);
      }
    }
  }
  assert.deepEqual(problems, []);
});
