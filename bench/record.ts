// What every benchmark run through `npm run bench` leaves behind: its figures printed, and the
// same figures appended to bench/RESULTS.md under a heading with the machine, the date, the
// commit and the exact command, so a later run on another day or machine is compared like for like.
import { execFileSync } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';

export const RESULTS_FILE = join(__dirname, 'RESULTS.md');

/** What one benchmark measured: a title, how it measured, and its figures as Markdown. */
export interface BenchResult {
  title: string;
  /** How each figure was measured, in a sentence or two. */
  method: string;
  /** Tables and notes, Markdown. */
  markdown: string;
}

/** A benchmark: its command-line arguments in, its figures out. Benchmarks measure; they do not assert. */
export type Bench = (args: string[]) => Promise<BenchResult>;

/** The machine the figures come from: CPU, cores, memory, kernel, Node, and the commit measured. */
export function machineDescription(): string {
  const cpu = cpus();
  let commit = 'unknown commit';
  try {
    commit = execFileSync('git', ['-C', __dirname, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', __dirname, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim();
    if (dirty) commit += ' with uncommitted changes';
  } catch {
    // Not a git checkout: the figures still stand, without a commit.
  }
  let distro = '';
  try {
    distro = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    // No os-release: leave the distribution out.
  }
  return `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${distro ? `${distro}, ` : ''}kernel ${release()}, Node ${process.version}, haflow ${commit}`;
}

/** The entry appended to RESULTS.md for one run. */
export function resultEntry(command: string, result: BenchResult, when: Date, machine: string): string {
  const date = when.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  return [
    '',
    `### ${result.title} (${date})`,
    '',
    `Command: \`${command}\``,
    '',
    `Machine: ${machine}`,
    '',
    `How measured: ${result.method}`,
    '',
    result.markdown.trim(),
    '',
  ].join('\n');
}

export function appendResult(command: string, result: BenchResult, when = new Date(), file = RESULTS_FILE): string {
  const entry = resultEntry(command, result, when, machineDescription());
  appendFileSync(file, entry);
  return entry;
}

/** The median of the figures (the mean of the middle two for an even count). */
export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** A Markdown table from a header row and data rows. */
export function table(header: string[], rows: (string | number)[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}
