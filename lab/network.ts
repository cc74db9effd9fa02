// Network partitions between lab machines. All machines share the box's loopback, and a
// loopback client's source address is always 127.0.0.1, so rules match the sending
// machine by its cgroup (iptables' cgroup match) and the receiver by its address.
// Packets are dropped, as on a real cut, so connections time out rather than being refused.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CGROUP_PARENT, IPTABLES_CHAIN } from './paths';

const run = promisify(execFile);

export interface Partition {
  host: string;
  /** Only between host and this machine; every other lab machine when absent. */
  from?: string;
  /** Only traffic to this TCP port (on either side); all traffic when absent. */
  port?: number;
}

interface Endpoint {
  name: string;
  address: string;
}

async function iptables(...args: string[]): Promise<boolean> {
  return run('iptables', ['-w', ...args]).then(
    () => true,
    () => false,
  );
}

async function ensureChain(): Promise<void> {
  await iptables('-N', IPTABLES_CHAIN); // fails harmlessly when it exists
  if (!(await iptables('-C', 'OUTPUT', '-j', IPTABLES_CHAIN))) {
    if (!(await iptables('-I', 'OUTPUT', '-j', IPTABLES_CHAIN))) throw new Error(`cannot add the ${IPTABLES_CHAIN} chain to OUTPUT`);
  }
}

/** The iptables rules for one partition: both directions between host and each peer. */
export function partitionRules(host: Endpoint, peers: Endpoint[], port?: number): string[][] {
  const portMatch = port ? ['-p', 'tcp', '--dport', String(port)] : [];
  const rule = (sender: Endpoint, receiver: Endpoint) => [
    '-m', 'cgroup', '--path', `${CGROUP_PARENT}/${sender.name}`,
    '-d', `${receiver.address}/32`,
    ...portMatch,
    '-m', 'comment', '--comment', `haflow-lab ${sender.name}->${receiver.name}`,
    '-j', 'DROP',
  ];
  return peers.flatMap((peer) => [rule(host, peer), rule(peer, host)]);
}

export async function addPartition(host: Endpoint, peers: Endpoint[], port?: number): Promise<void> {
  await ensureChain();
  for (const rule of partitionRules(host, peers, port)) {
    if (!(await iptables('-A', IPTABLES_CHAIN, ...rule))) throw new Error(`iptables refused the rule: ${rule.join(' ')}`);
  }
}

/**
 * A powered-off machine: every packet to its address is dropped, from the box and from every
 * machine, so a connection to it times out as it does to a real host without power (with no
 * listener, the kernel would refuse it at once, and a failover measured that way is optimistic).
 */
export function powerOffRule(host: Endpoint): string[] {
  return ['-d', `${host.address}/32`, '-m', 'comment', '--comment', `haflow-lab ${host.name} powered off`, '-j', 'DROP'];
}

export async function dropTrafficTo(host: Endpoint): Promise<void> {
  await ensureChain();
  const rule = powerOffRule(host);
  if (await iptables('-C', IPTABLES_CHAIN, ...rule)) return;
  if (!(await iptables('-A', IPTABLES_CHAIN, ...rule))) throw new Error(`iptables refused the rule: ${rule.join(' ')}`);
}

export async function restoreTrafficTo(host: Endpoint): Promise<void> {
  while (await iptables('-D', IPTABLES_CHAIN, ...powerOffRule(host))) {
    // added once; a second copy from an interrupted run goes too
  }
}

/** Removes every partition (the chain stays, empty, until the lab goes down). */
export async function healAll(): Promise<void> {
  await iptables('-F', IPTABLES_CHAIN);
}

/** Removes the lab's chain and the jump to it: nothing of the lab is left in iptables. */
export async function removeChain(): Promise<void> {
  while (await iptables('-D', 'OUTPUT', '-j', IPTABLES_CHAIN)) {
    // a jump added twice by an interrupted run is removed too
  }
  await iptables('-F', IPTABLES_CHAIN);
  await iptables('-X', IPTABLES_CHAIN);
}

/** The lab's rules as iptables lists them (empty when there is no chain). */
export async function listRules(): Promise<string[]> {
  const { stdout } = await run('iptables', ['-w', '-S']);
  return stdout.split('\n').filter((line) => line.includes(IPTABLES_CHAIN));
}
