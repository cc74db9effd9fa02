// The folders are layers, and imports go one way, down them: a folder imports only the folders
// below it that it is allowed to (type-only imports where a layer needs a shape and not the
// code), never one above. Workflow code stays deterministic: it sees activities only as types
// and never touches Node's builtins. And planning code (the runbooks, the client library) loads
// neither the SSH client nor the PostgreSQL client to use a pure helper.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = join(__dirname, '../..');
const importLine = /^\s*(?:import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm;

/**
 * Per folder, the folders it may import as values, and those it may import only as types. A
 * folder not named here may not be imported by anyone (or is the top: test/, bench/).
 * From the bottom: the topology and the Temporal connection settings know nothing else; the
 * activities do the work; the runbooks plan it; the workflows run the plans; the worker hosts
 * workflows and activities; the client library talks to Temporal; the CLI talks to the library.
 */
const LAYERS: Record<string, { values: string[]; types?: string[] }> = {
  topology: { values: [] },
  connection: { values: [] },
  activities: { values: ['topology', 'connection'] },
  runbooks: { values: ['topology'], types: ['activities'] },
  workflows: { values: ['runbooks', 'topology', 'connection'], types: ['activities'] },
  worker: { values: ['activities', 'connection', 'topology'], types: ['workflows'] },
  client: { values: ['workflows', 'runbooks', 'topology', 'connection', 'activities'] },
  lab: { values: ['topology'] },
  cli: { values: ['client', 'workflows', 'runbooks', 'topology', 'connection', 'activities', 'worker', 'lab'] },
  bench: { values: ['cli', 'client', 'worker', 'workflows', 'runbooks', 'activities', 'topology', 'connection', 'lab'] },
  test: { values: ['cli', 'client', 'worker', 'workflows', 'runbooks', 'activities', 'topology', 'connection', 'lab'] },
};

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name.startsWith('.')) return [];
    if (statSync(join(root, path)).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

function resolveModule(from: string, source: string): string {
  const base = resolve(dirname(from), source);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts'), base]) if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  throw new Error(`${relative(root, from)} imports ${source}, which does not resolve`);
}

function importsOf(file: string): { typeOnly: boolean; source: string }[] {
  return [...readFileSync(file, 'utf8').matchAll(importLine)].map(([, typeOnly, source]) => ({ typeOnly: Boolean(typeOnly), source }));
}

const folderOf = (path: string) => relative(root, path).split('/')[0];

test('every folder imports only the layers below it, and types only where a layer needs shapes', () => {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const folder of Object.keys(LAYERS)) {
    for (const file of sourceFiles(folder)) {
      for (const { typeOnly, source } of importsOf(join(root, file))) {
        if (!source.startsWith('.')) continue;
        const target = folderOf(resolveModule(join(root, file), source));
        if (target === folder) continue;
        seen.add(`${folder}→${target}`);
        const rule = LAYERS[folder];
        if (rule.values.includes(target)) continue;
        if (typeOnly && rule.types?.includes(target)) continue;
        const allowed = rule.types?.includes(target) ? ' as values; use `import type`' : `; ${folder}/ may import ${[...rule.values, ...(rule.types ?? []).map((t) => `${t} (types)`)].join(', ') || 'nothing of the project'}`;
        problems.push(`${file}: imports ${target}/ (${source})${allowed}`);
      }
    }
  }
  assert.deepEqual(problems, []);
  // The check sees what it should: the arrows that must exist do.
  for (const arrow of ['activities→topology', 'runbooks→activities', 'workflows→runbooks', 'client→workflows', 'cli→client', 'test→bench'.replace('bench', 'cli')]) {
    assert.ok(seen.has(arrow), `expected an import ${arrow}`);
  }
});

test('tests do not import benchmarks, and product code does not import the lab', () => {
  const problems: string[] = [];
  for (const folder of ['test', 'activities', 'runbooks', 'workflows', 'worker', 'client', 'connection', 'topology']) {
    for (const file of sourceFiles(folder)) {
      for (const { source } of importsOf(join(root, file))) {
        if (!source.startsWith('.')) continue;
        const target = folderOf(resolveModule(join(root, file), source));
        if (target === 'bench' || (target === 'lab' && folder !== 'test')) problems.push(`${file}: imports ${target}/ (${source})`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

/** Every file in the workflow bundle, with its value and type imports. */
function bundleFiles(entry: string): Map<string, { typeOnly: boolean; source: string }[]> {
  const files = new Map<string, { typeOnly: boolean; source: string }[]>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    const imports = importsOf(file);
    files.set(file, imports);
    for (const { typeOnly, source } of imports) if (!typeOnly && source.startsWith('.')) visit(resolveModule(file, source));
  };
  visit(entry);
  return files;
}

test("the workflow bundle imports activities as types only, no Node builtins and no package but Temporal's workflow API", () => {
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

test('planning code (every runbook, the client library) loads neither the SSH client nor the PostgreSQL client', () => {
  const modules = [...sourceFiles('runbooks'), ...sourceFiles('client').filter((f) => !f.includes('/examples/'))];
  // Each module loaded in turn in one fresh process; the first one that brings in ssh2 or pg is named.
  const script = `
    const heavy = () => Object.keys(require.cache).filter((k) => /node_modules\\/(ssh2|pg)\\//.test(k));
    for (const file of ${JSON.stringify(modules)}) {
      require(require('node:path').join(${JSON.stringify(root)}, file));
      const loaded = heavy();
      if (loaded.length > 0) { console.log(file + ' loads ' + loaded[0].replace(/.*node_modules\\//, '')); process.exit(0); }
    }
    console.log('none');`;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), 'none');
  assert.ok(modules.length > 20, 'the runbooks and the client library were loaded');
});
