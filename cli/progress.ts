// What the operator reads: the plan, the live progress of a run, a blocked step with the
// commands to continue, a check run's report, a cluster's status. Pure formatting, except
// the live display at the end, which writes to a stream.
import type { ClusterOperation, RunError, RunResult } from '../client/api';
import { fitToWidth, loadWrapper } from './fit';
import { isGroup, isLane, stepsIn, type Runbook, type RunbookItem, type Step } from '../runbooks/runbook';
import { RunbookFailureTypes, type Progress, type RunbookOutcome, type StepState } from '../workflows/protocol';

/**
 * The runbook in execution order: number, id, host, kind, title, and the guard a step checks.
 * A parallel group gets a line with the numbers of its steps, its members indented under it; a
 * lane of a group gets a line of its own, its items indented one level deeper.
 */
export function formatPlan(runbook: Runbook, about: string): string {
  const rows = planRows(runbook.items);
  const steps = rows.flatMap((row) => ('step' in row ? [row.step] : []));
  // At least a group member's indent, so that the columns do not move when a runbook gets a group.
  const idWidth = Math.max(...rows.map((row) => ('step' in row ? Math.max(row.indent.length, 2) + row.step.id.length : 0)));
  const hostWidth = Math.max(...steps.map((s) => hostOf(s).length));
  const lines = [
    `${runbook.name} plan for cluster ${runbook.cluster} (${about}): ${steps.length} steps, in this order`,
    '',
    `${'#'.padStart(5)}  ${'step'.padEnd(idWidth)}  ${'host'.padEnd(hostWidth)}  ${'kind'.padEnd(6)}  what`,
  ];
  for (const row of rows) {
    if (!('step' in row)) {
      lines.push(row.line);
      continue;
    }
    const { number, step, indent } = row;
    lines.push(`${String(number).padStart(5)}  ${(indent + step.id).padEnd(idWidth)}  ${hostOf(step).padEnd(hostWidth)}  ${step.kind.padEnd(6)}  ${step.title}`);
    if (step.guard) lines.push(`${' '.repeat(7)}${indent}  guard: ${step.guard}`);
  }
  return lines.join('\n');
}

/** A line of the plan: a numbered step at its indent, or the line of a group or a lane. */
type PlanRow = { number: number; step: Step; indent: string } | { line: string };

/** The plan's rows, steps numbered in execution order (flattenSteps's). */
function planRows(items: RunbookItem[]): PlanRow[] {
  const rows: PlanRow[] = [];
  let number = 0;
  const addStep = (step: Step, indent: string) => {
    number += 1;
    rows.push({ number, step, indent });
  };
  const walk = (items: RunbookItem[], indent: string) => {
    for (const item of items) {
      if (!isGroup(item)) {
        addStep(item, indent);
        continue;
      }
      rows.push({ line: `${`${number + 1}-${number + stepsIn(item).length}`.padStart(5)}  ${indent}at once (${item.id}): ${item.title}` });
      const memberIndent = `${indent}  `;
      for (const member of item.parallel) {
        if (isLane(member)) {
          rows.push({ line: `${' '.repeat(7)}${memberIndent}lane (${member.id}): ${member.title}` });
          walk(member.lane, `${memberIndent}  `);
        } else {
          addStep(member, memberIndent);
        }
      }
    }
  };
  walk(items, '');
  return rows;
}

const hostOf = (step: { host?: string }) => step.host ?? '(cluster)';

/** A check run's answer: per step what would change, with its details (diffs, actions), and the count. */
export function formatCheckReport(cluster: string, outcome: RunbookOutcome): string {
  const lines = [`What \`haflow install\` would do on cluster ${cluster} (nothing was changed):`, ''];
  for (const step of outcome.steps) {
    lines.push(`${step.changed ? '~' : '='} ${step.id}: ${step.summary ?? step.title}`);
    for (const detail of step.details ?? []) lines.push(...detail.split('\n').map((l) => `      ${l}`));
  }
  // In check mode a guard or verification reports what it sees now (etcd not started yet, say), not a pass.
  lines.push('', `${outcome.changed} steps would change something, ${outcome.unchanged + outcome.passed} would not`);
  return lines.join('\n');
}

/** The last line of a completed run: what changed, what did not, and the checks that passed, counted apart. */
export function formatOutcome(outcome: RunbookOutcome): string {
  const checks = `${outcome.passed} checks passed`;
  if (outcome.changed === 0 && outcome.skipped.length === 0) return `nothing to change: the cluster already matches the topology (${checks})`;
  const skipped = outcome.skipped.length > 0 ? `, skipped: ${outcome.skipped.join(', ')}` : '';
  return `${outcome.changed} changed, ${outcome.unchanged} unchanged, ${checks}${skipped}`;
}

/** Why a step failed and what to do about it: its error and remedy, indented under a headline. */
export function formatStepFailure(step: StepState): string {
  const lines: string[] = [];
  if (step.error) lines.push(`  error (${step.error.type}): ${step.error.message}`);
  lines.push(`  remedy: ${step.error?.remedy ?? 'see the error above; fix the cause on the host, then retry'}`);
  return lines.join('\n');
}

/** A blocked run: which step, why, the remedy, and the exact commands to continue. */
export function formatBlocked(cluster: string, runbook: string, blocked: StepState[]): string {
  const lines = blocked.map((step) => `BLOCKED: ${runbook} of cluster ${cluster} waits at step ${step.id} (${step.title})\n${formatStepFailure(step)}`);
  lines.push('Continue with one of:');
  for (const step of blocked) {
    const target = blocked.length > 1 ? ` --step ${step.id}` : '';
    lines.push(
      `  haflow resume ${cluster} --retry${target}    run the step again, once the cause is fixed`,
      `  haflow resume ${cluster} --skip${target}     leave it as it is and go on`,
      `  haflow resume ${cluster} --abort${target}    stop the ${runbook} here`,
    );
  }
  lines.push('(add --reason <text> to record why)');
  return lines.join('\n');
}

/** A run that ended without completing: aborted by the operator, terminated, timed out. */
export function formatFailure(cluster: string, runbook: string, error: RunError): string {
  const how = error.type === RunbookFailureTypes.aborted ? 'was aborted' : `failed (${error.type})`;
  return `${runbook} of cluster ${cluster} ${how}: ${error.message}`;
}

/** The result of following a run, as the operator reads it. */
export function formatRunResult(cluster: string, runbook: string, result: RunResult): string {
  switch (result.status) {
    case 'completed':
      return `${runbook} of cluster ${cluster} completed\n${formatOutcome(result.outcome)}`;
    case 'blocked':
      return formatBlocked(cluster, runbook, result.blocked);
    case 'failed':
      return formatFailure(cluster, runbook, result.error);
  }
}

/** `haflow status`: the latest operation, its steps, and what to do when it is blocked. */
export function formatStatus(op: ClusterOperation): string {
  const lines = [
    `cluster ${op.cluster}: ${op.runbook} ${op.status}`,
    `  workflow ${op.workflowId} (run ${op.runId}), started ${op.startTime.toISOString()}${op.closeTime ? `, ended ${op.closeTime.toISOString()}` : ''}`,
  ];
  if (op.error) lines.push(`  ${op.error.type}: ${op.error.message}`);
  if (!op.progress) {
    lines.push('  no worker answered the progress query, and only a worker can: start one with `haflow worker` to see the steps');
    return lines.join('\n');
  }
  lines.push('', ...formatStepTable(op.progress.steps));
  const blocked = op.progress.steps.filter((s) => s.status === 'blocked');
  if (op.status === 'blocked' && blocked.length > 0) lines.push('', formatBlocked(op.cluster, op.runbook, blocked));
  return lines.join('\n');
}

export function formatStepTable(steps: StepState[]): string[] {
  const idWidth = Math.max(...steps.map((s) => s.id.length));
  return steps.map((s, i) => `${String(i + 1).padStart(4)}  ${stateLabel(s).padEnd(9)}  ${s.id.padEnd(idWidth)}  ${stepText(s)}`);
}

/** One line for a step's new state (the non-TTY display prints one per change). */
export function formatStepLine(step: StepState, idWidth = 0): string {
  return `${stateLabel(step).padEnd(LABEL_WIDTH)}  ${step.id.padEnd(idWidth)}  ${stepText(step)}`;
}

const LABEL_WIDTH = 9;

/** A guard or verification that changed nothing passed; a change step that changed nothing is unchanged. */
function stateLabel(step: StepState): string {
  if (step.status === 'done') return step.changed ? 'changed' : step.kind === 'change' ? 'unchanged' : 'passed';
  if (step.status === 'blocked') return 'BLOCKED';
  return step.status;
}

function stepText(step: StepState): string {
  if (step.status === 'blocked') return step.error ? `${step.error.type}: ${step.error.message}` : step.title;
  if (step.status === 'done' || step.status === 'skipped') return step.summary ?? step.title;
  return step.title;
}

export interface ProgressDisplay {
  update(progress: Progress): void;
  /** A message between the step lines: a missing worker, and the like. */
  notice(message: string): void;
  /** Leaves the step lines on screen and removes the live area. */
  close(): void;
}

export interface DisplayOptions {
  /** A line per step state change (on a terminal, per finished step). Default true; false leaves the live area only. */
  stepLines?: boolean;
  /** The state the operator has seen already (`resume` shows only what happens after the decision). */
  seen?: Progress;
}

/**
 * Shows a run's progress on `out`. On a terminal: a line per finished step, and below them
 * a live area with the running steps and how long they have been running (log-update).
 * Elsewhere (a pipe, a log file): one line per step state change.
 */
export async function createProgressDisplay(options: DisplayOptions = {}, out: NodeJS.WriteStream = process.stdout): Promise<ProgressDisplay> {
  const stateKey = (step: StepState) => `${step.status}:${step.runs}`;
  /** The state of each step last shown, so that only changes are printed. */
  const printed = new Map((options.seen?.steps ?? []).map((s) => [s.id, stateKey(s)]));
  const changes = (progress: Progress, include: (s: StepState) => boolean): string[] => {
    const idWidth = Math.max(...progress.steps.map((s) => s.id.length));
    const lines: string[] = [];
    for (const step of progress.steps) {
      if (step.status === 'pending' || printed.get(step.id) === stateKey(step) || !include(step)) continue;
      printed.set(step.id, stateKey(step));
      if (options.stepLines !== false) lines.push(formatStepLine(step, idWidth));
    }
    return lines;
  };

  // A terminal that reports no size (some pseudo-terminals) would get no live area: lines instead.
  if (!out.isTTY || !out.rows) {
    return {
      update: (progress) => changes(progress, () => true).forEach((line) => out.write(`${line}\n`)),
      notice: (message) => out.write(`${message}\n`),
      close: () => undefined,
    };
  }

  // log-update is an ES module: loaded only when there is a terminal to draw on.
  const { createLogUpdate } = await import('log-update');
  await loadWrapper();
  const live = createLogUpdate(out);
  const width = () => Math.max(40, (out.columns ?? 80) - 1);
  /** Step lines wrap between words, the rest under the step's text (or 4 columns in, when ids are long). */
  const fitStepLines = (lines: string[], idWidth: number) =>
    fitToWidth(lines.join('\n'), width(), () => (LABEL_WIDTH + 2 + idWidth + 2 < width() / 2 ? LABEL_WIDTH + 2 + idWidth + 2 : 4));
  let current: Progress | undefined;
  const draw = () => {
    if (!current) return;
    const running = current.steps.filter((s) => s.status === 'running');
    const finished = current.steps.filter((s) => s.status === 'done' || s.status === 'skipped').length;
    const head = `${current.runbook}${current.check ? ' (check)' : ''} ${current.cluster}: ${finished}/${current.steps.length} steps done`;
    // One screen line per step: a wrapped title would push the live area off a small terminal.
    const fit = (line: string) => (line.length <= width() ? line : `${line.slice(0, width() - 1)}…`);
    live([head, ...running.map((s) => `  running ${s.id} (${elapsed(s.startedAt)}): ${s.title}`)].map(fit).join('\n'));
  };
  const ticker = setInterval(draw, 1_000);
  ticker.unref();
  return {
    update(progress) {
      current = progress;
      // Running steps show in the live area; only finished and blocked ones get a line of their own.
      const lines = changes(progress, (s) => s.status !== 'running');
      if (lines.length > 0) live.persist(fitStepLines(lines, Math.max(...progress.steps.map((s) => s.id.length))));
      draw();
    },
    notice: (message) => live.persist(fitToWidth(message, width())),
    close() {
      clearInterval(ticker);
      live.clear();
      live.done();
    },
  };
}

function elapsed(since?: string): string {
  if (!since) return '0 s';
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
  return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}
