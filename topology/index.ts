// The topology module: the file's schema, loading with file:line errors, semantic checks and derived facts.
export * from './schema';
export * from './derive';
export * from './tls';
export * from './platforms';
export { checkTopology, MAX_ETCD_MEMBERS, type CheckIssue, type Severity } from './checks';
export { assertValidTopology, formatIssue, formatPath, loadTopology, MAX_TOPOLOGY_BYTES, parseTopology, TopologyError, type TopologyIssue } from './load';
export { firewallMatrix, type FirewallRule } from './firewall';
