// HAProxy: back up the existing haproxy.cfg, write the new one only after `haproxy -c`
// accepts it on the host (an invalid config is never reloaded), start or reload; then the
// guide's check on the stats page: exactly the Patroni leader is UP.
import type { StepResult } from '../workflows/runbook';
import type { Host, Topology } from '../topology';
import { haproxyConfigPath, renderHaproxyCfg } from './render';
import { ensureRemoteFile } from './remote-files';
import { ensureUnit, unitState } from './services';
import { shellQuote } from './ssh';
import { guardFailed, hostOf, httpGet, onHost, type Probe, stepResult, waitFor, type HostInput } from './step';
import { patroniCluster } from './patroni-rest';

export async function configureHaproxy(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const tls = topology.haproxy.tls;
    if (tls) {
      const pem = await ssh.exec(`test -f ${shellQuote(tls.pem)}`, { sudo: true });
      if (pem.code !== 0) {
        throw guardFailed(
          `${host.name}: the TLS certificate ${tls.pem} named by haproxy.tls.pem does not exist`,
          `create it on ${host.name}: cat example.crt example.key > ${tls.pem}; chmod 600 ${tls.pem}; chown root:root ${tls.pem}`,
        );
      }
    }
    const config = await ensureRemoteFile(
      ssh,
      {
        path: haproxyConfigPath,
        content: renderHaproxyCfg(topology, host),
        owner: 'root',
        group: 'root',
        mode: 0o644,
        validate: 'haproxy -c -q -f {}',
      },
      check,
    );
    const actions = config.changed ? [config.summary] : [];
    const running = (await unitState(ssh, 'haproxy')).active === 'active';
    // Debian's unit checks the file again (haproxy -c) before it signals the running HAProxy.
    actions.push(...(await ensureUnit(ssh, 'haproxy', { running: true, enabled: true, refresh: config.changed && running ? 'reload' : undefined }, check)));
    return stepResult(actions, `HAProxy on ${host.name} runs the current haproxy.cfg`, config.diff ? [config.diff] : []);
  });
}

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

export async function haproxyLeaderUp(input: HostInput): Promise<StepResult> {
  const { topology } = input;
  const host = hostOf(input);
  const probe = async (): Promise<Probe<string>> => {
    const servers = (await haproxyServers(topology, host)).filter((s) => s.proxy === 'postgres');
    const up = servers.filter((s) => s.status.startsWith('UP'));
    const { members } = await patroniCluster(topology);
    const leader = members.find((m) => m.role === 'leader')?.name;
    const seen = servers.map((s) => `${s.server} ${s.status}`).join(', ');
    if (up.length === 1 && up[0].server === leader) return { done: `exactly the leader ${leader} is UP (${seen})` };
    return { notYet: `leader ${leader ?? 'none'}; postgres servers: ${seen}` };
  };
  if (input.check) {
    const seen = await probe().catch((err: Error) => ({ notYet: err.message }));
    return stepResult([], 'done' in seen ? seen.done : `not yet: ${seen.notYet}`);
  }
  // HAProxy needs `rise` good checks `inter` apart before it sends traffic to a server.
  const { inter, rise } = topology.haproxy.check;
  const summary = await waitFor(`HAProxy on ${host.name} to send writes to the leader only`, probe, {
    timeoutMs: Math.max(60_000, (inter * (rise + 2) + 30) * 1000),
    remedy: `open http://${host.address}:${topology.haproxy.stats_port}/ and check the postgres servers; each DB node must answer on port ${topology.patroni.rest_api_port}`,
  });
  return stepResult([], summary);
}
