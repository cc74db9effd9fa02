// HAProxy: back up the existing haproxy.cfg, write the new one only after `haproxy -c`
// accepts it on the host (an invalid config is never reloaded), start or reload; then the
// guide's check on the stats page: exactly the Patroni leader is UP.
import type { HostInput, StepResult } from '../contract';
import { patroniCluster } from '../patroni/rest';
import { ensureRemoteFiles } from '../shared/remote-files';
import { secretValue } from '../shared/secrets';
import { ensureUnit, unitState } from '../shared/services';
import { shellQuote } from '../shared/shell';
import { guardFailed, hostOf, onHost, type Probe, stepResult, waitFor } from '../shared/step';
import { haproxyComponent } from './component';
import { APP_SECTION } from './config';
import { FORCED_MAINTENANCE, HaproxyRuntime, setAdminStateCommand } from './runtime';
import { haproxyServers } from './stats';
import { haproxySettleSeconds } from '../../topology/derive';

export async function configureHaproxy(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const tls = topology.haproxy.tls;
    if (tls && !tls.certificate) {
      const pem = await ssh.exec(`test -f ${shellQuote(tls.pem)}`, { sudo: true });
      if (pem.code !== 0) {
        throw guardFailed(
          `${host.name}: the TLS certificate ${tls.pem} named by haproxy.tls.pem does not exist`,
          `create it on ${host.name}: cat example.crt example.key > ${tls.pem}; chmod 600 ${tls.pem}; chown root:root ${tls.pem}; or give haproxy.tls.certificate and haproxy.tls.key and haflow writes it`,
        );
      }
    }
    const [config, ...others] = haproxyComponent.files(topology, host, secretValue);
    // The PEM first: haproxy.cfg names it, and `haproxy -c` on the new haproxy.cfg loads it.
    const written = await ensureRemoteFiles(ssh, [...others, config], check);
    const actions = [...written.actions];
    const running = (await unitState(ssh, 'haproxy')).active === 'active';
    const reload = written.changed && running;
    if (reload && !check) {
      const unsaved = await new HaproxyRuntime(ssh).saveServersState();
      if (unsaved) actions.push(unsaved);
    }
    // Debian's unit checks the file again (haproxy -c) before it signals the running HAProxy.
    actions.push(...(await ensureUnit(ssh, 'haproxy', { running: true, enabled: true, refresh: reload ? 'reload' : undefined }, check)));
    return stepResult(actions, `HAProxy on ${host.name} runs the current haproxy.cfg`, written.details);
  });
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
  const summary = await waitFor(`HAProxy on ${host.name} to send writes to the leader only`, probe, {
    // HAProxy needs `rise` good checks `inter` apart before it sends traffic to a server; the
    // step's time limit allows for that (runbooks/install.ts) and bounds this wait.
    timeoutMs: haproxySettleSeconds(topology) * 1000,
    remedy: `open http://${host.address}:${topology.haproxy.stats_port}/ and check the postgres servers; each DB node must answer on port ${topology.patroni.rest_api_port}`,
  });
  return stepResult([], summary);
}

/**
 * Users go to the application master `to` only: the old master `from` in maintenance, so that,
 * should it come back serving before it is fenced (booted with its units enabled), HAProxy still
 * sends it nothing. Set through the runtime API: a reload or restart of HAProxy forgets it.
 */
export async function routeAppUsersTo(input: HostInput & { to: string; from: string }): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const runtime = new HaproxyRuntime(ssh);
    const servers = await runtime.serversState(APP_SECTION);
    const wanted: [string, 'maint' | 'ready'][] = [
      [input.from, 'maint'],
      [input.to, 'ready'],
    ];
    const actions: string[] = [];
    for (const [server, state] of wanted) {
      const seen = servers.find((s) => s.server === server);
      if (!seen) throw guardFailed(`HAProxy on ${host.name} has no application server ${server}`, `run \`haflow install\` so that haproxy.cfg lists the application nodes`);
      const inMaintenance = (seen.adminState & FORCED_MAINTENANCE) !== 0;
      if (inMaintenance === (state === 'maint')) continue;
      if (!input.check) await runtime.apply([setAdminStateCommand(APP_SECTION, server, state)]);
      actions.push(`${input.check ? 'would set' : 'set'} ${APP_SECTION}/${server} ${state === 'maint' ? 'in maintenance (no users)' : 'ready'}`);
    }
    return stepResult(actions, `HAProxy on ${host.name} sends users to ${input.to} only (${input.from} in maintenance)`);
  });
}
