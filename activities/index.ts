// Every activity the worker registers, one component per file. Workflows import this
// module as types only.
export { preflightHost, preflightCluster } from './preflight';
export { ensurePackages } from './packages';
export { configureEtcdMember, etcdHealthy } from './etcd';
export { configureHaproxy, haproxyLeaderUp } from './haproxy';
export { configurePatroni, startPatroni, waitForLeader, replicaPatroniInactive, replicaStreaming, patroniClusterHealthy } from './patroni';
export { configureDatabase, verifyWriteThroughHaproxy } from './postgres';
