// The application failover as data (the guide's observer scripts, master.sh and slave.sh, as
// steps): a database to fail over to, the old master fenced, the slave serving, the roles
// swapped, and the application answering through HAProxy from its new master. The same steps,
// planned, are `haflow app switchback`: there the old master must be reachable to be fenced.
import type { Topology } from '../topology/schema';
import { classicFailoverSteps, classicFenceSteps } from './classic-failover';
import { stepOf, type Runbook } from './runbook';

export interface AppFailoverArgs {
  /** The master the application leaves. */
  from: string;
  /** The node that becomes the application master. */
  to: string;
  /** A switchback (operator's, both nodes up) rather than a failover (the master is dead). */
  planned: boolean;
}

export function appFailoverSteps(topology: Topology, args: AppFailoverArgs): Runbook {
  // Without Patroni the database fails over with the application.
  if (topology.layout === 'classic') return classicFailoverSteps(topology, args);
  const hb = { heartbeatSeconds: 10 };
  const app = topology.app!;
  const proxies = topology.hosts.filter((h) => h.roles.includes('haproxy'));
  const name = args.planned ? 'app-switchback' : 'app-failover';
  const gate = stepOf('databaseHasLeader', { ...hb, id: 'app.db-leader', title: 'Gate: the database tier has a leader and HAProxy sends writes to it', kind: 'guard', guard: 'the application fails over only to a database that takes writes', timeoutSeconds: 150 }, { waitSeconds: 120 });
  const fence = stepOf(
    'fenceAppNode',
    {
      ...hb,
      id: `app.fence@${args.from}`,
      mark: 'fence',
      title: `Fence the old master ${args.from}: stop and disable ${app.nginx_service} and ${app.service}${args.planned ? '' : ' (recorded as not fenced when it does not answer)'}`,
      kind: 'change',
      host: args.from,
      attempts: args.planned ? 3 : 1,
      timeoutSeconds: 90,
    },
    { host: args.from, planned: args.planned },
  );
  const serving = stepOf('masterAppServing', { ...hb, id: `app.serving@${args.to}`, title: `${app.service} and ${app.nginx_service} run on the new master ${args.to}`, kind: 'change', host: args.to, timeoutSeconds: 120 }, { host: args.to });
  return {
    name,
    cluster: topology.cluster,
    items: [
      {
        // At once: the gate, and the fence of the old master, which needs no database (a dead one
        // costs seconds to find out). In a failover the new master starts too: HAProxy's check of
        // the application's health URL only passes once the database takes writes, and it already
        // keeps users off the old master, whose check fails. A planned switchback starts the new
        // master only after the fence, so that two healthy masters never serve at once.
        id: 'app.prepare',
        title: `A database to fail over to, and the old master ${args.from} fenced${args.planned ? '' : `; ${args.to} starting`}`,
        parallel: [gate, fence, ...(args.planned ? [] : [serving])],
      },
      ...(args.planned ? [serving] : []),
      stepOf('recordAppRole', { ...hb, id: `app.role@${args.to}`, title: `${args.to} recorded as master in ${app.ha_dir}`, kind: 'change', host: args.to, timeoutSeconds: 60 }, { host: args.to, role: 'master' }),
      ...proxies.map((proxy) =>
        stepOf(
          'appHealthyThroughHaproxy',
          { ...hb, id: `verify.app@${proxy.name}`, mark: 'app-verified', title: `The application answers ${app.health_path} with 200 through HAProxy on ${proxy.name}, from ${args.to} only`, kind: 'verify', host: proxy.name, timeoutSeconds: 150 },
          { host: proxy.name, master: args.to, waitSeconds: 120 },
        ),
      ),
      // Bookkeeping on the old master last: users are served before a dead machine is waited for.
      stepOf(
        'recordAppRole',
        { ...hb, id: `app.role@${args.from}`, title: `${args.from} recorded as slave in ${app.ha_dir}${args.planned ? '' : ' (when it answers)'}`, kind: 'change', host: args.from, attempts: args.planned ? 3 : 1, timeoutSeconds: 60 },
        { host: args.from, role: 'slave', bestEffort: !args.planned },
      ),
    ],
  };
}

/**
 * An old master that could not be fenced during the failover (it was down) and now answers
 * again: fenced now, and recorded as slave, before it can take users beside the new master.
 */
export function appFenceSteps(topology: Topology, node: string, master: string): Runbook {
  if (topology.layout === 'classic') return classicFenceSteps(topology, node, master);
  const hb = { heartbeatSeconds: 10 };
  const app = topology.app!;
  return {
    name: 'app-fence',
    cluster: topology.cluster,
    items: [
      stepOf('fenceAppNode', { ...hb, id: `app.fence@${node}`, mark: 'fence', title: `Fence ${node}, back after a failover: stop and disable ${app.nginx_service} and ${app.service}`, kind: 'change', host: node, timeoutSeconds: 90 }, { host: node, planned: true }),
      stepOf('recordAppRole', { ...hb, id: `app.role@${node}`, title: `${node} recorded as slave in ${app.ha_dir}`, kind: 'change', host: node, timeoutSeconds: 60 }, { host: node, role: 'slave' }),
    ],
  };
}
