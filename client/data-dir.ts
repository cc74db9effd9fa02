// Where haflow keeps what it writes on the operator's machine: the embedded server's state and
// the stored reports.
import { homedir } from 'node:os';
import { join } from 'node:path';

/** haflow's data directory: `$XDG_DATA_HOME/haflow`, else `~/.local/share/haflow`. */
export function haflowDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const dataHome = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  return join(dataHome, 'haflow');
}

/** The embedded server's state: `temporal.sqlite` in haflow's data directory. */
export function defaultServerDbFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(haflowDataDir(env), 'temporal.sqlite');
}
