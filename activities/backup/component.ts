// Backups as a component: pgBackRest on the backup host (the repository) and on every DB node
// (archive-push, archive-get and restores) and every restore host, configured in ./config.ts.
import type { Component } from '../shared/component';
import { backupFiles, pgbackrestConfigPath } from './config';

export const backupComponent: Component = {
  name: 'backup',
  role: 'backup',
  runsOn: (topology, host) => topology.backup !== undefined && (['backup', 'db', 'restore'] as const).some((r) => host.roles.includes(r)),
  // Debian's package also ships the TLS server's unit, which haflow does not use (SSH, see ./config.ts).
  service: 'pgbackrest',
  packages: () => ['pgbackrest'],
  files: (topology, host, secret) => backupFiles(topology, host, secret),
  // A hand-made setup names a stanza's data directory; Debian's example has it commented out.
  foreignConfigs: [{ path: pgbackrestConfigPath, pattern: '^pg1-path=' }],
};
