// HAProxy's stats page as haflow reads it: which servers of which proxy are UP.
import type { Host, Topology } from '../../topology';
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

export async function haproxyServers(topology: Topology, host: Host): Promise<HaproxyServer[]> {
  const response = await httpGet(`http://${host.address}:${topology.haproxy.stats_port}/;csv`);
  if (response.status !== 200) throw new Error(`stats page of ${host.name} answered HTTP ${response.status}`);
  return parseStatsCsv(response.body);
}
