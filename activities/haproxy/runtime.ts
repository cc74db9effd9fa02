// HAProxy's runtime API (its admin socket), driven over SSH on the HAProxy host: the socket is
// a local Unix socket (haproxy.cfg's `stats socket`), reachable by nobody else. A coordinated
// switchover uses it to tell HAProxy what Patroni already knows instead of waiting for checks.
// The command lines and the answers' parsing are pure; HaproxyRuntime runs them.
import { ApplicationFailure } from '@temporalio/common';
import { StepFailureTypes } from '../contract';
import type { SshSession } from '../shared/ssh';
import { shellQuote } from '../shared/shell';

/** haproxy.cfg's `stats socket` (Debian's path, kept by the renderer). */
export const HAPROXY_RUNTIME_SOCKET = '/run/haproxy/admin.sock';
/** Where HAProxy reads its servers' states when it starts (haproxy.cfg's server-state-file). */
export const HAPROXY_SERVER_STATE_FILE = '/var/lib/haproxy/server-state';
/** The listen section of the database (activities/haproxy/config.ts). */
export const POSTGRES_BACKEND = 'postgres';

/** Operational states of `show servers state` (srv_op_state). */
const OP_STATES: Record<string, ServerState['operational']> = { '0': 'down', '1': 'starting', '2': 'up', '3': 'stopping' };

export interface ServerState {
  backend: string;
  server: string;
  operational: 'down' | 'starting' | 'up' | 'stopping' | 'unknown';
  /** srv_admin_state: 0 when no maintenance or drain is set. */
  adminState: number;
  /** Whether HAProxy checks it: false after `disable health` (srv_check_state without CHK_ST_ENABLED). */
  checked: boolean;
}

/** srv_check_state's bit for a check that runs (CHK_ST_ENABLED). */
const CHECK_ENABLED = 0x04;

/** Whether a server name or backend name can go into a runtime command as it is (it is a topology identifier). */
function runtimeWord(word: string, what: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(word)) throw new Error(`${what} ${JSON.stringify(word)} cannot be named in an HAProxy runtime command`);
  return word;
}

/**
 * The shell command that sends `commands` to the runtime socket in one connection (HAProxy runs
 * `;`-separated commands in order) and prints the answers. socat's `-t` bounds the wait for them.
 */
export function runtimeCommandLine(commands: string[], socket = HAPROXY_RUNTIME_SOCKET): string {
  const line = commands.join('; ');
  return `printf '%s\\n' ${shellQuote(line)} | socat -t 2 stdio ${shellQuote(`UNIX-CONNECT:${socket}`)}`;
}

export const setHealthCommand = (backend: string, server: string, health: 'up' | 'down') =>
  `set server ${runtimeWord(backend, 'backend')}/${runtimeWord(server, 'server')} health ${health}`;
export const shutdownSessionsCommand = (backend: string, server: string) =>
  `shutdown sessions server ${runtimeWord(backend, 'backend')}/${runtimeWord(server, 'server')}`;
/** Maintenance: HAProxy sends the server nothing, whatever its health checks say; ready ends it. */
export const setAdminStateCommand = (backend: string, server: string, state: 'maint' | 'ready') =>
  `set server ${runtimeWord(backend, 'backend')}/${runtimeWord(server, 'server')} state ${state}`;
/** A server's health check off (HAProxy ignores its last result; the server counts as UP) or on again. */
export const disableHealthCommand = (backend: string, server: string) => `disable health ${runtimeWord(backend, 'backend')}/${runtimeWord(server, 'server')}`;
export const enableHealthCommand = (backend: string, server: string) => `enable health ${runtimeWord(backend, 'backend')}/${runtimeWord(server, 'server')}`;
/** srv_admin_state's bit for maintenance forced through the runtime API (SRV_ADMF_FMAINT). */
export const FORCED_MAINTENANCE = 0x01;
export const showServersStateCommand = (backend: string) => `show servers state ${runtimeWord(backend, 'backend')}`;

/** Parses `show servers state` (format version 1): one line per server, columns named by the header. */
export function parseServersState(text: string): ServerState[] {
  const lines = text.split('\n').map((l) => l.trim());
  const header = lines.find((l) => l.startsWith('# '))?.slice(2).split(/\s+/);
  if (!header) throw new Error(`not an answer to \`show servers state\`: ${text.trim().slice(0, 200) || '(empty)'}`);
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`\`show servers state\` has no ${name} column`);
    return i;
  };
  const [be, srv, op, admin, checkState] = [col('be_name'), col('srv_name'), col('srv_op_state'), col('srv_admin_state'), col('srv_check_state')];
  return lines
    .filter((l) => l !== '' && !l.startsWith('#') && /\s/.test(l))
    .map((l) => l.split(/\s+/))
    .map((f) => ({ backend: f[be], server: f[srv], operational: OP_STATES[f[op]] ?? 'unknown', adminState: Number(f[admin]), checked: (Number(f[checkState]) & CHECK_ENABLED) !== 0 }));
}

/**
 * What a `set`/`shutdown` command sequence answered that is not success: HAProxy answers these
 * with nothing (an empty line each) and with a sentence ("No such server.") on failure.
 */
export function runtimeErrors(answer: string): string[] {
  return answer
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** The runtime API of one HAProxy host, over an open SSH session. */
export class HaproxyRuntime {
  constructor(
    private readonly ssh: SshSession,
    private readonly socket = HAPROXY_RUNTIME_SOCKET,
  ) {}

  get host(): string {
    return this.ssh.target.name;
  }

  async serversState(backend: string): Promise<ServerState[]> {
    return parseServersState(await this.run([showServersStateCommand(backend)]));
  }

  /** Runs `set`/`shutdown` commands; any answer but silence is an error naming the host. */
  async apply(commands: string[]): Promise<void> {
    const errors = runtimeErrors(await this.run(commands));
    if (errors.length > 0) {
      throw ApplicationFailure.create({
        type: StepFailureTypes.commandFailed,
        message: `HAProxy on ${this.host} refused \`${commands.join('; ')}\`: ${errors.join(' ')}`,
      });
    }
  }

  /**
   * The servers' states written where the process a reload starts reads them: without them it
   * takes every server for UP until its checks say otherwise, and sends new connections to
   * replicas for a few seconds. Best effort: says why when it could not (the reload goes on).
   */
  async saveServersState(): Promise<string | undefined> {
    const file = shellQuote(HAPROXY_SERVER_STATE_FILE);
    const result = await this.ssh.exec(`${runtimeCommandLine(['show servers state'], this.socket)} > ${file}.new && mv ${file}.new ${file}`, { sudo: true, timeoutMs: 10_000 });
    return result.code === 0 ? undefined : `the servers' states were not saved before the reload (${(result.stderr || result.stdout).trim().slice(-200) || `exit ${result.code}`})`;
  }

  private async run(commands: string[]): Promise<string> {
    const result = await this.ssh.exec(runtimeCommandLine(commands, this.socket), { sudo: true, timeoutMs: 10_000 });
    if (result.code !== 0) {
      throw ApplicationFailure.create({
        type: StepFailureTypes.commandFailed,
        message: `HAProxy's runtime socket ${this.socket} on ${this.host} did not answer: ${(result.stderr || result.stdout).trim().slice(-300) || `exit ${result.code}`}`,
        details: [{ remedy: `check that haproxy runs on ${this.host}, that haproxy.cfg has \`stats socket ${this.socket} … level admin\`, and that socat is installed` }],
      });
    }
    return result.stdout;
  }
}
