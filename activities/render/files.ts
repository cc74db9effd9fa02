// Every configuration file haflow manages on a host, by its roles. Pure: the same list the
// install writes, and what `haflow render` prints for review.
import type { Host, SecretRef, Topology } from '../../topology/schema';
import { renderEtcdDefaults, etcdDefaultsPath } from './etcd';
import { renderHaproxyCfg, haproxyConfigPath } from './haproxy';
import { renderPatroniYml, patroniConfigPath, type PatroniSecrets } from './patroni';
import { renderEtcdUnit, renderPatroniUnit, etcdUnitPath, patroniUnitPath } from './units';

export interface ManagedFile {
  path: string;
  content: string;
  owner: string;
  group: string;
  mode: number;
  /** The service that must reload or restart when the file changes. */
  service: 'etcd' | 'haproxy' | 'patroni';
}

export function hostFiles(topology: Topology, host: Host, secrets: PatroniSecrets): ManagedFile[] {
  const files: ManagedFile[] = [];
  const has = (role: Host['roles'][number]) => host.roles.includes(role);
  if (has('etcd')) {
    files.push({ path: etcdDefaultsPath, content: renderEtcdDefaults(topology, host), owner: 'root', group: 'root', mode: 0o644, service: 'etcd' });
    files.push({ path: etcdUnitPath, content: renderEtcdUnit(topology), owner: 'root', group: 'root', mode: 0o644, service: 'etcd' });
  }
  if (has('haproxy')) {
    files.push({ path: haproxyConfigPath, content: renderHaproxyCfg(topology, host), owner: 'root', group: 'root', mode: 0o644, service: 'haproxy' });
  }
  if (has('db') && topology.layout !== 'classic') {
    // Holds the database passwords: readable by root and the postgres group only.
    files.push({ path: patroniConfigPath, content: renderPatroniYml(topology, host, secrets), owner: 'root', group: 'postgres', mode: 0o640, service: 'patroni' });
    files.push({ path: patroniUnitPath, content: renderPatroniUnit(topology), owner: 'root', group: 'root', mode: 0o644, service: 'patroni' });
  }
  return files;
}

/** Stand-ins for passwords when files are shown rather than written: `<env HAFLOW_X>`. */
export function secretPlaceholders(topology: Topology): PatroniSecrets {
  const show = (ref: SecretRef) => ('env' in ref ? `<env ${ref.env}>` : `<file ${ref.file}>`);
  const pg = topology.postgresql;
  return { superuser: show(pg.superuser.password), replication: show(pg.replication.password), rewind: show(pg.rewind.password) };
}
