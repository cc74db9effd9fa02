// SSH to the machines: one connection per host, reused by an activity's commands; host keys
// checked against known_hosts; connect and per-command timeouts; sudo; every argument
// shell-quoted; heartbeats while a command runs; cancellation closes the channel.
import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import type { Host, Topology } from '../../topology';
import { sshTarget } from '../../topology';
import { StepFailureTypes } from '../contract';
import { checkHostKey, parseKnownHosts, type HostKeyVerdict } from './known-hosts';
import { describeSecret, expandHome, resolveSecret } from './secrets';
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

/** POSIX shell quoting: the argument arrives as one word, whatever it contains. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_\-./:=@%+,]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function shellCommand(argv: string[]): string {
  return argv.map(shellQuote).join(' ');
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
}

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
  private constructor(
    readonly target: SshTarget,
    private readonly client: Client,
  ) {}

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
    const asRoot = options.sudo && this.target.sudo && this.target.user !== 'root';
    const line = asRoot ? `sudo -n -- sh -c ${shellQuote(command)}` : command;
    const timeoutMs = withinAttempt(options.timeoutMs ?? this.target.commandTimeoutMs);
    const activity = currentActivity();
    const channel = await new Promise<ClientChannel>((resolve, reject) =>
      this.client.exec(line, (err, stream) => (err ? reject(this.unreachable(err)) : resolve(stream))),
    );
    return new Promise<ExecResult>((resolve, reject) => {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let settled = false;
      const onCancel = () => {
        channel.close();
        finish(() => reject(activity!.cancellationSignal.reason));
      };
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(beat);
        activity?.cancellationSignal.removeEventListener('abort', onCancel);
        fn();
      };
      const timer = setTimeout(() => {
        channel.close();
        finish(() =>
          reject(
            ApplicationFailure.create({
              type: SshFailureTypes.timeout,
              message: `${this.target.name}: command timed out after ${timeoutMs / 1000} s: ${command.slice(0, 200)}`,
            }),
          ),
        );
      }, timeoutMs);
      const beat = setInterval(() => activity?.heartbeat(), 1000);
      activity?.cancellationSignal.addEventListener('abort', onCancel, { once: true });
      channel.on('data', (chunk: Buffer) => stdout.push(chunk));
      channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      channel.on('close', (code: number | null, signal?: string) =>
        finish(() => {
          const errors = Buffer.concat(stderr).toString('utf8');
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
          } else {
            resolve({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
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
    this.client.end();
  }

  private unreachable(err: Error): ApplicationFailure {
    return ApplicationFailure.create({
      type: SshFailureTypes.unreachable,
      message: `${this.target.name} (${this.target.address}): ${err.message}`,
    });
  }
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
