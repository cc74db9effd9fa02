// SSH to the machines: one connection per host, reused by an activity's commands and kept open
// between the steps of one host (HAFLOW_SSH_IDLE_SECONDS); host keys checked against
// known_hosts; connect and per-command timeouts; sudo; every argument shell-quoted; heartbeats
// while a command runs. A command runs on the host in a process group of its own under
// `timeout`: when the worker stops waiting for it (its time limit, a cancellation) it ends that
// group over a new channel, and should the connection be gone, `timeout` ends it on the host a
// few seconds after the worker's own limit. Without that, sshd leaves a command whose channel
// closed running, and a retry would run it again beside the first.
import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import type { Host, Topology } from '../../topology';
import { sshTarget } from '../../topology';
import { StepFailureTypes } from '../contract';
import { checkHostKey, parseKnownHosts, type HostKeyVerdict } from './known-hosts';
import { describeSecret, expandHome, resolveSecret } from './secrets';
import { shellQuote } from './shell';
import { currentActivity, withinAttempt } from './step-activity';

export interface SshTarget {
  /** Host name in the topology, for messages. */
  name: string;
  address: string;
  port: number;
  user: string;
  privateKey: string;
  knownHosts: string;
  passphrase?: Topology['ssh']['passphrase'];
  password?: Topology['ssh']['password'];
  sudo: boolean;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
}

export function targetFor(topology: Topology, host: Host): SshTarget {
  const { user, port } = sshTarget(topology, host);
  return {
    name: host.name,
    address: host.address,
    port,
    user,
    privateKey: topology.ssh.private_key,
    knownHosts: topology.ssh.known_hosts,
    passphrase: topology.ssh.passphrase,
    password: topology.ssh.password,
    sudo: topology.ssh.sudo,
    connectTimeoutMs: topology.ssh.connect_timeout * 1000,
    commandTimeoutMs: topology.ssh.command_timeout * 1000,
  };
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Run as root through `sudo -n` when the SSH user is not root. */
  sudo?: boolean;
  stdin?: string | Buffer;
  timeoutMs?: number;
  /**
   * A destructive command holds this lock on the host while it runs (flock on
   * /run/lock/haflow-<lock>.lock): another haflow command asking for the same lock (a retry
   * beside an attempt that still runs) waits for it, then fails as retryable, naming the lock.
   */
  lock?: string;
  /** How long to wait for the lock (default LOCK_WAIT_SECONDS). */
  lockWaitSeconds?: number;
}

/** What the host says first about a command: its process group, for ending it. */
const GROUP_MARK = '@@haflow-process-group:';
/** How long after the worker's own limit `timeout` ends a command on the host, and then kills it. */
const HOST_LIMIT_GRACE_SECONDS = 5;
const HOST_KILL_AFTER_SECONDS = 5;
/** How long a command waits for a lock another haflow command holds on the host. */
const LOCK_WAIT_SECONDS = 30;
/** flock's exit code when the lock stayed taken (unusual enough not to be the command's own). */
const LOCK_TAKEN_EXIT = 75;

/**
 * The shell line that runs `command` on the host: it prints its process group, then runs the
 * command under `timeout` (which makes that group its own and ends it after `limitSeconds`),
 * with the command's shell the one the line itself runs in ("$0": sh under sudo, the user's
 * login shell otherwise), under the host lock when there is one.
 */
export function hostCommandLine(command: string, limitSeconds: number, lock?: { name: string; waitSeconds: number }): string {
  const locked = lock ? `flock -w ${lock.waitSeconds} -E ${LOCK_TAKEN_EXIT} ${shellQuote(`/run/lock/haflow-${lock.name}.lock`)} ` : '';
  return `echo ${GROUP_MARK}$$ >&2; exec timeout -k ${HOST_KILL_AFTER_SECONDS}s ${limitSeconds}s ${locked}"$0" -c ${shellQuote(command)}`;
}

/** A valid lock name: it becomes part of a file name on the host. */
const LOCK_NAME = /^[a-z0-9][a-z0-9.-]{0,62}$/;

/** What sudo -n says when it will not run the command (and sh when there is no sudo at all). */
const SUDO_REFUSED = /^sudo: a (password|terminal) is required|is not in the sudoers file|^Sorry, user \S+ (is not allowed|may not run sudo)|^(sh|bash)?:?\s*(\d+:\s*)?sudo: (command )?not found/m;

export const SshFailureTypes = {
  unreachable: StepFailureTypes.hostUnreachable,
  hostKeyUnknown: StepFailureTypes.hostKeyUnknown,
  hostKeyChanged: StepFailureTypes.hostKeyChanged,
  authFailed: StepFailureTypes.authFailed,
  sudoRefused: StepFailureTypes.sudoRefused,
  timeout: StepFailureTypes.commandTimeout,
  commandFailed: StepFailureTypes.commandFailed,
} as const;

function hostKeyFailure(target: SshTarget, verdict: Exclude<HostKeyVerdict, { ok: true }>): ApplicationFailure {
  const where = `${target.name} (${target.address}:${target.port})`;
  if (verdict.reason === 'unknown') {
    return ApplicationFailure.create({
      type: SshFailureTypes.hostKeyUnknown,
      nonRetryable: true,
      message: `${where} presented host key ${verdict.presented}, which is not in ${target.knownHosts}`,
      details: [
        {
          remedy: `check the fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then add it: ssh-keyscan -p ${target.port} ${target.address} >> ${target.knownHosts}`,
        },
      ],
    });
  }
  return ApplicationFailure.create({
    type: SshFailureTypes.hostKeyChanged,
    nonRetryable: true,
    message: `${where} presented host key ${verdict.presented}, but ${target.knownHosts} expects ${verdict.expected.join(' or ') || 'a different key'}: the host was reinstalled, or something is impersonating it`,
    details: [
      {
        remedy: `if the host was reinstalled, remove its old key (ssh-keygen -R ${target.port === 22 ? target.address : `[${target.address}]:${target.port}`} -f ${target.knownHosts}) and add the new one after checking its fingerprint`,
      },
    ],
  });
}

function connectFailure(target: SshTarget, err: Error & { level?: string }, rejected: HostKeyVerdict | undefined): ApplicationFailure {
  if (rejected && !rejected.ok) return hostKeyFailure(target, rejected);
  const where = `${target.user}@${target.name} (${target.address}:${target.port})`;
  if (err.level === 'client-authentication') {
    const key = `add the public key of ${target.privateKey} to ~${target.user}/.ssh/authorized_keys on ${target.name}`;
    return ApplicationFailure.create({
      type: SshFailureTypes.authFailed,
      nonRetryable: true,
      message: `${where} refused authentication with key ${target.privateKey}${target.password ? ` and with the password from ${describeSecret(target.password)}` : ''}`,
      details: [{ remedy: target.password ? `${key}, or check the password in ${describeSecret(target.password)} (and that sshd allows PasswordAuthentication)` : key }],
    });
  }
  return ApplicationFailure.create({
    type: SshFailureTypes.unreachable,
    message: `cannot reach ${where}: ${err.message}`,
    details: [{ remedy: `check that ${target.name} is up, that sshd listens on port ${target.port}, and that no firewall blocks it` }],
  });
}

/** One SSH connection to one host. */
export class SshSession {
  private closed = false;
  /** Taken from the idle pool and not yet proven alive by a command: a dead one is replaced once. */
  private unproven = false;

  private constructor(
    readonly target: SshTarget,
    private client: Client,
  ) {
    this.watch(client);
  }

  /** Whether the connection can still carry commands (the host has not closed it). */
  get usable(): boolean {
    return !this.closed;
  }

  private watch(client: Client): void {
    const gone = () => {
      if (client === this.client) this.closed = true;
    };
    client.on('close', gone);
    client.on('end', gone);
  }

  static async connect(target: SshTarget): Promise<SshSession> {
    let knownHostsText: string;
    try {
      knownHostsText = readFileSync(expandHome(target.knownHosts), 'utf8');
    } catch {
      throw ApplicationFailure.create({
        type: SshFailureTypes.hostKeyUnknown,
        nonRetryable: true,
        message: `cannot read known_hosts file ${target.knownHosts} to check ${target.name}'s host key`,
        details: [{ remedy: `create ${target.knownHosts} with the hosts' keys (ssh-keyscan, after checking fingerprints)` }],
      });
    }
    const entries = parseKnownHosts(knownHostsText);
    let rejected: HostKeyVerdict | undefined;
    const config: ConnectConfig = {
      host: target.address,
      port: target.port,
      username: target.user,
      readyTimeout: withinAttempt(target.connectTimeoutMs),
      keepaliveInterval: 10_000,
      hostVerifier: (key: Buffer) => {
        const verdict = checkHostKey(entries, target.address, target.port, key);
        if (!verdict.ok) rejected = verdict;
        return verdict.ok;
      },
    };
    try {
      config.privateKey = readFileSync(expandHome(target.privateKey));
      if (target.passphrase) config.passphrase = resolveSecret(target.passphrase, `passphrase of ${target.privateKey}`);
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      if (!target.password) {
        throw ApplicationFailure.create({
          type: SshFailureTypes.authFailed,
          nonRetryable: true,
          message: `cannot read the SSH private key ${target.privateKey} on the worker`,
          details: [{ remedy: `put the key at ${target.privateKey} (readable by the worker), or set ssh.private_key in the topology` }],
        });
      }
    }
    if (target.password) config.password = resolveSecret(target.password, `SSH password for ${target.user}@${target.name}`);
    const client = new Client();
    // ssh2 may emit several errors for one failed connection (a handshake timeout, then
    // "Connection lost before handshake"). The listener stays for the client's whole life: an
    // error event with no listener would crash the worker and every activity on it.
    let settle: ((err?: Error & { level?: string }) => void) | undefined;
    client.on('error', (err: Error & { level?: string }) => settle?.(err));
    const activity = currentActivity();
    // A slow connect still shows the worker is alive, so the step fails with "unreachable", not a heartbeat timeout.
    const beat = setInterval(() => activity?.heartbeat(), 1000);
    try {
      await new Promise<void>((resolve, reject) => {
        settle = (err) => {
          settle = undefined;
          if (!err) return resolve();
          client.end();
          reject(connectFailure(target, err, rejected));
        };
        client.once('ready', () => settle?.());
        client.connect(config);
      });
    } finally {
      clearInterval(beat);
    }
    return new SshSession(target, client);
  }

  /** Runs a shell command line; resolves with its exit code (a non-zero code is not an error here). */
  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    if (options.lock !== undefined && !LOCK_NAME.test(options.lock)) throw new Error(`lock name ${JSON.stringify(options.lock)} is not of the form ${LOCK_NAME}`);
    const asRoot = options.sudo && this.target.sudo && this.target.user !== 'root';
    const timeoutMs = withinAttempt(options.timeoutMs ?? this.target.commandTimeoutMs);
    const lockWaitSeconds = options.lockWaitSeconds ?? LOCK_WAIT_SECONDS;
    const hostLine = hostCommandLine(command, Math.ceil(timeoutMs / 1000) + HOST_LIMIT_GRACE_SECONDS, options.lock ? { name: options.lock, waitSeconds: lockWaitSeconds } : undefined);
    const line = asRoot ? `sudo -n -- sh -c ${shellQuote(hostLine)}` : hostLine;
    const activity = currentActivity();
    let channel: ClientChannel;
    if (this.unproven) {
      this.unproven = false;
      // A connection kept from an earlier step may have died with its host (a crash, a reboot,
      // a partition) without a word: it gets a short time to open a channel, then a new
      // connection replaces it. The command had not been sent, so nothing runs twice.
      channel = await this.openChannel(line, Math.min(REUSED_CHANNEL_OPEN_MS, this.target.connectTimeoutMs)).catch(async () => {
        this.client.end();
        this.client = (await SshSession.connect(this.target)).client;
        this.closed = false;
        this.watch(this.client);
        return this.openChannel(line, this.target.connectTimeoutMs);
      });
    } else {
      channel = await this.openChannel(line, this.target.connectTimeoutMs);
    }
    return new Promise<ExecResult>((resolve, reject) => {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let settled = false;
      /** The command's process group on the host, once it said so. */
      let group: number | undefined;
      /**
       * The worker stops waiting: the command's process group ends too before the error is told
       * (best effort, bounded; `timeout` on the host is the backstop).
       */
      const abandon = (error: () => unknown) => {
        channel.close();
        const ended = group !== undefined ? this.endGroup(group, asRoot ?? false) : Promise.resolve();
        finish(() => void ended.then(() => reject(error())));
      };
      const onCancel = () => abandon(() => activity!.cancellationSignal.reason);
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(beat);
        activity?.cancellationSignal.removeEventListener('abort', onCancel);
        fn();
      };
      const timer = setTimeout(
        () =>
          abandon(() =>
            ApplicationFailure.create({
              type: SshFailureTypes.timeout,
              message: `${this.target.name}: command timed out after ${timeoutMs / 1000} s: ${command.slice(0, 200)}`,
            }),
          ),
        timeoutMs,
      );
      const beat = setInterval(() => activity?.heartbeat(), 1000);
      activity?.cancellationSignal.addEventListener('abort', onCancel, { once: true });
      channel.on('data', (chunk: Buffer) => stdout.push(chunk));
      channel.stderr.on('data', (chunk: Buffer) => {
        stderr.push(chunk);
        if (group === undefined) group = groupOf(Buffer.concat(stderr).toString('utf8'));
      });
      channel.on('close', (code: number | null, signal?: string) =>
        finish(() => {
          const errors = withoutGroupMark(Buffer.concat(stderr).toString('utf8'));
          if (code === null || code === undefined) {
            reject(this.unreachable(new Error(`the connection dropped while running a command${signal ? ` (signal ${signal})` : ''}`)));
          } else if (asRoot && code !== 0 && SUDO_REFUSED.test(errors)) {
            // The command never ran: retrying cannot help until the host's sudoers change.
            reject(
              ApplicationFailure.create({
                type: SshFailureTypes.sudoRefused,
                nonRetryable: true,
                message: `${this.target.user}@${this.target.name} (${this.target.address}) may not run commands as root with sudo -n: ${errors.trim().split('\n')[0].slice(0, 200)}`,
                details: [
                  {
                    remedy: `on ${this.target.name}, let ${this.target.user} run sudo without a password: echo '${this.target.user} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/haflow (visudo -cf to check); or connect as root (ssh.user: root)`,
                  },
                ],
              }),
            );
          } else if (options.lock && code === LOCK_TAKEN_EXIT) {
            reject(
              ApplicationFailure.create({
                type: SshFailureTypes.commandFailed,
                message: `${this.target.name}: another haflow command still holds the ${options.lock} lock (/run/lock/haflow-${options.lock}.lock) after ${lockWaitSeconds} s: an earlier attempt of this step still runs there; this attempt is retried once it has ended (its time limit ends it at the latest)`,
              }),
            );
          } else {
            resolve({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: errors });
          }
        }),
      );
      if (options.stdin !== undefined) channel.end(options.stdin);
      else channel.end();
    });
  }

  /** Like exec, but a non-zero exit code is an error naming the command and its output. */
  async check(command: string, options: ExecOptions = {}): Promise<string> {
    const result = await this.exec(command, options);
    if (result.code !== 0) {
      throw ApplicationFailure.create({
        type: SshFailureTypes.commandFailed,
        message: `${this.target.name}: \`${command.slice(0, 200)}\` exited with ${result.code}: ${(result.stderr || result.stdout).trim().slice(-500)}`,
      });
    }
    return result.stdout;
  }

  close(): void {
    this.closed = true;
    this.client.end();
  }

  /**
   * Ends a command's process group on the host (TERM, then KILL a few seconds later) over a new
   * channel of this connection. Best effort: an unreachable host is left to `timeout` there.
   */
  private async endGroup(group: number, asRoot: boolean): Promise<void> {
    // The kill program, not the shell's builtin: dash's cannot name a process group.
    const kill = (signal: string) => `env kill -s ${signal} -- -${group} 2>/dev/null`;
    const line0 = `${kill('TERM')}; for i in 1 2 3 4 5 6 7 8 9 10; do ${kill('0')} || exit 0; sleep 0.5; done; ${kill('KILL')}; exit 0`;
    const line = asRoot ? `sudo -n -- sh -c ${shellQuote(line0)}` : line0;
    try {
      const channel = await this.openChannel(line, Math.min(REUSED_CHANNEL_OPEN_MS, this.target.connectTimeoutMs));
      await new Promise<void>((resolve) => {
        const limit = setTimeout(() => {
          channel.close();
          resolve();
        }, 10_000);
        channel.on('close', () => {
          clearTimeout(limit);
          resolve();
        });
        // Read (and drop) what it prints, so that its channel runs to its end.
        channel.on('data', () => undefined);
        channel.stderr.on('data', () => undefined);
        channel.end();
      });
    } catch {
      // The host does not answer: `timeout` there ends the command.
    }
  }

  /** Takes the caller's time limits (a fence's short connect bound) for a connection kept from an earlier step. */
  adoptLimits(target: SshTarget): void {
    (this as { target: SshTarget }).target = { ...this.target, connectTimeoutMs: target.connectTimeoutMs, commandTimeoutMs: target.commandTimeoutMs };
  }

  /** Opens a channel running `line`, failing as unreachable when the host does not answer within `limitMs`. */
  private openChannel(line: string, limitMs: number): Promise<ClientChannel> {
    const activity = currentActivity();
    return new Promise<ClientChannel>((resolve, reject) => {
      let settled = false;
      const beat = setInterval(() => activity?.heartbeat(), 1000);
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        clearInterval(beat);
        reject(this.unreachable(new Error(`no answer to opening a session within ${limitMs / 1000} s`)));
      }, withinAttempt(limitMs));
      this.client.exec(line, (err, stream) => {
        clearTimeout(timer);
        clearInterval(beat);
        if (settled) {
          // Opened after the time limit: nothing will read it.
          if (!err) stream.close();
          return;
        }
        settled = true;
        if (err) reject(this.unreachable(err));
        else resolve(stream);
      });
    });
  }

  /** Marks a session taken from the idle pool (see exec). */
  markReused(): void {
    this.unproven = true;
  }

  private unreachable(err: Error): ApplicationFailure {
    return ApplicationFailure.create({
      type: SshFailureTypes.unreachable,
      message: `${this.target.name} (${this.target.address}): ${err.message}`,
    });
  }
}

/** The process group the host printed first, once its whole line is there. */
export function groupOf(stderr: string): number | undefined {
  const match = new RegExp(`^${GROUP_MARK}(\\d+)\\n`).exec(stderr);
  return match ? Number(match[1]) : undefined;
}

/** The command's own standard error, without the line the wrapper printed. */
export function withoutGroupMark(stderr: string): string {
  return stderr.startsWith(GROUP_MARK) ? stderr.slice(stderr.indexOf('\n') + 1) : stderr;
}

/** Opens a session, runs `body`, and always closes it. */
export async function withSsh<T>(target: SshTarget, body: (ssh: SshSession) => Promise<T>): Promise<T> {
  const session = await SshSession.connect(target);
  try {
    return await body(session);
  } finally {
    session.close();
  }
}

/** How long a reused connection gets to open a channel before a new connection replaces it. */
const REUSED_CHANNEL_OPEN_MS = 2000;

/**
 * How long a connection stays open after a step, for the next step on the same host: the
 * install's steps on one host then share one SSH handshake (bench/RESULTS.md, "ssh").
 * HAFLOW_SSH_IDLE_SECONDS, default 30; 0 closes every connection at the end of its step.
 */
export function sshIdleSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.HAFLOW_SSH_IDLE_SECONDS;
  if (raw === undefined || raw === '') return 30;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new Error(`HAFLOW_SSH_IDLE_SECONDS must be a number of seconds, 0 or more (0 turns connection reuse off), not "${raw}"`);
  }
  return seconds;
}

/** Idle connections by target, each with the timer that closes it. */
const idleSessions = new Map<string, { session: SshSession; closer: NodeJS.Timeout }[]>();

const poolKey = (t: SshTarget) => JSON.stringify([t.address, t.port, t.user, t.privateKey, t.knownHosts, t.sudo, t.password ?? null, t.passphrase ?? null]);

async function takeSession(target: SshTarget): Promise<SshSession> {
  const idle = idleSessions.get(poolKey(target));
  while (idle?.length) {
    const { session, closer } = idle.pop()!;
    clearTimeout(closer);
    if (session.usable) {
      session.markReused();
      // The caller's limits, not those of the step that opened it: a fence gives a machine that may be gone 3 s.
      session.adoptLimits(target);
      return session;
    }
  }
  return SshSession.connect(target);
}

function keepSession(session: SshSession): void {
  const seconds = sshIdleSeconds();
  if (seconds === 0 || !session.usable) return session.close();
  const key = poolKey(session.target);
  const idle = idleSessions.get(key) ?? [];
  idleSessions.set(key, idle);
  const entry = {
    session,
    closer: setTimeout(() => {
      idle.splice(idle.indexOf(entry), 1);
      session.close();
    }, seconds * 1000),
  };
  // An idle connection alone does not keep the process alive.
  entry.closer.unref();
  idle.push(entry);
}

/**
 * Like withSsh, but the connection comes from the idle pool when one to the same host is open,
 * and goes back to it when `body` succeeds (a failure closes it: it may be the connection's fault).
 */
export async function withHostSsh<T>(target: SshTarget, body: (ssh: SshSession) => Promise<T>): Promise<T> {
  const session = await takeSession(target);
  let succeeded = false;
  try {
    const result = await body(session);
    succeeded = true;
    return result;
  } finally {
    if (succeeded) keepSession(session);
    else session.close();
  }
}

/** Closes every idle connection (a worker stopping). */
export function closeIdleSshSessions(): void {
  for (const idle of idleSessions.values()) {
    for (const { session, closer } of idle.splice(0)) {
      clearTimeout(closer);
      session.close();
    }
  }
}
