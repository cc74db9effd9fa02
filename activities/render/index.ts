// Pure config renderers: topology in, file text out. Activities write the results over SSH.
export { renderHaproxyCfg, haproxyConfigPath, haproxyTime } from './haproxy';
export { renderPatroniYml, patroniConfigPath } from './patroni';
export type { PatroniConfig, PatroniSecrets } from './patroni';
export { renderEtcdDefaults, etcdDefaultsPath } from './etcd';
export { renderPatroniUnit, renderEtcdUnit, patroniUnitPath, etcdUnitPath } from './units';
export { hostFiles, secretPlaceholders } from './files';
export type { ManagedFile } from './files';
