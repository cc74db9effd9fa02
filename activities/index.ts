// Every activity the worker registers, one component per folder. Each is registered through
// stepActivity (shared/step-activity.ts), which keeps every secret it resolved out of its
// result and errors. Workflows import this module as types only.
import * as app from './app/activities';
import * as appSync from './app/sync';
import * as appWatch from './app/watch';
import * as cluster from './cluster/activities';
import * as etcd from './etcd/activities';
import * as faults from './failover/faults';
import * as observe from './failover/observe';
import * as probeDatabase from './failover/probe-database';
import * as haproxy from './haproxy/activities';
import * as notify from './notify/activities';
import * as packages from './packages';
import * as patroni from './patroni/activities';
import * as patroniDynamic from './patroni/dynamic-config';
import * as patroniFailover from './patroni/failover';
import * as postgres from './postgres/activities';
import * as preflight from './preflight';
import * as temporalOperations from './temporal/operations';
import { stepActivity } from './shared/step-activity';

export const preflightHost = stepActivity(preflight.preflightHost);
export const preflightCluster = stepActivity(preflight.preflightCluster);
export const ensurePackages = stepActivity(packages.ensurePackages);
export const configureEtcdMember = stepActivity(etcd.configureEtcdMember);
export const etcdHealthy = stepActivity(etcd.etcdHealthy);
export const configureHaproxy = stepActivity(haproxy.configureHaproxy);
export const haproxyLeaderUp = stepActivity(haproxy.haproxyLeaderUp);
export const configurePatroni = stepActivity(patroni.configurePatroni);
export const startPatroni = stepActivity(patroni.startPatroni);
export const waitForLeader = stepActivity(patroni.waitForLeader);
export const replicaPatroniInactive = stepActivity(patroni.replicaPatroniInactive);
export const replicaStreaming = stepActivity(patroni.replicaStreaming);
export const patroniClusterHealthy = stepActivity(patroni.patroniClusterHealthy);
export const ensureDynamicConfig = stepActivity(patroniDynamic.ensureDynamicConfig);
export const configureDatabase = stepActivity(postgres.configureDatabase);
export const verifyWriteThroughHaproxy = stepActivity(postgres.verifyWriteThroughHaproxy);
export const prepareHaDir = stepActivity(app.prepareHaDir);
export const configureAppConfig = stepActivity(app.configureAppConfig);
export const slaveNginxInactive = stepActivity(app.slaveNginxInactive);
export const masterAppServing = stepActivity(app.masterAppServing);
export const slaveAppStandby = stepActivity(app.slaveAppStandby);
export const observerSshUserNotRoot = stepActivity(app.observerSshUserNotRoot);
export const appHealthyThroughHaproxy = stepActivity(app.appHealthyThroughHaproxy);
export const syncAppFiles = stepActivity(appSync.syncAppFiles);
export const fenceAppNode = stepActivity(app.fenceAppNode);
export const recordAppRole = stepActivity(app.recordAppRole);
export const databaseHasLeader = stepActivity(app.databaseHasLeader);
export const clusterHealthy = stepActivity(cluster.clusterHealthy);
export const ensureProbeDatabase = stepActivity(probeDatabase.ensureProbeDatabase);
export const injectFault = stepActivity(faults.injectFault);
export const healFault = stepActivity(faults.healFault);
export const switchoverTo = stepActivity(patroniFailover.switchoverTo);
export const cancelScheduledSwitchover = stepActivity(patroniFailover.cancelScheduledSwitchover);
export const awaitRecovery = stepActivity(patroniFailover.awaitRecovery);
export const replicaRejoined = stepActivity(patroniFailover.replicaRejoined);

// Not steps: read by workflows themselves.
export const readClusterHealth = stepActivity(cluster.readClusterHealth);
export const observeFailover = stepActivity(observe.observeFailover);
export const runningClusterOperation = stepActivity(temporalOperations.runningClusterOperation);
export const watchAppHealth = stepActivity(appWatch.watchAppHealth);
export const appAnswersWithin = stepActivity(appWatch.appAnswersWithin);
export const sendWebhook = stepActivity(notify.sendWebhook);
export const runNotifyCommand = stepActivity(notify.runNotifyCommand);
