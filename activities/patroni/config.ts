// /etc/patroni/config.yml for one DB node, in the five-node tutorial's shape (Step 7) with
// the `etcd3:` section that works against etcd 3.4 (see below). Pure: the caller resolves
// the secret references and passes the passwords in; the result holds them, so the activity
// writes it root:postgres 0640.
import { Document } from 'yaml';
import type { Host, Topology } from '../../topology/schema';
import { etcdClientEndpoints, patroniScope, postgresBinDir } from '../../topology/derive';
import { tlsPaths } from '../../topology/tls';
import { archiveCommands } from '../backup/config';
import { pgHbaRules, type HbaOptions } from '../postgres/hba';
import { managedHeader, requireRole } from '../shared/render';

/** Where Debian's patroni.service (ExecStart=/usr/bin/patroni /etc/patroni/config.yml) reads it. */
export const patroniConfigPath = '/etc/patroni/config.yml';

/** Resolved passwords of the three PostgreSQL users Patroni manages. */
export interface PatroniSecrets {
  superuser: string;
  replication: string;
  rewind: string;
  /** The REST API's password, when patroni.rest_api_auth is set. */
  restApi?: string;
  /** Patroni's etcd password, when etcd.auth is set. */
  etcd?: string;
}

export type PgValue = string | number;

type PgUser = { username: string; password: string; sslmode?: string; sslrootcert?: string };

/** The shape of the rendered file (what Patroni reads); tests parse the file back into it. */
export interface PatroniConfig {
  scope: string;
  namespace: string;
  name: string;
  restapi: { listen: string; connect_address: string; authentication?: PgUser; certfile?: string; keyfile?: string; cafile?: string };
  ctl?: { cacert: string };
  etcd3: { hosts: string[]; protocol?: 'https'; cacert?: string; username?: string; password?: string };
  bootstrap: {
    dcs: {
      ttl: number;
      loop_wait: number;
      retry_timeout: number;
      maximum_lag_on_failover: number;
      synchronous_mode: boolean | 'quorum';
      synchronous_mode_strict: boolean;
      postgresql: { use_pg_rewind: boolean; use_slots: boolean; parameters: Record<string, PgValue> };
    };
    initdb: (string | Record<string, string>)[];
    pg_hba: string[];
  };
  postgresql: {
    listen: string;
    connect_address: string;
    data_dir: string;
    bin_dir: string;
    pgpass: string;
    pg_hba?: string[];
    basebackup: Record<string, string>[];
    create_replica_methods?: string[];
    pgbackrest?: { command: string; keep_data: boolean; no_params: boolean };
    recovery_conf?: { restore_command: string };
    authentication: { superuser: PgUser; replication: PgUser; rewind: PgUser };
    parameters: Record<string, PgValue>;
  };
  tags: { nofailover: boolean; noloadbalance: boolean; clonefrom: boolean; nosync: boolean };
}

export function renderPatroniYml(topology: Topology, host: Host, secrets: PatroniSecrets, hba: HbaOptions = {}): string {
  requireRole(topology, host, 'db', patroniConfigPath);
  const { patroni, postgresql } = topology;
  const tls = tlsPaths(topology);
  // With TLS every TCP login verifies the server as libpq's verify-full does: the CA, and the
  // address it dialled among the certificate's names.
  const verified = tls ? { sslmode: 'verify-full', sslrootcert: tls.caBundle } : {};
  const config: PatroniConfig = {
    scope: patroniScope(topology),
    namespace: patroni.namespace,
    name: host.name,
    restapi: {
      listen: `${host.address}:${patroni.rest_api_port}`,
      connect_address: `${host.address}:${patroni.rest_api_port}`,
      // Patroni asks for it on its unsafe endpoints only; patronictl on the host reads it from here too.
      ...(patroni.rest_api_auth && secrets.restApi !== undefined ? { authentication: { username: patroni.rest_api_auth.username, password: secrets.restApi } } : {}),
      // HTTPS. The members also call each other's API (in a leader race): they verify with cafile.
      // Patroni loads a new certificate when it reloads and finds another serial number.
      ...(tls ? { certfile: tls.certificate, keyfile: tls.postgresKey, cafile: tls.caBundle } : {}),
    },
    // patronictl on the host verifies the REST API with it.
    ...(tls ? { ctl: { cacert: tls.caBundle } } : {}),
    // `etcd3:`, not the tutorial's `etcd:`: the v2 API is off by default in etcd 3.4 and
    // Patroni loops forever on "404 page not found" from /v2.
    etcd3: {
      hosts: etcdClientEndpoints(topology),
      ...(tls ? { protocol: 'https' as const, cacert: tls.caBundle } : {}),
      ...(topology.etcd.auth && secrets.etcd !== undefined ? { username: topology.etcd.auth.username, password: secrets.etcd } : {}),
    },
    bootstrap: {
      // Written to the DCS once, when the cluster is initialised; afterwards change it with
      // `patronictl edit-config`. Rule of thumb: loop_wait + 2 * retry_timeout <= ttl.
      dcs: {
        ...desiredDynamicConfig(topology),
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          parameters: dcsParameters(topology),
        },
      },
      initdb: [{ encoding: 'UTF8' }, 'data-checksums'],
      pg_hba: pgHbaRules(topology, patroniConfigPath),
    },
    postgresql: {
      listen: `${host.address}:${postgresql.port}`,
      connect_address: `${host.address}:${postgresql.port}`,
      data_dir: postgresql.data_dir,
      bin_dir: postgresBinDir(topology),
      pgpass: '/var/lib/postgresql/.pgpass_patroni',
      // With TLS, pg_hba is Patroni's to write on every node (not only at bootstrap), so that a
      // cluster that gains TLS also gains its hostssl rules.
      ...(tls ? { pg_hba: pgHbaRules(topology, patroniConfigPath, hba) } : {}),
      // A new replica's pg_basebackup otherwise waits for a spread checkpoint on the leader
      // (up to checkpoint_timeout × checkpoint_completion_target: minutes on an idle cluster).
      basebackup: [{ checkpoint: 'fast' }],
      ...backupSettings(topology),
      authentication: {
        // While a running cluster moves to TLS, Patroni's own login takes TLS when the server offers
        // it (libpq's prefer): Patroni 4 logs in to its PostgreSQL before it reloads it with ssl on,
        // and a login that requires TLS then fails and Patroni exits. The move ends verified.
        superuser: { username: postgresql.superuser.username, password: secrets.superuser, ...(tls && hba.plainTextToo ? { sslmode: 'prefer' } : verified) },
        replication: { username: postgresql.replication.username, password: secrets.replication, ...verified },
        rewind: { username: postgresql.rewind.username, password: secrets.rewind, ...verified },
      },
      // Debian's socket directory (the tutorial's '.' would put it in the data directory,
      // where `sudo -u postgres psql` does not look). PostgreSQL reads its certificate and key
      // again when it reloads.
      parameters: {
        unix_socket_directories: '/var/run/postgresql',
        ...(tls ? { ssl: 'on', ssl_cert_file: tls.certificate, ssl_key_file: tls.postgresKey, ssl_min_protocol_version: 'TLSv1.2' } : {}),
        ...archiveParameters(topology),
      },
    },
    tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
  };

  // Patroni reads the file with PyYAML, which follows YAML 1.1: there a bare `on`, `yes`,
  // `off` or `1:20` is not a string. Stringifying as 1.1 quotes every such value, so a
  // password like `yes` or a parameter like hot_standby "on" arrives as the string it is.
  const doc = new Document(config, { version: '1.1' });
  doc.commentBefore = [
    ...managedHeader(topology, `Patroni on ${host.name}`),
    'Holds passwords: keep it root:postgres, mode 0640.',
  ]
    .map((l) => ` ${l}`)
    .join('\n');
  return doc.toString({ lineWidth: 0 });
}

/**
 * With backups, every node's archive_command pushes to the repository: only a primary archives
 * (archive_mode on), so whichever node leads after a failover archives there with no action by
 * anyone. A switch to a new WAL file at least every archive_timeout bounds how far the archive
 * lags while the leader writes.
 */
function archiveParameters(topology: Topology): Record<string, PgValue> {
  if (!topology.backup) return {};
  return { archive_mode: 'on', archive_command: archiveCommands(topology).archive, archive_timeout: topology.backup.archive_timeout_seconds };
}

/** With backups, a new or rebuilt replica copies from the repository first (the leader does not pay for it), from the leader when that fails. */
function backupSettings(topology: Topology): Pick<PatroniConfig['postgresql'], 'create_replica_methods' | 'pgbackrest' | 'recovery_conf'> {
  if (!topology.backup) return {};
  const commands = archiveCommands(topology);
  return {
    create_replica_methods: ['pgbackrest', 'basebackup'],
    // keep_data: pgBackRest's --delta reuses what an old data directory holds; no_params: it takes no connection string from Patroni.
    pgbackrest: { command: commands.replica, keep_data: true, no_params: true },
    recovery_conf: { restore_command: commands.restore },
  };
}

/** Replication essentials from the lab's working config, then the operator's own parameters. */
function dcsParameters(topology: Topology): Record<string, PgValue> {
  const parameters: Record<string, PgValue> = {
    wal_level: 'replica',
    hot_standby: 'on',
    wal_log_hints: 'on', // pg_rewind needs it (data-checksums alone would do, but be explicit)
    max_wal_senders: 10,
    max_replication_slots: 10,
  };
  for (const [key, value] of Object.entries(topology.postgresql.parameters)) {
    // Booleans spelled the way PostgreSQL and the tutorial write them (hot_standby: "on").
    parameters[key] = typeof value === 'boolean' ? (value ? 'on' : 'off') : value;
  }
  return parameters;
}

/** The dynamic configuration the topology asks for: bootstrapped once, then applied with PATCH /config. */
export type DynamicSettings = Record<'ttl' | 'loop_wait' | 'retry_timeout' | 'maximum_lag_on_failover', number> & {
  /** Patroni 4 takes `quorum` here besides true and false. */
  synchronous_mode: boolean | 'quorum';
  synchronous_mode_strict: boolean;
};

export function desiredDynamicConfig(topology: Topology): DynamicSettings {
  const p = topology.patroni;
  return {
    ttl: p.ttl,
    loop_wait: p.loop_wait,
    retry_timeout: p.retry_timeout,
    maximum_lag_on_failover: p.maximum_lag_on_failover,
    synchronous_mode: p.synchronous_mode === 'quorum' ? 'quorum' : p.synchronous_mode !== 'off',
    synchronous_mode_strict: p.synchronous_mode === 'strict',
  };
}
