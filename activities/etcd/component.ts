// etcd as a component: the DCS every Patroni node keeps its leader key in.
import type { Component } from '../shared/component';
import { etcdDefaultsPath, renderEtcdDefaults } from './config';
import { etcdUnitPath, renderEtcdUnit } from './unit';

export const etcdComponent: Component = {
  name: 'etcd',
  role: 'etcd',
  service: 'etcd',
  packages: (_topology, family) => (family === 'apt' ? ['etcd-server', 'etcd-client'] : ['etcd']),
  files: (topology, host) => [
    { path: etcdDefaultsPath, content: renderEtcdDefaults(topology, host), owner: 'root', group: 'root', mode: 0o644 },
    { path: etcdUnitPath, content: renderEtcdUnit(topology), owner: 'root', group: 'root', mode: 0o644 },
  ],
  foreignConfigs: [{ path: etcdDefaultsPath, pattern: '^ETCD_INITIAL_CLUSTER=' }],
};
