// PostgreSQL as a component: its packages on the DB nodes. Patroni runs it, so Debian's own
// postgresql service stays stopped and disabled, and haflow writes no file for it.
import type { Component } from '../shared/component';

export const postgresComponent: Component = {
  name: 'postgres',
  role: 'db',
  service: 'postgresql',
  packages: (topology, family) => {
    const v = topology.postgresql.version;
    return family === 'apt' ? [`postgresql-${v}`] : [`postgresql${v}-server`];
  },
  files: () => [],
  foreignConfigs: [],
};
