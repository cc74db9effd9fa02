// HAProxy's check of the leader held while a running cluster moves to TLS: Patroni's REST API,
// which the check asks, goes down for Patroni's restart and comes back over HTTPS, which the check
// speaks only after HAProxy reloads with the new haproxy.cfg. `disable health` keeps the leader
// UP meanwhile (HAProxy ignores its last result and sends no checks). The reload with the new
// configuration keeps the hold (the servers' states pass to the new process), so the move's
// release turns the checks on again, over HTTPS now.
import type { HostInput, StepResult } from '../contract';
import { inSchemeNow, patroniCluster } from '../patroni/rest';
import { onHost, stepResult } from '../shared/step';
import { disableHealthCommand, enableHealthCommand, HaproxyRuntime, POSTGRES_BACKEND } from './runtime';

export async function holdLeaderCheck(input: HostInput): Promise<StepResult> {
  const { topology, check } = input;
  const { members } = await inSchemeNow(topology, patroniCluster);
  const leader = members.find((m) => m.role === 'leader')?.name;
  if (!leader) throw new Error(`Patroni reports no leader (${members.map((m) => `${m.name} ${m.role}`).join(', ')}): nothing to hold`);
  return onHost(input, async (ssh, host) => {
    const runtime = new HaproxyRuntime(ssh);
    const servers = await runtime.serversState(POSTGRES_BACKEND);
    const current = servers.find((s) => s.server === leader);
    if (!current) throw new Error(`HAProxy on ${host.name} has no server ${leader} in ${POSTGRES_BACKEND}`);
    if (current.operational !== 'up') throw new Error(`HAProxy on ${host.name} has the leader ${leader} ${current.operational}, not up: holding its check would not send writes to it`);
    if (check) return stepResult([`would hold HAProxy's check of the leader ${leader} on ${host.name} (disable health): it stays UP while Patroni restarts`], '');
    // Idempotent: disabling a disabled check changes nothing.
    await runtime.apply([disableHealthCommand(POSTGRES_BACKEND, leader)]);
    return stepResult([`held HAProxy's check of the leader ${leader} on ${host.name} (disable health): it stays UP until HAProxy reloads with checks over HTTPS`], '');
  });
}

/** Every database server's check on again (enable health), after HAProxy reloaded with checks over HTTPS. */
export async function releaseLeaderCheck(input: HostInput): Promise<StepResult> {
  const { check } = input;
  return onHost(input, async (ssh, host) => {
    const runtime = new HaproxyRuntime(ssh);
    const held = (await runtime.serversState(POSTGRES_BACKEND)).filter((s) => !s.checked).map((s) => s.server);
    if (held.length === 0) return stepResult([], `HAProxy on ${host.name} checks every database server`);
    if (check) return stepResult([`would turn HAProxy's check of ${held.join(', ')} on ${host.name} on again (enable health)`], '');
    await runtime.apply(held.map((server) => enableHealthCommand(POSTGRES_BACKEND, server)));
    return stepResult([`turned HAProxy's check of ${held.join(', ')} on ${host.name} on again (enable health): Patroni's REST API over HTTPS decides again`], '');
  });
}
