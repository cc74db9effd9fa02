// A member's client endpoint as haflow's own reads reach it: HTTPS verified with the cluster's CA
// when the cluster has TLS. /health needs no login, even with etcd's authentication on.
import type { Host, Topology } from '../../topology';
import { schemeOf } from '../../topology/tls';
import { httpGet } from '../shared/step';
import { clusterTrust } from '../tls/authority';

export function etcdUrl(topology: Topology, member: Host, path = ''): string {
  return `${schemeOf(topology)}://${member.address}:${topology.etcd.client_port}${path}`;
}

/** Async, so that a missing CA bundle is a rejection like any other failure to read. */
export async function etcdGet(topology: Topology, member: Host, path: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return httpGet(etcdUrl(topology, member, path), timeoutMs, {}, clusterTrust(topology));
}
