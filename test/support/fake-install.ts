// The install runbook's activities (every name in ACTIVITY_NAMES, runbooks/activities.ts) over fake machines, for
// exercising the client on a real server with the real installWorkflow. They are fakes only in
// what they do on "hosts": a change is applied once (a second install finds nothing to change),
// check mode applies nothing, and failures are injected by the test through `broken`.
import { ApplicationFailure } from '@temporalio/activity';
import type { Topology } from '../../topology';
import type { StepInput, StepResult } from '../../activities/contract';
import { ACTIVITY_NAMES, type ActivityName } from '../../runbooks/activities';

/** Activities that change a host; the others are guards and verifications. */
const CHANGES: readonly ActivityName[] = [
  'ensurePackages',
  'ensureCertificateAuthority',
  'ensureHostCertificate',
  'configureEtcdMember',
  'ensureEtcdAuth',
  'configureHaproxy',
  'configurePatroni',
  'startPatroni',
  'configureDatabase',
  'ensureDynamicConfig',
  'configureAppConfig',
  'syncAppFiles',
  'masterAppServing',
  'slaveAppStandby',
  'fenceAppNode',
  'recordAppRole',
  'startAppMonitor',
  'configureBackup',
  'ensureBackupAccess',
  'createBackupStanza',
  'takeBackup',
  'writeRestoreMarkers',
  'restoreToHost',
];

export interface InjectedFailure {
  type: string;
  message: string;
  remedy?: string;
}

export interface FakeCluster {
  /** `<activity>@<host>` (the activity name alone for cluster-wide steps) → the failure it throws until the test removes it. */
  broken: Map<string, InjectedFailure>;
  /** Changes made so far, by the same keys. */
  applied: Set<string>;
  /** Every activity call, in order. */
  calls: { key: string; activity: ActivityName; check: boolean }[];
}

export function fakeCluster(): FakeCluster {
  return { broken: new Map(), applied: new Set(), calls: [] };
}

type InstallStepInput = StepInput<{ topology: Topology; host?: string }>;

/** One fake cluster per cluster name, so the tests of a file share one worker. */
export function fakeInstallActivities(clusterNamed: (name: string) => FakeCluster) {
  const act = (activity: ActivityName) => async (input: InstallStepInput): Promise<StepResult> => {
    const cluster = clusterNamed(input.topology.cluster);
    const key = input.host ? `${activity}@${input.host}` : activity;
    cluster.calls.push({ key, activity, check: input.check });
    const failure = cluster.broken.get(key);
    if (failure) {
      // Non-retryable, as the real activities make failures retries cannot fix: the step blocks at once.
      throw ApplicationFailure.create({
        type: failure.type,
        message: failure.message,
        nonRetryable: true,
        details: failure.remedy ? [{ remedy: failure.remedy }] : undefined,
      });
    }
    if (!CHANGES.includes(activity)) return { changed: false, summary: `${key}: ok` };
    if (cluster.applied.has(key)) return { changed: false, summary: `${key}: already as the topology says` };
    if (input.check) return { changed: true, summary: `${key}: would change`, details: [`--- ${key} now`, `+++ ${key} wanted`, '+one line'] };
    cluster.applied.add(key);
    return { changed: true, summary: `${key}: changed` };
  };
  return Object.fromEntries(ACTIVITY_NAMES.map((name) => [name, act(name)])) as Record<
    ActivityName,
    (input: InstallStepInput) => Promise<StepResult>
  >;
}
