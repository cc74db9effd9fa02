// Patroni's REST API as haflow reads it: the cluster's members, their roles, states and lag.
import type { Host, Topology } from '../../topology';
import { dbHosts } from '../../topology';
import { httpGet } from '../shared/step';

export interface PatroniMember {
  name: string;
  role: string;
  state: string;
  host: string;
  lag?: number | string;
  timeline?: number;
}

export const restUrl = (topology: Topology, host: Host, path: string) => `http://${host.address}:${topology.patroni.rest_api_port}${path}`;

/** The cluster as Patroni's REST API shows it, asked of the first DB node that answers. */
export async function patroniCluster(topology: Topology): Promise<{ members: PatroniMember[]; askedOf: string; scheduledSwitchover?: { at: string; from?: string; to?: string } }> {
  const errors: string[] = [];
  for (const host of dbHosts(topology)) {
    try {
      const response = await httpGet(restUrl(topology, host, '/cluster'));
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

