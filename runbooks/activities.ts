// The activities a runbook may name, as types taken from the activities themselves: a step
// that names an unknown or renamed activity, or passes it the wrong input, does not compile.
// The runtime list is for the runner, which checks a runbook that arrives as data.
import type * as activities from '../activities';
import type { StepResult } from '../activities/contract';

type Activities = typeof activities;

/** The activities that do a runbook's step: they return a StepResult (others are called by workflows directly). */
export type ActivityName = {
  [K in keyof Activities]: Awaited<ReturnType<Activities[K]>> extends StepResult ? K : never;
}[keyof Activities];

/** What a step passes its activity: the activity's input without what the runner adds (topology, check). */
export type ActivityInput<N extends ActivityName> = Omit<Parameters<Activities[N]>[0], 'check' | 'topology'>;

/** Every step activity the worker registers (activities/index.ts), checked both ways at compile time below. */
export const ACTIVITY_NAMES = [
  'preflightHost',
  'preflightCluster',
  'ensurePackages',
  'ensureCertificateAuthority',
  'ensureHostCertificate',
  'hostServesCertificate',
  'ensureHostTrust',
  'startAuthorityRotation',
  'finishAuthorityRotation',
  'configureBackup',
  'ensureBackupAccess',
  'createBackupStanza',
  'backupGate',
  'takeBackup',
  'verifyBackup',
  'archiveContinuity',
  'restoreGate',
  'writeRestoreMarkers',
  'restoreToHost',
  'verifyRestoreDrill',
  'configureEtcdMember',
  'etcdHealthy',
  'ensureEtcdAuth',
  'moveEtcdMemberToTls',
  'pausePatroni',
  'resumePatroni',
  'restartPatroniPaused',
  'holdLeaderCheck',
  'releaseLeaderCheck',
  'configureHaproxy',
  'haproxyLeaderUp',
  'configurePatroni',
  'startPatroni',
  'waitForLeader',
  'replicaPatroniInactive',
  'replicaStreaming',
  'patroniClusterHealthy',
  'ensureDynamicConfig',
  'configureDatabase',
  'verifyWriteThroughHaproxy',
  'configureStreamingPrimary',
  'configureStreamingStandby',
  'standbyStreaming',
  'verifyStreamingWrite',
  'fenceClassicDatabase',
  'promoteClassicStandby',
  'routeAppUsersTo',
  'prepareHaDir',
  'configureAppConfig',
  'slaveNginxInactive',
  'masterAppServing',
  'slaveAppStandby',
  'monitorSshUserNotRoot',
  // The same guard under the name installs planned before the application monitor had its own name use.
  'observerSshUserNotRoot',
  'appHealthyThroughHaproxy',
  'syncAppFiles',
  'fenceAppNode',
  'holdAppMonitor',
  'startAppMonitor',
  'recordAppRole',
  'databaseHasLeader',
  'clusterHealthy',
  'timingHeadroom',
  'ensureProbeDatabase',
  'injectFault',
  'healFault',
  'switchoverTo',
  'coordinatedSwitchoverTo',
  'cancelScheduledSwitchover',
  'awaitRecovery',
  'replicaRejoined',
  'restartPostgres',
  'upgradePostgresPackages',
  'postgresRunsInstalledVersion',
  'postgresVersionsAgree',
  'classicPromoted',
  'classicFenced',
  'classicSourceReady',
  'backupBeforeMigration',
  'stopAppMonitor',
  // The same step under the name migrations planned before the application monitor had its own name use.
  'stopAppObserver',
  'ensurePatroniUsers',
  'adoptPrimaryUnderPatroni',
  'adoptStandbyUnderPatroni',
] as const satisfies readonly ActivityName[];

/** Compiles only while ACTIVITY_NAMES lists every activity: add a new one above. */
type Unlisted = Exclude<ActivityName, (typeof ACTIVITY_NAMES)[number]>;
export const everyActivityListed: [Unlisted] extends [never] ? true : { unlisted: Unlisted } = true;
