// PostgreSQL restarted on one member through Patroni's REST API (POST /restart), as
// `patronictl restart` does: Patroni stops and starts it with its current configuration, which
// is what a pending restart after a parameter change needs. A rolling operation restarts the
// replicas this way, one at a time; the leader is never restarted in place (its writes would
// stop): it is switched over first, and its demotion restarts it.
import { ApplicationFailure } from '@temporalio/common';
import { StepFailureTypes, type HostInput, type StepResult } from '../contract';
import { installedServerVersion } from '../postgres/upgrade';
import { serverVersionText } from '../postgres/version';
import { guardFailed, hostOf, onHost, stepResult, waitFor, type Probe } from '../shared/step';
import { memberStatus, restSend, type MemberStatus } from './rest';

export type RestartInput = HostInput & {
  /**
   * The member's postmaster_start_time when the operation was planned: a PostgreSQL that started
   * at another time has been restarted since (by this step before a lost worker, or by a
   * demotion). Compared as Patroni reports it, so the clocks of worker and host do not matter.
   */
  plannedStart?: string;
  /**
   * Restarted until PostgreSQL runs the version of its installed binaries (a minor upgrade), rather
   * than once since the plan: a demotion that restarted it before its packages changed is not enough.
   */
  untilInstalledVersion?: boolean;
  waitSeconds?: number;
};

/** PostgreSQL on a replica restarted by Patroni. Idempotent: one restarted since the plan is left alone. */
export async function restartPostgres(input: RestartInput): Promise<StepResult> {
  const { topology, check } = input;
  const host = hostOf(input);
  const before = await memberStatus(input);
  if (input.untilInstalledVersion) {
    const installed = await onHost(input, (ssh) => installedServerVersion(ssh, topology));
    const running = before.server_version ? serverVersionText(before.server_version) : undefined;
    if (running === installed && before.state === 'running') return stepResult([], `PostgreSQL on ${host.name} runs ${running}, the installed version`);
  } else {
    const restartedSincePlan = (status: MemberStatus) => status.postmaster_start_time !== undefined && input.plannedStart !== undefined && status.postmaster_start_time !== input.plannedStart;
    if (restartedSincePlan(before) && before.state === 'running') {
      return stepResult([], `PostgreSQL on ${host.name} has run since ${before.postmaster_start_time}, restarted since this operation was planned${before.pending_restart ? '; a restart is still pending' : ''}`);
    }
  }
  if (before.role === 'master' || before.role === 'primary') {
    throw guardFailed(
      `${host.name} is the leader: restarting it in place would stop every write until it is back`,
      `switch over first (\`haflow switchover ${topology.cluster} --coordinated\`), then restart it as a replica`,
    );
  }
  const pending = before.pending_restart ? ' (a restart was pending)' : '';
  if (check) return stepResult([`would restart PostgreSQL on ${host.name}${pending}`], '');
  const running = await restartThroughPatroni(input, before, (input.waitSeconds ?? 120) * 1000);
  return stepResult([`restarted PostgreSQL on ${host.name}${pending}`], '', running.pending_restart ? [`a restart is still pending on ${host.name}`] : []);
}

/**
 * POST /restart on one member (Patroni stops and starts PostgreSQL with its current configuration),
 * then waits until a new postmaster runs: its status then.
 */
export async function restartThroughPatroni(input: HostInput, before: MemberStatus, waitMs: number): Promise<MemberStatus> {
  const host = hostOf(input);
  const response = await restSend(input.topology, host, '/restart', 'POST', {}, waitMs);
  const body = response.body.trim();
  if (response.status !== 200) {
    throw ApplicationFailure.create({
      type: StepFailureTypes.commandFailed,
      // 503: Patroni could not restart it now (another action runs); worth another attempt.
      nonRetryable: response.status < 500,
      message: `Patroni on ${host.name} did not restart PostgreSQL: HTTP ${response.status} ${body}`,
      details: [{ remedy: `see \`journalctl -u patroni\` on ${host.name}; \`patronictl restart\` does the same by hand` }],
    });
  }
  return waitFor(
    `PostgreSQL on ${host.name} to run again after its restart`,
    async (): Promise<Probe<MemberStatus>> => {
      const now = await memberStatus(input);
      if (now.postmaster_start_time === before.postmaster_start_time) return { notYet: `postmaster still the one started at ${now.postmaster_start_time ?? 'unknown'}` };
      return now.state === 'running' ? { done: now } : { notYet: `Patroni reports ${now.state}` };
    },
    { timeoutMs: waitMs, intervalMs: 250 },
  );
}
