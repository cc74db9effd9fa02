// The corpus of bad topologies (test/fixtures/bad-topologies): `haflow install` refuses each one
// with its first error at the file:line:column and field expected.json gives, exits 1, prints no
// stack trace and no screenful of echoed input, and never contacts Temporal: TEMPORAL_ADDRESS
// points at a listener that records every connection made to it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_TOPOLOGY_BYTES } from '../../topology';

const root = join(__dirname, '../..');
const corpus = join(root, 'test/fixtures/bad-topologies');
const expected = JSON.parse(readFileSync(join(corpus, 'expected.json'), 'utf8')) as Record<string, { at: string; field: string; says: string }>;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let temporalStandIn: Server;
let temporalAddress: string;
let connections = 0;
let scratch: string;

before(async () => {
  temporalStandIn = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => temporalStandIn.listen(0, '127.0.0.1', resolve));
  temporalAddress = `127.0.0.1:${(temporalStandIn.address() as AddressInfo).port}`;
  scratch = mkdtempSync(join(tmpdir(), 'haflow-bad-'));
});

after(() => {
  temporalStandIn.close();
  rmSync(scratch, { recursive: true, force: true });
});

function install(file: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'bin/haflow.js'), 'install', file], {
      cwd: corpus,
      env: { PATH: process.env.PATH, HOME: scratch, TEMPORAL_ADDRESS: temporalAddress, NO_COLOR: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs `haflow install` on every file, a few at a time (each is a Node process). */
async function installAll(files: string[], parallel = 3): Promise<Map<string, Run>> {
  const runs = new Map<string, Run>();
  const queue = [...files];
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let file = queue.shift(); file !== undefined; file = queue.shift()) runs.set(file, await install(file));
    }),
  );
  return runs;
}

function assertRefused(run: Run, file: string, first: RegExp): void {
  assert.equal(run.code, 1, `${file}: exit code (stderr: ${run.stderr.slice(0, 400)})`);
  const lines = run.stderr.split('\n').filter(Boolean);
  assert.match(lines[0] ?? '', first, `${file}: the first line says where and what`);
  assert.doesNotMatch(run.stderr, /^\s+at /m, `${file}: no stack trace`);
  assert.doesNotMatch(run.stdout, /started install/, `${file}: nothing started`);
  // At most 25 issues and a count: a huge value or a huge file is never echoed whole.
  assert.ok(run.stderr.length < 12_000, `${file}: ${run.stderr.length} characters of output`);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('the corpus of bad topologies', () => {
  const files = readdirSync(corpus).filter((f) => f.endsWith('.yaml')).sort();

  test('holds at least 50 files, each with its expectation, and no expectation without its file', () => {
    assert.ok(files.length >= 50, `${files.length} files`);
    assert.deepEqual(Object.keys(expected).sort(), files);
  });

  test('haflow install refuses each at the expected file:line:column and field, exit 1, and never contacts Temporal', async () => {
    const runs = await installAll(files);
    const wrong: string[] = [];
    for (const file of files) {
      const { at, field, says } = expected[file];
      try {
        assertRefused(runs.get(file)!, file, new RegExp(`^${escape(`${file}:${at}: ${field}: ${says}`)}`));
      } catch (err) {
        wrong.push((err as Error).message);
      }
    }
    assert.deepEqual(wrong, []);
    assert.equal(connections, 0, 'no connection reached the Temporal address');
  });
});

describe('paths that are not a topology file', () => {
  test('a directory, a missing path and a file over 1 MiB are refused naming the path, without contacting Temporal', async () => {
    const directory = join(scratch, 'cluster.yaml');
    mkdirSync(directory);
    const missing = join(scratch, 'no-such-file.yaml');
    const huge = join(scratch, 'huge.yaml');
    writeFileSync(huge, `# ${'padding '.repeat(MAX_TOPOLOGY_BYTES / 8)}\ncluster: pgha\n`);
    const runs = await installAll([directory, missing, huge]);
    assertRefused(runs.get(directory)!, directory, new RegExp(`^${escape(directory)}:1:1: \\(file\\): is a directory`));
    assertRefused(runs.get(missing)!, missing, new RegExp(`^${escape(missing)}:1:1: \\(file\\): does not exist`));
    assertRefused(runs.get(huge)!, huge, new RegExp(`^${escape(huge)}:1:1: \\(file\\): is \\d+ bytes; a topology is at most ${MAX_TOPOLOGY_BYTES} bytes`));
    assert.equal(connections, 0);
  });
});
