// HAProxy as a component: it sends writes to the Patroni leader, found by its health checks.
import type { Component } from '../shared/component';
import { haproxyConfigPath, renderHaproxyCfg } from './config';

export const haproxyComponent: Component = {
  name: 'haproxy',
  role: 'haproxy',
  service: 'haproxy',
  packages: () => ['haproxy'],
  files: (topology, host) => [
    {
      path: haproxyConfigPath,
      content: renderHaproxyCfg(topology, host),
      owner: 'root',
      group: 'root',
      mode: 0o644,
      // An invalid file is never put in place (nor reloaded).
      validate: 'haproxy -c -q -f {}',
    },
  ],
  foreignConfigs: [{ path: haproxyConfigPath, pattern: 'check port' }],
};
