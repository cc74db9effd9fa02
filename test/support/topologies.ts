// Shared fixtures for the renderer tests: the topologies of the Patroni guide, the tutorials and
// the loopback lab, with PostgreSQL users filled in as env secret refs, plus small helpers.
import assert from 'node:assert/strict';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { topologySchema, type Host, type Topology, type TopologyInput } from '../../topology/schema';

/** A topology as written in a file, except that the PostgreSQL section (users included) is optional. */
export type FixtureInput = Omit<TopologyInput, 'postgresql'> & { postgresql?: Partial<TopologyInput['postgresql']> };

/** Top-level sections to add to a layout, or to replace in it (hosts, etcd, haproxy, postgresql…). */
export type Extra = Partial<FixtureInput>;

/** The three PostgreSQL users, each with its password from an environment variable. */
export const pgUsers = {
  superuser: { password: { env: 'PG_SUPERUSER_PASSWORD' } },
  replication: { password: { env: 'PG_REPLICATION_PASSWORD' } },
  rewind: { password: { env: 'PG_REWIND_PASSWORD' } },
};

export interface Topologies {
  /** Parses a topology; `input.postgresql` is laid over the default version and `pgUsers` (shallowly). */
  topology(input: FixtureInput): Topology;
  /** The guide's 3-machine standalone layout, with its example addresses. */
  standalone(extra?: Extra): Topology;
  /** The guide's 5-machine distributed layout. */
  distributed(extra?: Extra): Topology;
  /** Tutorials 002/003's generic cluster: 3 PostgreSQL nodes that are also the 3 etcd members, 1 HAProxy, no application. */
  generic(extra?: Extra): Topology;
  /** The lab's standalone machines: observer 127.0.0.11 (etcd, HAProxy), node1 .12 and node2 .13 (app + DB). */
  loopbackLab(extra?: Extra): Topology;
}

/** Three machines: an observer (etcd, HAProxy) and two app + DB nodes, as in the guide and the lab. */
function standaloneLayout(cluster: string, [observer, node1, node2]: [string, string, string]): FixtureInput {
  return {
    cluster,
    layout: 'standalone',
    hosts: [
      { name: 'observer', address: observer, roles: ['observer', 'haproxy', 'etcd'] },
      { name: 'node1', address: node1, roles: ['app', 'db'] },
      { name: 'node2', address: node2, roles: ['app', 'db'] },
    ],
    app: { db_password: { env: 'APP_DB_PASSWORD' } },
  };
}

/** The fixtures, with `postgresql.version` defaulting to `postgresVersion`. */
export function topologies(postgresVersion: number): Topologies {
  const topology = (input: FixtureInput): Topology =>
    topologySchema.parse({ ...input, postgresql: { version: postgresVersion, ...pgUsers, ...input.postgresql } });

  return {
    topology,
    standalone: (extra = {}) =>
      topology({ ...standaloneLayout('serviceops', ['172.16.13.42', '172.16.12.171', '172.16.12.177']), ...extra }),
    distributed: (extra = {}) =>
      topology({
        cluster: 'serviceops',
        layout: 'distributed',
        hosts: [
          { name: 'observer', address: '172.16.13.42', roles: ['observer', 'haproxy', 'etcd'] },
          { name: 'app1', address: '172.16.12.171', roles: ['app'] },
          { name: 'app2', address: '172.16.12.177', roles: ['app'] },
          { name: 'db1', address: '172.16.12.202', roles: ['db'] },
          { name: 'db2', address: '172.16.12.216', roles: ['db'] },
        ],
        app: { db_password: { env: 'APP_DB_PASSWORD' } },
        ...extra,
      }),
    generic: (extra = {}) =>
      topology({
        cluster: 'postgres',
        layout: 'patroni',
        hosts: [
          { name: 'node-1', address: '10.0.0.1', roles: ['db', 'etcd'] },
          { name: 'node-2', address: '10.0.0.2', roles: ['db', 'etcd'] },
          { name: 'node-3', address: '10.0.0.3', roles: ['db', 'etcd'] },
          { name: 'node-5', address: '10.0.0.5', roles: ['haproxy'] },
        ],
        ...extra,
      }),
    loopbackLab: (extra = {}) => topology({ ...standaloneLayout('pgha', ['127.0.0.11', '127.0.0.12', '127.0.0.13']), ...extra }),
  };
}

/** The fixtures with PostgreSQL 16 (the guide's version); `topologies(15)` gives the lab's. */
export const { topology, standalone, distributed, generic, loopbackLab } = topologies(16);

/** The host of that name in `t`; fails the test if there is none. */
export function hostNamed(t: Topology, name: string): Host {
  const found = t.hosts.find((h) => h.name === name);
  assert.ok(found, `no host ${name}`);
  return found;
}

/** Where daemons such as haproxy live on Debian, often outside a user's PATH. */
export const SBIN_DIRS = ['/usr/sbin', '/usr/local/sbin'];

/** The full path of an executable on PATH, then in `alsoIn`; undefined if there is none. */
export function findExecutable(name: string, alsoIn: readonly string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...alsoIn];
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}
