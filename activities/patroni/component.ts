// Patroni as a component: it runs PostgreSQL on each DB node and holds the leader key in etcd.
import type { Host, Topology } from '../../topology/schema';
import type { HbaOptions } from '../postgres/hba';
import type { Component, SecretText } from '../shared/component';
import type { ManagedFile } from '../shared/remote-files';
import { patroniConfigPath, renderPatroniYml } from './config';
import { patroniUnitPath, renderPatroniUnit } from './unit';

export const patroniComponent: Component = {
  name: 'patroni',
  role: 'db',
  service: 'patroni',
  // python3-idna: urllib3 needs it for https (etcd and the other members' REST API with TLS); Debian's patroni does not depend on it.
  packages: (_topology, family) => (family === 'apt' ? ['patroni', 'python3-etcd', 'python3-psycopg2', 'python3-idna'] : ['patroni', 'patroni-etcd']),
  files: (topology, host, secret) => patroniFiles(topology, host, secret),
  foreignConfigs: [
    { path: patroniConfigPath, pattern: '^(scope|etcd3?):' },
    { path: '/etc/patroni/patroni.yml', pattern: '^(scope|etcd3?):' },
  ],
};

/** Patroni's files on a DB node; `hba` as pgHbaRules takes it (a move to TLS accepts plain text for a while). */
export function patroniFiles(topology: Topology, host: Host, secret: SecretText, hba: HbaOptions = {}): ManagedFile[] {
  // The classic layout streams without Patroni.
  if (topology.layout === 'classic') return [];
  const pg = topology.postgresql;
  // Patroni creates these roles at bootstrap, quoting each password as Latin-1 and reading it
  // back as UTF-8 (Patroni 3.0, Debian 12's): any other character crashes the bootstrap.
  const createdByPatroni = { asciiBecause: 'Patroni creates this role at bootstrap and crashes on such a password (it quotes it as Latin-1)' };
  const passwords = {
    superuser: secret(pg.superuser.password, 'postgresql.superuser.password', createdByPatroni),
    replication: secret(pg.replication.password, 'postgresql.replication.password', createdByPatroni),
    rewind: secret(pg.rewind.password, 'postgresql.rewind.password', createdByPatroni),
    ...(topology.patroni.rest_api_auth ? { restApi: secret(topology.patroni.rest_api_auth.password, 'patroni.rest_api_auth.password') } : {}),
    ...(topology.etcd.auth ? { etcd: secret(topology.etcd.auth.password, 'etcd.auth.password') } : {}),
  };
  return [
    // Holds the database passwords: readable by root and the postgres group only.
    { path: patroniConfigPath, content: renderPatroniYml(topology, host, passwords, hba), owner: 'root', group: 'postgres', mode: 0o640, secret: 'passwords' },
    { path: patroniUnitPath, content: renderPatroniUnit(topology), owner: 'root', group: 'root', mode: 0o644 },
  ];
}
