// systemd units on a host: look at their state, then start, stop, enable or disable only
// what differs. Exit codes are systemd's (is-active: 0 active, 3 not).
import { ApplicationFailure } from '@temporalio/common';
import { StepFailureTypes } from '../contract';
import type { FilesChange } from './remote-files';
import type { SshSession } from './ssh';
import { shellQuote } from './shell';

export interface UnitState {
  /** active, inactive, failed, activating… as `systemctl is-active` prints it. */
  active: string;
  enabled: boolean;
  /** The unit file exists on the host. */
  installed: boolean;
}

export async function unitState(ssh: SshSession, unit: string): Promise<UnitState> {
  const u = shellQuote(unit);
  const out = await ssh.exec(
    `echo "active=$(systemctl is-active ${u} 2>/dev/null)"; echo "enabled=$(systemctl is-enabled ${u} 2>/dev/null)"; ` +
      `if systemctl cat ${u} >/dev/null 2>&1 || [ -f /etc/systemd/system/${u}.service ] || [ -f /lib/systemd/system/${u}.service ]; then echo installed=yes; else echo installed=no; fi`,
    { sudo: true },
  );
  const field = (name: string) => out.stdout.match(new RegExp(`^${name}=(.*)$`, 'm'))?.[1]?.trim() ?? '';
  return { active: field('active') || 'unknown', enabled: field('enabled') === 'enabled', installed: field('installed') === 'yes' };
}

async function systemctl(ssh: SshSession, verb: string, unit: string): Promise<void> {
  const result = await ssh.exec(`systemctl ${verb} ${shellQuote(unit)}`, { sudo: true });
  if (result.code !== 0) {
    const journal = await ssh.exec(`journalctl -u ${shellQuote(unit)} -n 15 --no-pager 2>/dev/null`, { sudo: true });
    throw ApplicationFailure.create({
      type: StepFailureTypes.serviceFailed,
      message: `${ssh.target.name}: \`systemctl ${verb} ${unit}\` failed (exit ${result.code}): ${(result.stderr || result.stdout).trim().slice(-400)}${
        journal.stdout.trim() ? `\nlast log lines:\n${journal.stdout.trim().slice(-1200)}` : ''
      }`,
      details: [{ remedy: `look at \`journalctl -u ${unit}\` on ${ssh.target.name}, fix the cause, then \`haflow resume <cluster> --retry\`` }],
    });
  }
}

export interface UnitGoal {
  running: boolean;
  enabled: boolean;
  /** When running already: reload (or restart) because its configuration changed. */
  refresh?: 'reload' | 'restart';
}

/** Brings a unit to the goal; returns what it did (or would do), empty when nothing. */
export async function ensureUnit(ssh: SshSession, unit: string, goal: UnitGoal, check: boolean): Promise<string[]> {
  const state = await unitState(ssh, unit);
  const actions: string[] = [];
  if (goal.enabled && !state.enabled) actions.push('enable');
  if (!goal.enabled && state.enabled) actions.push('disable');
  const running = state.active === 'active' || state.active === 'activating' || state.active === 'reloading';
  if (goal.running && !running) actions.push('start');
  else if (goal.running && goal.refresh) actions.push(goal.refresh);
  if (!goal.running && running) actions.push('stop');
  if (check) return actions.map((a) => `would ${a} ${unit}`);
  for (const action of actions) await systemctl(ssh, action, unit);
  if (goal.running && actions.length > 0) {
    const after = await unitState(ssh, unit);
    if (after.active !== 'active') {
      throw ApplicationFailure.create({
        type: StepFailureTypes.serviceFailed,
        message: `${ssh.target.name}: ${unit} is ${after.active} after ${actions.join(', ')}`,
        details: [{ remedy: `look at \`journalctl -u ${unit}\` on ${ssh.target.name}, fix the cause, then \`haflow resume <cluster> --retry\`` }],
      });
    }
  }
  return actions.map((a) => `${a} ${unit}`);
}

/** After a unit file changes, systemd must re-read it. */
export async function daemonReload(ssh: SshSession): Promise<void> {
  await ssh.check('systemctl daemon-reload', { sudo: true });
}

/** daemon-reload when one of the files just written is a unit file (not in check mode). */
export async function reloadIfUnitsChanged(ssh: SshSession, written: FilesChange, check: boolean): Promise<void> {
  if (!check && written.files.some((f) => f.changed && f.path.startsWith('/etc/systemd/system/'))) await daemonReload(ssh);
}
