// HAProxy's stats page as haflow reads it: which servers of which proxy are UP, asked with the
// stats page's user and password (haproxy.stats_auth).
import type { Host, Topology } from '../../topology';
import { resolveSecret } from '../shared/secrets';
import { rememberSecret } from '../shared/step-activity';
import { httpGet } from '../shared/step';

export interface HaproxyServer {
  proxy: string;
  server: string;
  status: string;
}

/** The servers of HAProxy's stats CSV (`;csv` on the stats page), without the FRONTEND/BACKEND rows. */
export function parseStatsCsv(csv: string): HaproxyServer[] {
  const lines = csv.split('\n').filter(Boolean);
  const header = lines[0]?.replace(/^# /, '').split(',') ?? [];
  const col = (name: string) => header.indexOf(name);
  return lines
    .slice(1)
    .map((line) => line.split(','))
    .filter((f) => f[col('svname')] !== 'FRONTEND' && f[col('svname')] !== 'BACKEND')
    .map((f) => ({ proxy: f[col('pxname')], server: f[col('svname')], status: f[col('status')] }));
}

/**
 * The headers of a request for the stats page: with haproxy.stats_auth, basic authentication,
 * resolved here on the worker and redacted from the step's result and errors.
 */
export function statsRequestHeaders(topology: Topology): Record<string, string> {
  const auth = topology.haproxy.stats_auth;
  if (!auth) return {};
  const password = resolveSecret(auth.password, 'haproxy.stats_auth.password');
  const token = Buffer.from(`${auth.username}:${password}`).toString('base64');
  rememberSecret(token);
  return { authorization: `Basic ${token}` };
}

export async function haproxyServers(topology: Topology, host: Host): Promise<HaproxyServer[]> {
  const response = await httpGet(`http://${host.address}:${topology.haproxy.stats_port}/;csv`, 3000, statsRequestHeaders(topology));
  if (response.status === 401) {
    throw new Error(
      `stats page of ${host.name} answered HTTP 401: it ${topology.haproxy.stats_auth ? 'does not take the user and password of haproxy.stats_auth' : 'asks for a user and password, and haproxy.stats_auth is not set'}; ` +
        'set haproxy.stats_auth and run `haflow install` so that HAProxy and haflow agree',
    );
  }
  if (response.status !== 200) throw new Error(`stats page of ${host.name} answered HTTP ${response.status}`);
  return parseStatsCsv(response.body);
}
