// Patroni's REST API as the tests read it directly (not through haflow's activities): HTTPS with
// the cluster's CA from the worker when the topology has TLS, plain HTTP otherwise.
import { httpCall, type HttpOptions } from '../../activities/shared/step';
import { clusterTrust } from '../../activities/tls/authority';
import { schemeOf, type Topology } from '../../topology';

/** A request to `path` of the REST API at `address` (port 8008 by the topology). */
export function rest(topology: Topology, address: string, path: string, options: Omit<HttpOptions, 'tls'> = {}): Promise<{ status: number; body: string }> {
  const trust = clusterTrust(topology);
  return httpCall(`${schemeOf(topology)}://${address}:${topology.patroni.rest_api_port}${path}`, { timeoutMs: 2000, ...options, ...(trust ? { tls: trust } : {}) });
}

/** GET `path` and parse its JSON (Patroni answers 503 with a body on a replica: that is a JSON too). */
export async function restJson<T>(topology: Topology, address: string, path: string): Promise<T> {
  return JSON.parse((await rest(topology, address, path)).body) as T;
}
