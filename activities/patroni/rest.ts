// Patroni's REST API as haflow reads it: the cluster's members, their roles, states and lag.
import type { Host, Topology } from '../../topology';
import { dbHosts } from '../../topology';
export { memberIsReplica, memberRuns } from './member-state';
import type { HostInput } from '../contract';
import { resolveSecret } from '../shared/secrets';
import { plainTextOf, schemeOf } from '../../topology/tls';
import { hostOf, httpCall, httpGet, type HttpOptions } from '../shared/step';
import { rememberSecret } from '../shared/step-activity';
import { clusterTrust } from '../tls/authority';

export interface PatroniMember {
  name: string;
  role: string;
  state: string;
  host: string;
  lag?: number | string;
  timeline?: number;
}

export const restUrl = (topology: Topology, host: Host, path: string) => `${schemeOf(topology)}://${host.address}:${topology.patroni.rest_api_port}${path}`;

/** GET on one member's REST API (HTTPS verified with the cluster's CA when it has TLS). */
export async function restGet(topology: Topology, host: Host, path: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return httpGet(restUrl(topology, host, path), timeoutMs, {}, clusterTrust(topology));
}

/** An unsafe request (POST, PATCH, DELETE) to one member: authenticated with patroni.rest_api_auth, a JSON body if any. */
export async function restSend(topology: Topology, host: Host, path: string, method: NonNullable<HttpOptions['method']>, body: unknown, timeoutMs: number): Promise<{ status: number; body: string }> {
  const trust = clusterTrust(topology);
  return httpCall(restUrl(topology, host, path), {
    method,
    headers: unsafeRequestHeaders(topology, body === undefined ? {} : { 'content-type': 'application/json' }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    timeoutMs,
    ...(trust ? { tls: trust } : {}),
  });
}

/**
 * The headers of a request to an unsafe endpoint (POST, PATCH, DELETE): with patroni.rest_api_auth,
 * basic authentication, resolved here on the worker and redacted from the step's result and errors.
 */
export function unsafeRequestHeaders(topology: Topology, headers: Record<string, string> = {}): Record<string, string> {
  const auth = topology.patroni.rest_api_auth;
  if (!auth) return headers;
  const password = resolveSecret(auth.password, 'patroni.rest_api_auth.password');
  const token = Buffer.from(`${auth.username}:${password}`).toString('base64');
  rememberSecret(token);
  return { ...headers, authorization: `Basic ${token}` };
}

/**
 * `ask` of Patroni's REST API in the scheme it speaks now: HTTPS verified with the cluster's CA,
 * else plain HTTP, as a member of a cluster moving to TLS speaks until Patroni restarts on it.
 */
export async function inSchemeNow<T>(topology: Topology, ask: (asRunning: Topology) => Promise<T>): Promise<T> {
  if (!topology.tls) return ask(topology);
  try {
    return await ask(topology);
  } catch (overTls) {
    return ask(plainTextOf(topology)).catch(() => {
      throw overTls;
    });
  }
}

/** The cluster as Patroni's REST API shows it, asked of the first DB node that answers. */
export async function patroniCluster(topology: Topology): Promise<{ members: PatroniMember[]; askedOf: string; scheduledSwitchover?: { at: string; from?: string; to?: string } }> {
  const errors: string[] = [];
  for (const host of dbHosts(topology)) {
    try {
      const response = await restGet(topology, host, '/cluster');
      if (response.status === 200) {
        const body = JSON.parse(response.body) as { members?: PatroniMember[]; scheduled_switchover?: { at: string; from?: string; to?: string } };
        return { members: body.members ?? [], askedOf: host.name, ...(body.scheduled_switchover ? { scheduledSwitchover: body.scheduled_switchover } : {}) };
      }
      errors.push(`${host.name}: HTTP ${response.status}`);
    } catch (err) {
      errors.push(`${host.name}: ${(err as Error).message}`);
    }
  }
  throw new Error(`no Patroni REST API answered (${errors.join('; ')})`);
}

/** What GET /patroni says about its member (the fields a restart needs). */
export interface MemberStatus {
  role?: string;
  state?: string;
  /** "2026-11-29 06:40:12.123456+00:00" */
  postmaster_start_time?: string;
  pending_restart?: boolean;
  server_version?: number;
}

/** GET /patroni on one member: its own view (200 on the leader, 503 with the same body elsewhere). */
export async function memberStatus(input: HostInput): Promise<MemberStatus> {
  const host = hostOf(input);
  const response = await restGet(input.topology, host, '/patroni', 3000);
  if (response.status !== 200 && response.status !== 503) throw new Error(`Patroni's REST API on ${host.name} answered HTTP ${response.status}`);
  return JSON.parse(response.body) as MemberStatus;
}
