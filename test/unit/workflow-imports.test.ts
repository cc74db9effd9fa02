// Workflow code must stay deterministic: it sees activities only as types and never touches
// Node's builtins (files, network, clocks outside Temporal's control). Checked on every file
// the workflow bundle takes in: workflows/index.ts and everything it imports as values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = join(__dirname, '../..');
const importLine = /^\s*(?:import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm;

function resolveModule(from: string, source: string): string {
  const base = resolve(dirname(from), source);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) if (existsSync(candidate)) return candidate;
  throw new Error(`${relative(root, from)} imports ${source}, which does not resolve`);
}

/** Every file in the workflow bundle, with its value and type imports. */
function bundleFiles(entry: string): Map<string, { typeOnly: boolean; source: string }[]> {
  const files = new Map<string, { typeOnly: boolean; source: string }[]>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    const imports = [...readFileSync(file, 'utf8').matchAll(importLine)].map(([, typeOnly, source]) => ({ typeOnly: Boolean(typeOnly), source }));
    files.set(file, imports);
    for (const { typeOnly, source } of imports) if (!typeOnly && source.startsWith('.')) visit(resolveModule(file, source));
  };
  visit(entry);
  return files;
}

test('the workflow bundle imports activities as types only, no Node builtins and no package but Temporal\'s workflow API', () => {
  const files = bundleFiles(join(root, 'workflows/index.ts'));
  const problems: string[] = [];
  for (const [file, imports] of files) {
    const name = relative(root, file);
    for (const { typeOnly, source } of imports) {
      const bare = source.replace(/^node:/, '');
      if (source.startsWith('node:') || builtinModules.includes(bare)) problems.push(`${name}: imports Node builtin ${source}`);
      if (source.startsWith('.') && relative(root, resolveModule(file, source)).startsWith('activities/') && !typeOnly) {
        problems.push(`${name}: imports ${source} as values; use \`import type\``);
      }
      if (!source.startsWith('.') && !typeOnly && !source.startsWith('@temporalio/workflow') && !source.startsWith('@temporalio/common')) {
        problems.push(`${name}: imports ${source}; workflow code may only use @temporalio/workflow and project modules`);
      }
    }
  }
  assert.deepEqual(problems, []);
  // The check above sees what it should: the runner and the runbook model are in the bundle.
  assert.ok([...files.keys()].some((f) => f.endsWith('workflows/runner.ts')));
  assert.ok([...files.keys()].some((f) => f.endsWith('runbooks/runbook.ts')));
});
