// PostgreSQL as a component: its packages on the DB nodes. In the Patroni layouts Patroni runs
// it, so Debian's own postgresql service stays stopped and disabled and haflow writes no file for
// it. In the classic layout Debian's cluster is the application's database: haflow writes its
// replication settings and pg_hba.conf (./streaming-config.ts).
import type { Component } from '../shared/component';
import { classicPostgresFiles } from './streaming-config';

export const postgresComponent: Component = {
  name: 'postgres',
  role: 'db',
  // A restore host runs the same PostgreSQL to start what it restores (Debian's own service stays off).
  runsOn: (_topology, host) => host.roles.includes('db') || host.roles.includes('restore'),
  service: 'postgresql',
  packages: (topology, family) => {
    const v = topology.postgresql.version;
    return family === 'apt' ? [`postgresql-${v}`] : [`postgresql${v}-server`];
  },
  files: (topology, host) => (topology.layout === 'classic' ? classicPostgresFiles(topology, host) : []),
  foreignConfigs: [],
};
