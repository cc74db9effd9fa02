// `haflow certs rotate` as data: every host's key and certificate made new, one host at a time
// (the etcd members first, then the DB nodes, the leader last), each followed by a check that every
// TLS port of the host presents the new certificate. Nothing restarts: PostgreSQL and Patroni
// reload, etcd reads its files at each new connection. With --ca a new CA comes first, trusted
// beside the old by every host before any certificate changes (etcd restarts a member at a time to
// read that bundle). The write probe runs throughout (workflows/certificates.ts), so the report
// states every write pause: the target is none.
import { dbHosts, etcdMembers, haproxyHosts } from '../topology/derive';
import { caBundleHosts, certificateHosts } from '../topology/tls';
import type { Topology } from '../topology/schema';
import { stepOf, type Runbook, type Step } from './runbook';

export interface RotationArgs {
  /** The leader when planned: its turn comes last. */
  leader: string;
  /** A CA rotation: the serial of the CA it replaces (the one signing when planned). */
  ca?: { replacing: string };
}

export function rotationSteps(topology: Topology, args: RotationArgs): Runbook {
  const hb = { heartbeatSeconds: 10 };
  const { leader, ca } = args;
  const byTurn = (hosts: { name: string }[]) => hosts.map((h) => h.name).sort((a, b) => rank(topology, a, leader) - rank(topology, b, leader));
  const order = byTurn(certificateHosts(topology));
  // A CA rotation renews because the issuer changed: a retry after a crash does not issue twice.
  const turn = (host: string): Step[] => [
    stepOf('ensureHostCertificate', { ...hb, id: `tls.renew@${host}`, title: `${host}: a new key made on it, a new certificate from the ${ca ? 'new CA' : "cluster's CA"}, both put in place beside the old; PostgreSQL and Patroni reloaded`, kind: 'change', host, timeoutSeconds: 120 }, { host, renew: !ca }),
    stepOf('hostServesCertificate', { ...hb, id: `tls.serving@${host}`, title: `Every TLS port of ${host} presents its new certificate`, kind: 'verify', host, timeoutSeconds: 90 }, { host, waitSeconds: 60 }),
  ];
  const items: Step[] = [
    stepOf('clusterHealthy', { ...hb, id: 'certs.gate', title: `Gate: one leader (${leader}), every replica streaming, HAProxy on the leader`, kind: 'guard', guard: 'a rotation starts only on a healthy cluster, with the leader it was planned for', timeoutSeconds: 60 }, { leader }),
    stepOf('ensureProbeDatabase', { ...hb, id: `postgres.probe-database@${leader}`, mark: 'probe-from', title: `The write probe's own database (haflow_probe) on ${leader}`, kind: 'change', host: leader, timeoutSeconds: 120 }, { host: leader }),
    stepOf('ensureCertificateAuthority', { ...hb, id: 'tls.ca', title: "The cluster's certificate authority on the worker", kind: 'guard', guard: 'the CA that signs the new certificates is the one every host trusts', timeoutSeconds: 60 }, {}),
    ...(ca ? authorityRotation(topology, ca.replacing, byTurn(caBundleHosts(topology)), order.flatMap(turn)) : order.flatMap(turn)),
    stepOf('etcdHealthy', { ...hb, id: 'etcd.healthy', title: `etcd healthy on all ${etcdMembers(topology).length} member(s)`, kind: 'verify', timeoutSeconds: 120 }, {}),
    stepOf('verifyWriteThroughHaproxy', { ...hb, id: 'certs.write', title: `A write through HAProxy lands on the leader and is readable on every replica`, kind: 'verify', timeoutSeconds: 180 }, { host: haproxyHosts(topology)[0].name }),
    stepOf('clusterHealthy', { ...hb, id: 'certs.healthy-after', mark: 'probe-until', title: 'The cluster is healthy: one leader, every replica streaming, HAProxy on the leader', kind: 'verify', timeoutSeconds: 150 }, { waitSeconds: 120 }),
  ];
  return { name: 'rotate', cluster: topology.cluster, items };
}

/**
 * A new CA: it signs from the first step, every host trusts it beside the old one before any
 * certificate changes, every host's certificate is issued by it, and then the old one leaves the
 * bundles. etcd restarts a member at a time at each change of the bundle (it reads its peers' CAs
 * only at start); HAProxy reloads.
 */
function authorityRotation(topology: Topology, replacing: string, hosts: string[], renewals: Step[]): Step[] {
  const hb = { heartbeatSeconds: 10 };
  const trust = (host: string, phase: 'both' | 'new'): Step =>
    stepOf('ensureHostTrust', {
      ...hb,
      id: `tls.trust-${phase}@${host}`,
      title: phase === 'both' ? `${host} trusts the new CA and the old (etcd restarted, HAProxy reloaded where they run)` : `${host} trusts only the new CA (etcd restarted, HAProxy reloaded where they run)`,
      kind: 'change',
      host,
      timeoutSeconds: 120,
    }, { host });
  return [
    stepOf('startAuthorityRotation', { ...hb, id: 'tls.ca.new', title: `A new CA on the worker signs from now on; the bundle trusts it and the old one (serial ${replacing.slice(0, 12)}…), whose key is kept`, kind: 'change', timeoutSeconds: 60 }, { replacing }),
    ...hosts.map((host) => trust(host, 'both')),
    ...renewals,
    stepOf('finishAuthorityRotation', { ...hb, id: 'tls.ca.drop', title: `The old CA (serial ${replacing.slice(0, 12)}…) leaves the worker's bundle, once every host's certificate is from the new one`, kind: 'change', timeoutSeconds: 120 }, { replacing }),
    ...hosts.map((host) => trust(host, 'new')),
  ];
}

/** etcd members first (no DB on them), then DB replicas, the leader last. */
function rank(topology: Topology, host: string, leader: string): number {
  if (host === leader) return 2;
  return dbHosts(topology).some((h) => h.name === host) ? 1 : 0;
}
