// The standalone install on the lab through haflow, against a plain shell script that runs the
// same remote commands in the same order over SSH with no orchestration (bench/install-script.sh).
// Each round installs a bare lab with haflow while recording every remote command its activities
// run (through SshSession.exec, in this process's worker); the recording becomes the script's
// input: the steps one after another in the order they started, each step's commands in order,
// and a command a step repeated until it saw what it waited for (Patroni's leader, a replica
// streaming) repeated by the script the same way, at the interval the step used. The script then
// installs another bare lab. The order alternates between rounds so the machine's noise falls
// on both alike. haflow's own overhead per step comes from the workflow history: the time from
// one activity's completion to the next one's start (bench/history.ts).
// Both install in plain text (security.insecure): with TLS each host makes its own key and the
// worker's CA signs it, an exchange a replayed script cannot repeat.
// Measures; asserts nothing. Needs root, the lab's packages and the Temporal CLI; leaves nothing running.
// Run: npm run bench -- install-vs-script [rounds] [mux|new] [debian12|debian13]
//   mux: the script keeps one SSH connection per host (OpenSSH ControlMaster), as a careful admin would;
//   new: a new SSH connection per command, as a plain `ssh host cmd` loop does;
//   debian12 (PostgreSQL 15, Patroni 3.0) or debian13 (PostgreSQL 17, Patroni 4): the lab's machines.
import { Context } from '@temporalio/activity';
import { execFile } from 'node:child_process';
import http = require('node:http');
import { Client as PgClient } from 'pg';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SshSession, type ExecOptions } from '../activities/shared/ssh';
import { shellQuote } from '../activities/shared/shell';
import { startInstall } from '../client/api';
import { Lab } from '../lab';
import { plainTextOf } from '../topology/tls';
import { withBenchEnvironment } from './environment';
import { runTimes, type RunTimes } from '../client/run-times';
import { median, table, type Bench } from './record';

/** The standalone lab topology of each platform the lab runs. */
const STANDALONE = {
  debian12: join(__dirname, '../lab/topologies/standalone.yaml'),
  debian13: join(__dirname, '../lab/topologies/standalone-debian13.yaml'),
} as const;
const PLATFORM_NAMES = { debian12: 'Debian 12, PostgreSQL 15, Patroni 3.0', debian13: 'Debian 13, PostgreSQL 17, Patroni 4' } as const;

/** One thing the install did on or against a machine: a command over SSH, an HTTP request, or an SQL statement. */
interface RemoteCommand {
  via: 'ssh' | 'http' | 'sql';
  /** The activity (step) that ran it: its type, id and attempt within the run. */
  step: string;
  host: string;
  address: string;
  port: number;
  /** SSH: the login user; SQL: the database user. */
  user: string;
  /** SSH: the line sent, sudo wrapper included; HTTP: the URL; SQL: the statement, parameters inlined. */
  line: string;
  stdin?: Buffer;
  /** SQL: the database and the password; HTTP: the Authorization header, if any (both kept only in the bench's temporary directory). */
  database?: string;
  password?: string;
  /** SSH: the exit code; HTTP: the status; SQL: 0 or 1 (failed). */
  code?: number;
  stdout?: string;
  startedMs: number;
  endedMs?: number;
}

function currentStep(): string {
  try {
    const info = Context.current().info;
    return `${info.activityType}#${info.activityId}@${info.attempt}`;
  } catch {
    return 'outside any step';
  }
}

const sqlLiteral = (value: unknown) => (value === null || value === undefined ? 'NULL' : typeof value === 'number' ? String(value) : `'${String(value).replace(/'/g, "''")}'`);

/**
 * Records, until `stop`, everything the worker in this process does against the machines: every
 * SSH command (SshSession.exec), every HTTP request (node:http's request, which httpGet uses: the
 * Patroni and etcd health checks) and every SQL statement (pg's Client.query: the write through HAProxy).
 */
function recordRemoteCommands(): { commands: RemoteCommand[]; stop: () => void } {
  const commands: RemoteCommand[] = [];
  const originalExec = SshSession.prototype.exec;
  SshSession.prototype.exec = async function (this: SshSession, command: string, options: ExecOptions = {}) {
    const t = this.target;
    const asRoot = options.sudo && t.sudo && t.user !== 'root';
    const entry: RemoteCommand = {
      via: 'ssh',
      step: currentStep(),
      host: t.name,
      address: t.address,
      port: t.port,
      user: t.user,
      line: asRoot ? `sudo -n -- sh -c ${shellQuote(command)}` : command,
      stdin: options.stdin === undefined ? undefined : Buffer.from(options.stdin),
      startedMs: Date.now(),
    };
    commands.push(entry);
    const result = await originalExec.call(this, command, options);
    entry.code = result.code;
    entry.stdout = result.stdout;
    entry.endedMs = Date.now();
    return result;
  };
  const originalRequest = http.request;
  (http as { request: unknown }).request = function (this: unknown, ...args: Parameters<typeof http.request>) {
    const url = typeof args[0] === 'string' || args[0] instanceof URL ? new URL(String(args[0])) : undefined;
    const request = (originalRequest as (...a: unknown[]) => http.ClientRequest).apply(this, args);
    if (url) {
      // HAProxy's stats page and Patroni's unsafe methods ask for a login: the script sends the same header.
      const headers = (typeof args[1] === 'object' && args[1] !== null && !(args[1] instanceof Function) ? (args[1] as http.RequestOptions).headers : undefined) as Record<string, string> | undefined;
      const authorization = headers?.authorization ?? headers?.Authorization;
      const entry: RemoteCommand = { via: 'http', step: currentStep(), host: url.hostname, address: url.hostname, port: Number(url.port || 80), user: '', line: url.href, startedMs: Date.now(), code: 0, ...(authorization ? { password: authorization } : {}) };
      commands.push(entry);
      request.on('response', (response) => {
        entry.code = response.statusCode ?? 0;
        response.on('end', () => (entry.endedMs = Date.now()));
      });
    }
    return request;
  };
  const originalQuery = PgClient.prototype.query;
  PgClient.prototype.query = function (this: PgClient & { password?: string }, ...args: unknown[]) {
    const [text, values] = typeof args[0] === 'string' ? [args[0], args[1]] : [(args[0] as { text: string }).text, (args[0] as { values?: unknown[] }).values];
    const sql = Array.isArray(values) ? text.replace(/\$(\d+)/g, (_, i: string) => sqlLiteral(values[Number(i) - 1])) : text;
    const entry: RemoteCommand = { via: 'sql', step: currentStep(), host: this.host, address: this.host, port: this.port, user: this.user ?? '', database: this.database, password: this.password, line: sql, startedMs: Date.now() };
    commands.push(entry);
    const result = (originalQuery as (...a: unknown[]) => Promise<unknown>).apply(this, args);
    result.then(
      () => Object.assign(entry, { code: 0, endedMs: Date.now() }),
      () => Object.assign(entry, { code: 1, endedMs: Date.now() }),
    );
    return result;
  } as typeof PgClient.prototype.query;
  return {
    commands,
    stop: () => {
      SshSession.prototype.exec = originalExec;
      (http as { request: unknown }).request = originalRequest;
      PgClient.prototype.query = originalQuery;
    },
  };
}

interface ScriptLine {
  kind: 'run' | 'poll';
  command: RemoteCommand;
  /** For a poll: the interval between its attempts in the install, and the output it waited for when the output changed. */
  intervalS?: number;
  expectOutput?: string;
}

/**
 * The script's lines: steps in the order they started, each step's commands in order, and runs
 * of the same command in one step (a wait) folded into one poll that repeats until it gives the
 * exit code (and, if the output changed between attempts, the output) the install saw last.
 */
export function scriptLines(commands: RemoteCommand[]): ScriptLine[] {
  const steps = new Map<string, RemoteCommand[]>();
  for (const c of [...commands].sort((a, b) => a.startedMs - b.startedMs)) {
    if (!steps.has(c.step)) steps.set(c.step, []);
    steps.get(c.step)!.push(c);
  }
  const lines: ScriptLine[] = [];
  for (const stepCommands of steps.values()) {
    for (let i = 0; i < stepCommands.length; ) {
      const first = stepCommands[i];
      let j = i + 1;
      const same = (c: RemoteCommand) => c.via === first.via && c.host === first.host && c.line === first.line && Buffer.compare(c.stdin ?? Buffer.alloc(0), first.stdin ?? Buffer.alloc(0)) === 0;
      while (j < stepCommands.length && same(stepCommands[j])) j++;
      const attempts = stepCommands.slice(i, j);
      if (attempts.length === 1) lines.push({ kind: 'run', command: first });
      else {
        const last = attempts[attempts.length - 1];
        const gaps = attempts.slice(1).map((c, k) => c.startedMs - attempts[k].startedMs);
        // HTTP answers carry timestamps and positions: only their status decides, as it does for the step.
        const outputChanged = last.via === 'ssh' && attempts.some((c) => c.stdout !== last.stdout);
        lines.push({ kind: 'poll', command: last, intervalS: Math.max(0.1, Math.round(median(gaps) / 100) / 10), expectOutput: outputChanged ? last.stdout : undefined });
      }
      i = j;
    }
  }
  return lines;
}

/** The machines' host keys from a known_hosts file, by host and key type. */
function hostKeys(knownHostsFile: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const line of readFileSync(knownHostsFile, 'utf8').split('\n')) {
    const [hosts, type, key] = line.trim().split(/\s+/);
    if (key) keys.set(`${hosts} ${type}`, key);
  }
  return keys;
}

/**
 * A bare lab has new host keys: what the install wrote from the old ones (the application's
 * sync known_hosts) gets the new ones, as a script run by hand would take them from the same file.
 */
function withNewHostKeys(text: string, before: Map<string, string>, after: Map<string, string>): string {
  for (const [hostAndType, oldKey] of before) {
    const newKey = after.get(hostAndType);
    if (newKey && newKey !== oldKey) text = text.split(oldKey).join(newKey);
  }
  return text;
}

/**
 * Outputs the install passed on to later commands (the application's sync key, made on the master
 * and authorised on the slaves): later commands get a placeholder, filled by the script from what
 * the command printed this time, as a script written by hand would pass it along in a variable.
 */
function passedOn(lines: ScriptLine[]): Map<number, string> {
  const outputs = new Map<number, string>();
  lines.forEach((l, n) => {
    const out = l.command.via === 'ssh' ? l.command.stdout?.trim() : undefined;
    if (!out || out.length < 40) return;
    if (lines.slice(n + 1).some((later) => later.command.line.includes(out) || later.command.stdin?.includes(out))) outputs.set(n, out);
  });
  return outputs;
}

/** Writes the script's input: plan.tsv (one line per command) and each command's line, stdin and expected output. */
function writeScriptInput(dir: string, lines: ScriptLine[], keysBefore: Map<string, string>, keysAfter: Map<string, string>): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const outputs = passedOn(lines);
  const prepare = (text: string) => {
    for (const [from, out] of outputs) text = text.split(out).join(`@@OUTPUT_${from}@@`);
    return withNewHostKeys(text, keysBefore, keysAfter);
  };
  const plan = lines.map((l, n) => {
    const c = l.command;
    const line = prepare(c.line);
    const stdin = c.stdin ? prepare(c.stdin.toString('latin1')) : undefined;
    writeFileSync(join(dir, `${n}.cmd`), line);
    if (stdin !== undefined) writeFileSync(join(dir, `${n}.in`), stdin, 'latin1');
    const fill = line.includes('@@OUTPUT_') || stdin?.includes('@@OUTPUT_') ? 1 : 0;
    if (l.expectOutput !== undefined) writeFileSync(join(dir, `${n}.out`), l.expectOutput);
    if (c.via === 'sql') writeFileSync(join(dir, `${n}.pgpass`), c.password ?? '', { mode: 0o600 });
    if (c.via === 'http' && c.password) writeFileSync(join(dir, `${n}.auth`), `Authorization: ${c.password}\n`, { mode: 0o600 });
    // An SQL statement is waited for like the step waited for it: until it succeeds.
    const kind = c.via === 'sql' ? 'poll' : l.kind;
    // '-' for an empty field: the shell's read folds empty tab-separated fields away.
    return [n, kind, c.via, c.address, c.port, c.user || '-', c.code ?? 0, l.intervalS ?? 1, c.database || '-', fill].join('\t');
  });
  writeFileSync(join(dir, 'plan.tsv'), plan.join('\n') + '\n');
}

/** A step's name for the table: its activity and the hosts it reached. */
const stepName = (step: string, commands: RemoteCommand[]) => `${step.split('#')[0]} (${[...new Set(commands.map((c) => c.host))].join(', ')})`;

/** Per step: the time from its first remote command's start to its last one's end, in haflow's install. */
function haflowStepTimes(commands: RemoteCommand[]): Map<string, number> {
  const byStep = new Map<string, RemoteCommand[]>();
  for (const c of commands) byStep.set(c.step, [...(byStep.get(c.step) ?? []), c]);
  return new Map([...byStep].map(([step, cs]) => [stepName(step, cs), Math.max(...cs.map((c) => c.endedMs ?? c.startedMs)) - Math.min(...cs.map((c) => c.startedMs))]));
}

/** Per step: the same in the script's run, from the start time it wrote before each entry (times, $EPOCHREALTIME). */
function scriptStepTimes(dir: string, lines: ScriptLine[]): Map<string, number> {
  const starts = readFileSync(join(dir, 'times'), 'utf8').trim().split('\n').map((l) => Number(l.split(' ')[1]) * 1000);
  const byStep = new Map<string, { commands: RemoteCommand[]; ms: number }>();
  lines.forEach((l, n) => {
    const entry = byStep.get(l.command.step) ?? { commands: [], ms: 0 };
    entry.commands.push(l.command);
    entry.ms += starts[n + 1] - starts[n];
    byStep.set(l.command.step, entry);
  });
  return new Map([...byStep].map(([step, e]) => [stepName(step, e.commands), e.ms]));
}

function runScript(dir: string, lab: Lab, mode: string): Promise<{ ms: number; retried: number }> {
  const started = Date.now();
  const ssh = lab.topology.ssh;
  return new Promise((resolve, reject) =>
    execFile('bash', [join(__dirname, 'install-script.sh'), dir, ssh.private_key, ssh.known_hosts, mode], { maxBuffer: 64 * 2 ** 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`the script failed: ${stderr.trim().slice(-2000) || err.message}`)) : resolve({ ms: Date.now() - started, retried: Number(/retried (\d+)/.exec(stdout)?.[1] ?? 0) }),
    ),
  );
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const STEPS_SHOWN = 6;

function slowestSteps(differences: { step: string; haflowMs: number; scriptMs: number }[]): string[][] {
  const steps = [...new Set(differences.map((d) => d.step))].map((step) => {
    const of = differences.filter((d) => d.step === step);
    const haflowMs = median(of.map((d) => d.haflowMs));
    const scriptMs = median(of.map((d) => d.scriptMs));
    return { step, haflowMs, scriptMs, extra: haflowMs - scriptMs };
  });
  const ms = (x: number) => `${Math.round(x)} ms`;
  return steps
    .sort((a, b) => b.extra - a.extra)
    .slice(0, STEPS_SHOWN)
    .map((d) => [d.step, ms(d.haflowMs), ms(d.scriptMs), ms(d.extra)]);
}

export const run: Bench = async (args) => {
  const rounds = Number(args[0] ?? 3);
  const mode = args[1] ?? 'mux';
  if (mode !== 'mux' && mode !== 'new') throw new Error(`the script's SSH mode is mux or new, not ${mode}`);
  const platform = (args[2] ?? 'debian12') as keyof typeof STANDALONE;
  if (!(platform in STANDALONE)) throw new Error(`the platform is ${Object.keys(STANDALONE).join(' or ')}, not ${platform}`);
  const topologyFile = STANDALONE[platform];
  const haflowRuns: (RunTimes & { steps: number; commands: number })[] = [];
  const scriptRuns: { ms: number; lines: number; polls: number; retried: number }[] = [];
  const stepDifferences: { step: string; haflowMs: number; scriptMs: number }[] = [];
  await withBenchEnvironment(async (client, dir) => {
    const scriptDir = join(dir, 'script');
    let lines: ScriptLine[] | undefined;
    let recordedKeys = new Map<string, string>();
    let haflowSteps = new Map<string, number>();
    const installWithHaflow = async (round: number) => {
      const lab = await Lab.up(topologyFile, { wipe: true });
      const recording = recordRemoteCommands();
      try {
        const handle = await startInstall(client, plainTextOf(lab.topology));
        const outcome = await handle.result();
        if (outcome.status !== 'completed') throw new Error(`haflow's install did not complete: ${outcome.status}`);
        const times = await runTimes(handle);
        haflowRuns.push({ ...times, steps: outcome.steps.length, commands: recording.commands.length });
        lines = scriptLines(recording.commands);
        haflowSteps = haflowStepTimes(recording.commands);
        recordedKeys = hostKeys(lab.topology.ssh.known_hosts);
        process.stdout.write(`round ${round} haflow: ${seconds(times.wallMs)} wall, ${outcome.steps.length} steps, ${recording.commands.length} remote commands, overhead ${seconds(times.overheadMs)}, median gap ${times.medianGapMs.toFixed(0)} ms\n`);
      } finally {
        recording.stop();
        await lab.down();
      }
    };
    const installWithScript = async (round: number) => {
      if (!lines) throw new Error('no recording yet');
      const lab = await Lab.up(topologyFile, { wipe: true });
      try {
        writeScriptInput(scriptDir, lines, recordedKeys, hostKeys(lab.topology.ssh.known_hosts));
        const { ms, retried } = await runScript(scriptDir, lab, mode);
        const polls = lines.filter((l) => l.kind === 'poll').length;
        scriptRuns.push({ ms, lines: lines.length, polls, retried });
        const scriptSteps = scriptStepTimes(scriptDir, lines);
        for (const [step, haflowMs] of haflowSteps) stepDifferences.push({ step, haflowMs, scriptMs: scriptSteps.get(step) ?? 0 });
        process.stdout.write(`round ${round} script (${mode}): ${seconds(ms)} wall, ${lines.length} commands (${polls} waits, ${retried} retried)\n`);
      } finally {
        await lab.down();
      }
    };
    for (let round = 1; round <= rounds; round++) {
      // haflow first in odd rounds (and always in the first: the script needs a recording).
      if (round % 2 === 1) {
        await installWithHaflow(round);
        await installWithScript(round);
      } else {
        await installWithScript(round);
        await installWithHaflow(round);
      }
    }
  });
  const haflowMs = median(haflowRuns.map((r) => r.wallMs));
  const scriptMs = median(scriptRuns.map((r) => r.ms));
  const rows = haflowRuns.map((h, i) => [
    String(i + 1),
    seconds(h.wallMs),
    seconds(scriptRuns[i].ms),
    (h.wallMs / scriptRuns[i].ms).toFixed(2),
    `${seconds(h.overheadMs)} (${((h.overheadMs / h.wallMs) * 100).toFixed(1)} %)`,
    `${h.medianGapMs.toFixed(0)} ms`,
    `haflow: ${h.steps} steps, ${h.activities} activity attempts, ${h.commands} remote commands; script: ${scriptRuns[i].lines} commands, ${scriptRuns[i].polls} waits, ${scriptRuns[i].retried} retried`,
  ]);
  rows.push(['median', seconds(haflowMs), seconds(scriptMs), (haflowMs / scriptMs).toFixed(2), seconds(median(haflowRuns.map((h) => h.overheadMs))), `${median(haflowRuns.map((h) => h.medianGapMs)).toFixed(0)} ms`, '']);
  return {
    title: `Standalone install on ${PLATFORM_NAMES[platform]}: haflow against a plain script (${mode === 'mux' ? 'one SSH connection per host' : 'a new SSH connection per command'})`,
    method:
      `Wall time of each install on a bare 3-machine standalone lab (${PLATFORM_NAMES[platform]}), in plain text (security.insecure) for both: haflow from the workflow start to completion in its history; the script (bench/install-script.sh, the same remote commands in the ` +
      'same order, waits repeated at the install\'s interval, steps one after another) from its start to its exit. haflow\'s overhead is the run\'s time when no activity ran; the gap per step is ' +
      'the median time from one activity\'s completion to the next one\'s start (bench/history.ts). Targets: ratio at most 0.85, gap under 50 ms.',
    markdown: [
      table(['round', 'haflow', 'script', 'ratio haflow/script', 'haflow overhead', 'gap per step, median', 'what ran'], rows),
      '',
      `Where the time differs, step by step (each step from its first remote command's start to its last one's end; the medians over the rounds of the ${STEPS_SHOWN} steps where haflow took longest beyond the script):`,
      '',
      table(['step (activity, hosts)', 'haflow, median', 'script, median', 'difference'], slowestSteps(stepDifferences)),
    ].join('\n'),
  };
};
