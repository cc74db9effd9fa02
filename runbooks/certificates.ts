// `haflow certs rotate` as data: every host's key and certificate made new, one host at a time
// (the etcd members first, then the DB nodes, the leader last), each followed by a check that every
// TLS port of the host presents the new certificate. Nothing restarts: PostgreSQL and Patroni
// reload, etcd reads its files at each new connection. The write probe runs throughout
// (workflows/certificates.ts), so the report states every write pause: the target is none.
import { dbHosts, etcdMembers, haproxyHosts } from '../topology/derive';
import { certificateHosts } from '../topology/tls';
import type { Topology } from '../topology/schema';
import { stepOf, type Runbook, type Step } from './runbook';

export interface RotationArgs {
  /** The leader when planned: its turn comes last. */
  leader: string;
}

export function rotationSteps(topology: Topology, args: RotationArgs): Runbook {
  const hb = { heartbeatSeconds: 10 };
  const { leader } = args;
  const order = certificateHosts(topology)
    .map((h) => h.name)
    .sort((a, b) => rank(topology, a, leader) - rank(topology, b, leader));
  const turn = (host: string): Step[] => [
    stepOf('ensureHostCertificate', { ...hb, id: `tls.renew@${host}`, title: `${host}: a new key made on it, a new certificate from the cluster's CA, both put in place beside the old; PostgreSQL and Patroni reloaded`, kind: 'change', host, timeoutSeconds: 120 }, { host, renew: true }),
    stepOf('hostServesCertificate', { ...hb, id: `tls.serving@${host}`, title: `Every TLS port of ${host} presents its new certificate`, kind: 'verify', host, timeoutSeconds: 90 }, { host, waitSeconds: 60 }),
  ];
  const items: Step[] = [
    stepOf('clusterHealthy', { ...hb, id: 'certs.gate', title: `Gate: one leader (${leader}), every replica streaming, HAProxy on the leader`, kind: 'guard', guard: 'a rotation starts only on a healthy cluster, with the leader it was planned for', timeoutSeconds: 60 }, { leader }),
    stepOf('ensureProbeDatabase', { ...hb, id: `postgres.probe-database@${leader}`, mark: 'probe-from', title: `The write probe's own database (haflow_probe) on ${leader}`, kind: 'change', host: leader, timeoutSeconds: 120 }, { host: leader }),
    stepOf('ensureCertificateAuthority', { ...hb, id: 'tls.ca', title: "The cluster's certificate authority on the worker", kind: 'guard', guard: 'the CA that signs the new certificates is the one every host trusts', timeoutSeconds: 60 }, {}),
    ...order.flatMap(turn),
    stepOf('etcdHealthy', { ...hb, id: 'etcd.healthy', title: `etcd healthy on all ${etcdMembers(topology).length} member(s)`, kind: 'verify', timeoutSeconds: 120 }, {}),
    stepOf('verifyWriteThroughHaproxy', { ...hb, id: 'certs.write', title: `A write through HAProxy lands on the leader and is readable on every replica`, kind: 'verify', timeoutSeconds: 180 }, { host: haproxyHosts(topology)[0].name }),
    stepOf('clusterHealthy', { ...hb, id: 'certs.healthy-after', mark: 'probe-until', title: 'The cluster is healthy: one leader, every replica streaming, HAProxy on the leader', kind: 'verify', timeoutSeconds: 150 }, { waitSeconds: 120 }),
  ];
  return { name: 'rotate', cluster: topology.cluster, items };
}

/** etcd members first (no DB on them), then DB replicas, the leader last. */
function rank(topology: Topology, host: string, leader: string): number {
  if (host === leader) return 2;
  return dbHosts(topology).some((h) => h.name === host) ? 1 : 0;
}
