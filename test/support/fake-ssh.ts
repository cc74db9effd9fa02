// A stand-in for SshSession in unit tests of the look-then-act helpers: only `target`, `exec`
// and `check` (what the helpers use). Every command is recorded; a responder decides what the
// "host" answers. `localShell` answers by running the command with this machine's sh, for
// tests that check what a generated script really does (in a temporary directory).
import { spawnSync } from 'node:child_process';
import type { ExecOptions, ExecResult, SshSession, SshTarget } from '../../activities/shared/ssh';

export interface FakeCall {
  /** `check` (a non-zero exit throws) or `exec` (the exit code is returned). */
  kind: 'exec' | 'check';
  command: string;
  options: ExecOptions;
}

export type Responder = (command: string, options: ExecOptions, kind: FakeCall['kind']) => ExecResult;

export function ok(stdout = ''): ExecResult {
  return { code: 0, stdout, stderr: '' };
}

export function fakeSsh(respond: Responder, name = 'node1'): { ssh: SshSession; calls: FakeCall[] } {
  const calls: FakeCall[] = [];
  const target: SshTarget = {
    name,
    address: '127.0.0.1',
    port: 22,
    user: 'root',
    privateKey: '/nonexistent',
    knownHosts: '/nonexistent',
    sudo: true,
    connectTimeoutMs: 1000,
    commandTimeoutMs: 1000,
  };
  const run = (kind: FakeCall['kind'], command: string, options: ExecOptions = {}): ExecResult => {
    calls.push({ kind, command, options });
    return respond(command, options, kind);
  };
  const session = {
    target,
    async exec(command: string, options?: ExecOptions): Promise<ExecResult> {
      return run('exec', command, options);
    },
    async check(command: string, options?: ExecOptions): Promise<string> {
      const result = run('check', command, options);
      if (result.code !== 0) throw new Error(`${name}: \`${command.slice(0, 200)}\` exited with ${result.code}: ${result.stderr}`);
      return result.stdout;
    },
  };
  return { ssh: session as unknown as SshSession, calls };
}

/** Runs each command with the local sh (stdin passed through); `sudo` is ignored. */
export const localShell: Responder = (command, options) => {
  const result = spawnSync('sh', ['-c', command], { input: options.stdin, encoding: 'utf8', timeout: 10_000 });
  if (result.error) throw result.error;
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
};
