// PostgreSQL in the classic layout: Debian's own cluster (<version>/main, which holds the
// application's database), streamed from the master to the slave without Patroni. haflow writes
// two files there: a conf.d file with the replication settings (Debian's postgresql.conf reads
// conf.d/, and its own settings stay as the application's installer left them) and pg_hba.conf.
// Pure: both depend on the topology alone and hold no password.
import type { Host, Topology } from '../../topology/schema';
import { classicCluster } from '../../topology/derive';
import { tlsPaths } from '../../topology/tls';
import type { PgValue } from '../patroni/config';
import type { ManagedFile } from '../shared/remote-files';
import { managedHeader, requireRole } from '../shared/render';
import { pgHbaRules } from './hba';

export const streamingConfName = 'haflow-streaming.conf';

/** What both nodes run with, so that the slave, once promoted, streams to the old master rebuilt as its standby. */
function streamingParameters(topology: Topology, host: Host): Record<string, PgValue> {
  const parameters: Record<string, PgValue> = {
    // Its own address only: the machines of a loopback lab share 127.0.0.1.
    listen_addresses: host.address,
    port: topology.postgresql.port,
    wal_level: 'replica',
    max_wal_senders: 10,
    max_replication_slots: 10,
    // Enough WAL kept for a slave that was away for a while to catch up without a new base backup.
    wal_keep_size: '1GB',
    hot_standby: 'on',
    wal_log_hints: 'on', // pg_rewind, when the old master is rebuilt as a standby
    password_encryption: 'scram-sha-256',
  };
  // TLS: the host's certificate, read again at each reload (Debian's own snakeoil settings in
  // postgresql.conf come earlier, and conf.d wins).
  const tls = tlsPaths(topology);
  if (tls) Object.assign(parameters, { ssl: 'on', ssl_cert_file: tls.certificate, ssl_key_file: tls.postgresKey, ssl_min_protocol_version: 'TLSv1.2' });
  for (const [key, value] of Object.entries(topology.postgresql.parameters)) {
    parameters[key] = typeof value === 'boolean' ? (value ? 'on' : 'off') : value;
  }
  return parameters;
}

/** A value as postgresql.conf takes it: numbers bare, everything else single-quoted. */
function confValue(value: PgValue): string {
  return typeof value === 'number' ? String(value) : `'${String(value).replace(/'/g, "''")}'`;
}

export function renderStreamingConf(topology: Topology, host: Host): string {
  requireRole(topology, host, 'db', streamingConfName);
  const header = managedHeader(topology, `streaming replication settings of PostgreSQL on ${host.name}`).map((l) => `# ${l}`);
  const lines = Object.entries(streamingParameters(topology, host)).map(([key, value]) => `${key} = ${confValue(value)}`);
  return `${[...header, ...lines].join('\n')}\n`;
}

export function renderClassicPgHba(topology: Topology, host: Host): string {
  const path = `${classicCluster(topology).confDir}/pg_hba.conf`;
  requireRole(topology, host, 'db', path);
  const header = managedHeader(topology, `who may connect to PostgreSQL on ${host.name}`).map((l) => `# ${l}`);
  return `${[...header, ...pgHbaRules(topology, path)].join('\n')}\n`;
}

/** start.conf: the cluster starts at boot (Debian's systemd generator reads it); a fenced node's says manual. */
export function renderClassicStartConf(topology: Topology, host: Host): string {
  const header = managedHeader(topology, `PostgreSQL on ${host.name} starts at boot (a failover's fence sets manual)`).map((l) => `# ${l}`);
  return `${[...header, 'auto'].join('\n')}\n`;
}

/** The files haflow writes for PostgreSQL on a classic DB node, the conf.d file first. */
export function classicPostgresFiles(topology: Topology, host: Host): ManagedFile[] {
  const { confDir } = classicCluster(topology);
  return [
    { path: `${confDir}/conf.d/${streamingConfName}`, content: renderStreamingConf(topology, host), owner: 'postgres', group: 'postgres', mode: 0o644 },
    { path: `${confDir}/pg_hba.conf`, content: renderClassicPgHba(topology, host), owner: 'postgres', group: 'postgres', mode: 0o640 },
    { path: `${confDir}/start.conf`, content: renderClassicStartConf(topology, host), owner: 'postgres', group: 'postgres', mode: 0o644 },
  ];
}
