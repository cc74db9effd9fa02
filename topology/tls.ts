// What TLS means for a topology: which hosts hold a certificate, where its files live on them, and
// where the cluster's certificate authority lives on the worker. Pure: every part that writes,
// reads or checks a certificate asks here, so they agree on names and paths.
import { hostsWithRole } from './derive';
import type { Host, SecretRef, Topology } from './schema';

/** The files of a host's TLS, under tls.dir. Keys are 0600, each owned by the one user that reads it. */
export interface TlsPaths {
  dir: string;
  /** The CA certificates a client trusts (0644): one, or two while the CA itself is replaced. */
  caBundle: string;
  /** The host's certificate (0644). */
  certificate: string;
  /** The host's key as made on the host (root). */
  key: string;
  /** The same key for etcd, which runs as etcd. */
  etcdKey: string;
  /** The same key for PostgreSQL and Patroni, which run as postgres (PostgreSQL refuses a key others can read). */
  postgresKey: string;
}

export function tlsPaths(topology: Topology): TlsPaths | undefined {
  const dir = topology.tls?.dir;
  if (!dir) return undefined;
  return {
    dir,
    caBundle: `${dir}/ca.crt`,
    certificate: `${dir}/host.crt`,
    key: `${dir}/host.key`,
    etcdKey: `${dir}/etcd.key`,
    postgresKey: `${dir}/postgres.key`,
  };
}

/** tlsPaths for code that runs only when TLS is on. */
export function requireTlsPaths(topology: Topology): TlsPaths {
  const paths = tlsPaths(topology);
  if (!paths) throw new Error(`cluster ${topology.cluster} has no tls section: its control planes are plain text`);
  return paths;
}

/** Hosts that serve TLS (etcd members, DB nodes), each with one certificate. */
export function certificateHosts(topology: Topology): Host[] {
  if (!topology.tls) return [];
  const serving = new Set([...hostsWithRole(topology, 'etcd'), ...hostsWithRole(topology, 'db')]);
  return topology.hosts.filter((h) => serving.has(h));
}

/** Hosts that connect to a TLS plane and so need the CA bundle: every host of the cluster. */
export function caBundleHosts(topology: Topology): Host[] {
  return topology.tls ? topology.hosts : [];
}

/** The users each of a host's keys is copied for, by the services it runs. */
export function keyOwners(topology: Topology, host: Host): { user: string; path: string }[] {
  const paths = requireTlsPaths(topology);
  return [
    ...(host.roles.includes('etcd') ? [{ user: 'etcd', path: paths.etcdKey }] : []),
    ...(host.roles.includes('db') ? [{ user: 'postgres', path: paths.postgresKey }] : []),
  ];
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * The names a host's certificate is valid for: its name and address as the topology gives them,
 * and the loopback names local tools use (etcdctl's and psql's defaults).
 */
export function certificateNames(host: Host): { dns: string[]; ips: string[] } {
  const dns = [host.name, ...(IPV4.test(host.address) ? [] : [host.address]), 'localhost'];
  const ips = [...(IPV4.test(host.address) ? [host.address] : []), '127.0.0.1'];
  return { dns: [...new Set(dns)], ips: [...new Set(ips)] };
}

/** haflow's CA for the cluster on the worker; undefined when the site issues the certificates (or there is no TLS). */
export function certificateAuthority(topology: Topology): { certificate: string; key: SecretRef; field: string } | undefined {
  const tls = topology.tls;
  if (!tls || tls.site) return undefined;
  const dir = `~/.haflow/pki/${topology.cluster}`;
  return {
    certificate: tls.ca?.certificate ?? `${dir}/ca.crt`,
    key: tls.ca?.key ?? { file: `${dir}/ca.key` },
    field: tls.ca?.key ? 'tls.ca.key' : `tls.ca.key (default ${dir}/ca.key)`,
  };
}

/** Where the worker finds the certificates a client of the cluster trusts. */
export function trustedBundleFile(topology: Topology): string | undefined {
  const tls = topology.tls;
  if (!tls) return undefined;
  return tls.site ? tls.site.ca_bundle : certificateAuthority(topology)!.certificate;
}

/** The URL scheme of etcd and Patroni's REST API: https with TLS. */
export function schemeOf(topology: Topology): 'https' | 'http' {
  return topology.tls ? 'https' : 'http';
}

/**
 * The topology as a cluster installed without TLS runs it: the same machines, passwords and
 * timings with plain text on every plane. Moving such a cluster to TLS reads it this way until each
 * plane has moved.
 */
export function plainTextOf(topology: Topology): Topology {
  const { tls: _tls, ...rest } = topology;
  return { ...rest, security: { ...topology.security, insecure: true } } as Topology;
}
