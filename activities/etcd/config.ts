// /etc/default/etcd for one etcd member: the five-node tutorial's variables (Step 6; the
// three-node tutorial's three-member cluster), quoted the same way. Debian's etcd.service reads it
// (EnvironmentFile=-/etc/default/%p) and so does its init script (sourced by sh), so the
// quoting below is valid for both. Pure: topology in, file text out.
import type { Host, Topology } from '../../topology/schema';
import { etcdClusterToken, etcdMembers } from '../../topology/derive';
import { schemeOf, tlsPaths } from '../../topology/tls';
import { assertIdentifier } from '../../topology/identifiers';
import { MANAGED_MARKER } from '../shared/component';
import { hashComment, isIpv4, isLoopback, managedHeader, requireRole } from '../shared/render';

export const etcdDefaultsPath = '/etc/default/etcd';

export function renderEtcdDefaults(topology: Topology, host: Host): string {
  requireRole(topology, host, 'etcd', etcdDefaultsPath);
  const { client_port, peer_port, data_dir } = topology.etcd;
  const listenHost = bindableAddress(host.address);
  const scheme = schemeOf(topology);
  const tls = tlsPaths(topology);
  const variables: [string, string][] = [
    ['ETCD_NAME', host.name],
    ['ETCD_DATA_DIR', assertIdentifier('hostPath', data_dir, 'etcd.data_dir', etcdDefaultsPath)],
    ['ETCD_LISTEN_CLIENT_URLS', clientListenUrls(scheme, host.address, listenHost, client_port).join(',')],
    ['ETCD_ADVERTISE_CLIENT_URLS', `${scheme}://${host.address}:${client_port}`],
    ['ETCD_LISTEN_PEER_URLS', `${scheme}://${listenHost}:${peer_port}`],
    ['ETCD_INITIAL_ADVERTISE_PEER_URLS', `${scheme}://${host.address}:${peer_port}`],
    ['ETCD_INITIAL_CLUSTER', etcdMembers(topology).map((m) => `${m.name}=${scheme}://${m.address}:${peer_port}`).join(',')],
    // Only read when the data directory is empty: joining an existing cluster needs "existing".
    ['ETCD_INITIAL_CLUSTER_STATE', 'new'],
    ['ETCD_INITIAL_CLUSTER_TOKEN', assertIdentifier('token', etcdClusterToken(topology), 'etcd.cluster_token', etcdDefaultsPath)],
    // TLS: clients verify the member with the CA and log in with a password (etcd.auth); peers
    // verify each other both ways, so only a holder of a certificate from the CA can join. No
    // ETCD_TRUSTED_CA_FILE: etcd 3.4 then asks every client for a certificate too. etcd reads the
    // files again at each new connection: a new certificate needs no restart.
    ...(tls
      ? ([
          ['ETCD_CERT_FILE', tls.certificate],
          ['ETCD_KEY_FILE', tls.etcdKey],
          ['ETCD_PEER_CERT_FILE', tls.certificate],
          ['ETCD_PEER_KEY_FILE', tls.etcdKey],
          ['ETCD_PEER_TRUSTED_CA_FILE', tls.caBundle],
          ['ETCD_PEER_CLIENT_CERT_AUTH', 'true'],
        ] as [string, string][])
      : []),
  ];
  const header = hashComment([
    ...managedHeader(topology, `etcd member ${host.name}`),
    `Members: ${etcdMembers(topology).length}. Patroni uses the v3 API (etcd3:), so ETCD_ENABLE_V2 is not set.`,
  ]);
  return `${header}\n${variables.map(([k, v]) => `${k}=${quote(k, v)}`).join('\n')}\n`;
}

/**
 * etcd binds listen URLs to IP addresses only ("expected IP in URL for binding"); for a host
 * known by DNS name it listens on every interface and advertises the name.
 */
function bindableAddress(address: string): string {
  return isIpv4(address) ? address : '0.0.0.0';
}

/**
 * The member's own address, plus 127.0.0.1 so local tools (etcdctl's default endpoint) work.
 * Not on a loopback lab: there several members share 127.0.0.1 and only one could bind it.
 * Not when listening on 0.0.0.0 either, which already covers it.
 */
function clientListenUrls(scheme: string, address: string, listenHost: string, port: number): string[] {
  const urls = [`${scheme}://${listenHost}:${port}`];
  if (listenHost !== '0.0.0.0' && !isLoopback(address)) urls.push(`${scheme}://127.0.0.1:${port}`);
  return urls;
}

/**
 * Double quotes as in the tutorial. Inside them both sh and systemd's EnvironmentFile treat
 * `\` before `"`, `\`, `$` or a backquote as an escape, so those four are escaped (and sh
 * does not expand `$`). A line break would be legal in both but has no sane use in these
 * values and would make the file hard to read, so it is refused.
 */
function quote(key: string, value: string): string {
  if (/[\n\r\0]/.test(value)) throw new Error(`${etcdDefaultsPath}: ${key} must not contain a line break`);
  return `"${value.replace(/[\\"$`]/g, (c) => `\\${c}`)}"`;
}

/**
 * Why etcd's settings on a host cannot be moved to the topology's in place, or undefined: a member
 * haflow configured to speak one scheme (http or https) while the topology asks for the other.
 * Rewriting its settings would restart every member on the other scheme at once, each refusing its
 * peers' old URLs, and Patroni's connections with them: the cluster would stop taking writes.
 */
export function etcdSchemeChange(defaults: string, topology: Topology, options: { movingToTls?: boolean } = {}): { found: string; remedy: string } | undefined {
  if (!defaults.includes(MANAGED_MARKER)) return undefined;
  const current = defaults.match(/^ETCD_LISTEN_CLIENT_URLS="?(https?):\/\//m)?.[1];
  const wanted = schemeOf(topology);
  if (!current || current === wanted) return undefined;
  // The move to TLS (runbooks/tls-move.ts) restarts the members one at a time, Patroni paused.
  if (current === 'http' && options.movingToTls) return undefined;
  return current === 'http'
    ? {
        found: `etcd was installed without TLS (${current}://), and the topology now asks for TLS on every plane`,
        remedy: 'move it with `haflow install <topology> --to-tls`, which restarts each plane on TLS in an order that keeps the cluster writable (docs/security.md), or keep `security: { insecure: true }` in this topology',
      }
    : {
        found: 'etcd was installed with TLS (https://), and the topology now asks for plain text (security.insecure)',
        remedy: 'remove `security: { insecure: true }` from the topology: haflow does not take TLS off a running cluster',
      };
}
