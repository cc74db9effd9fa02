// What `haflow render` prints, parsed, and the same files read back from lab machines: the
// proof that render shows byte for byte what the install writes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from '../../lab';
import { sshRun } from './lab';

export interface RenderedFile {
  host: string;
  path: string;
  owner: string;
  group: string;
  mode: string;
  content: string;
}

/** Runs `haflow render <file>` and parses its `==> host (address): path  owner:group mode` sections. */
export function haflowRender(topologyFile: string): RenderedFile[] {
  const run = spawnSync(process.execPath, [join(__dirname, '../../bin/haflow.js'), 'render', topologyFile], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const header = /^==> (\S+) \([^)]*\): (\S+)  ([^:\s]+):(\S+) ([0-7]+)\n/gm;
  const heads = [...run.stdout.matchAll(header)];
  assert.ok(heads.length > 0, `no file in:\n${run.stdout}`);
  return heads.map((m, i) => {
    const start = m.index! + m[0].length;
    const end = i + 1 < heads.length ? heads[i + 1].index! : run.stdout.length;
    // Each file is followed by one empty line.
    return { host: m[1], path: m[2], owner: m[3], group: m[4], mode: m[5], content: run.stdout.slice(start, end - 1) };
  });
}

/** Every rendered file, with its `<env NAME>` and `<file PATH>` placeholders replaced by the values, is on its host as is. */
export async function assertHostsHoldRendered(
  lab: Lab,
  files: RenderedFile[],
  env: NodeJS.ProcessEnv = process.env,
  secretFiles: Record<string, string> = {},
): Promise<void> {
  for (const file of files) {
    const expected = file.content
      .replace(/<env ([A-Za-z_][A-Za-z0-9_]*)>/g, (_, name: string) => env[name] ?? `<unset ${name}>`)
      // A file not given is read here, as the worker reads it (its final line ends dropped).
      .replace(/<file ([^>]+)>/g, (_, path: string) => secretFiles[path] ?? (existsSync(path) ? readFileSync(path, 'utf8').replace(/[\r\n]+$/, '') : `<unknown ${path}>`));
    const read = await sshRun(lab, file.host, `stat -c '%U:%G %a' ${file.path} && base64 -w0 ${file.path}`, { sudo: true });
    assert.equal(read.code, 0, `${file.host}:${file.path}: ${read.stderr}`);
    const [meta, body] = read.stdout.split('\n');
    assert.equal(meta, `${file.owner}:${file.group} ${file.mode}`, `${file.host}:${file.path}: owner and mode`);
    assert.equal(Buffer.from(body, 'base64').toString('utf8'), expected, `${file.host}:${file.path}: content`);
  }
}
