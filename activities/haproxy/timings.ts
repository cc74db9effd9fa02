// How long HAProxy's health checks take to agree with Patroni. Pure: the install runbook sizes
// its step's time limit with it, the activity its wait.
import type { Topology } from '../../topology/schema';

/** `rise` good checks `inter` apart, after up to `fall` bad ones on a server that was the leader before; plus slack. */
export function haproxySettleSeconds(topology: Topology): number {
  const { inter, fall, rise } = topology.haproxy.check;
  return Math.ceil(inter * (fall + rise + 2)) + 30;
}
