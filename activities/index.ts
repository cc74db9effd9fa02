// Every activity the worker registers, one component per folder. Each is registered through
// stepActivity (shared/step-activity.ts), which keeps every secret it resolved out of its
// result and errors. Workflows import this module as types only.
import * as etcd from './etcd/activities';
import * as haproxy from './haproxy/activities';
import * as packages from './packages';
import * as patroni from './patroni/activities';
import * as postgres from './postgres/activities';
import * as preflight from './preflight';
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
export const configureDatabase = stepActivity(postgres.configureDatabase);
export const verifyWriteThroughHaproxy = stepActivity(postgres.verifyWriteThroughHaproxy);
