// The classic layout's failover and switchback as data: without Patroni, the database moves
// with the application. A failover (the master is down) fences the old master, database and
// application, as far as it answers, and keeps HAProxy's users off it; then promotes the slave's
// database, starts the application there and verifies it through HAProxy. A switchback (planned,
// `haflow app switchback`) first rebuilds the fenced old master as a standby of the current one,
// hands over with no write lost (the current master shut down cleanly, its last WAL replayed),
// and ends with the former master rebuilt as a standby: both nodes stream again.
import type { Topology } from '../topology/schema';
import { stepOf, type Runbook, type Step } from './runbook';

const hb = { heartbeatSeconds: 10 };

/** As the application failover's (./app-failover.ts, which hands classic clusters to this file). */
export interface ClassicFailoverArgs {
  /** The master the application and the database leave. */
  from: string;
  /** The node whose database is promoted and whose application becomes the master. */
  to: string;
  /** A switchback (both nodes up, rebuilt first) rather than a failover (the master is dead). */
  planned: boolean;
}

export function classicFailoverSteps(topology: Topology, args: ClassicFailoverArgs): Runbook {
  return args.planned ? classicSwitchbackSteps(topology, args) : classicUnplannedSteps(topology, args);
}

function proxiesOf(topology: Topology): string[] {
  return topology.hosts.filter((h) => h.roles.includes('haproxy')).map((h) => h.name);
}

function routeUsers(topology: Topology, from: string, to: string): Step[] {
  return proxiesOf(topology).map((proxy) =>
    stepOf(
      'routeAppUsersTo',
      { ...hb, id: `haproxy.route@${proxy}`, title: `HAProxy on ${proxy} sends users to ${to} only: ${from} in maintenance`, kind: 'change', host: proxy, timeoutSeconds: 60 },
      { host: proxy, from, to },
    ),
  );
}

/** From the new master's database being the primary to users served and verified through HAProxy. */
function serveFrom(topology: Topology, from: string, to: string, planned: boolean): Step[] {
  const app = topology.app!;
  return [
    stepOf('masterAppServing', { ...hb, id: `app.serving@${to}`, title: `${app.service} and ${app.nginx_service} run on the new master ${to}`, kind: 'change', host: to, timeoutSeconds: 120 }, { host: to }),
    stepOf('recordAppRole', { ...hb, id: `app.role@${to}`, title: `${to} recorded as master in ${app.ha_dir}`, kind: 'change', host: to, timeoutSeconds: 60 }, { host: to, role: 'master' }),
    ...proxiesOf(topology).map((proxy) =>
      stepOf(
        'appHealthyThroughHaproxy',
        { ...hb, id: `verify.app@${proxy}`, mark: 'app-verified', title: `The application answers ${app.health_path} with 200 through HAProxy on ${proxy}, from ${to} only`, kind: 'verify', host: proxy, timeoutSeconds: 150 },
        { host: proxy, master: to, waitSeconds: 120 },
      ),
    ),
    stepOf(
      'recordAppRole',
      { ...hb, id: `app.role@${from}`, title: `${from} recorded as slave in ${app.ha_dir}${planned ? '' : ' (when it answers)'}`, kind: 'change', host: from, attempts: planned ? 3 : 1, timeoutSeconds: 60 },
      { host: from, role: 'slave', bestEffort: !planned },
    ),
  ];
}

function fenceSteps(topology: Topology, node: string, to: string, planned: boolean, why: string): Step[] {
  const app = topology.app!;
  const version = topology.postgresql.version;
  const attempts = planned ? 3 : 1;
  return [
    stepOf('fenceAppNode', { ...hb, id: `app.fence@${node}`, mark: 'fence', title: `Fence the application on ${node}${why}: stop and disable ${app.nginx_service} and ${app.service}`, kind: 'change', host: node, attempts, timeoutSeconds: 90 }, { host: node, planned }),
    stepOf(
      'fenceClassicDatabase',
      {
        ...hb,
        id: `db.fence@${node}`,
        mark: 'fence',
        title: `Fence PostgreSQL ${version}/main on ${node}${why}: stopped, standby.signal (read-only if started), start.conf manual, the fence marker`,
        kind: 'change',
        host: node,
        attempts,
        timeoutSeconds: 180,
      },
      { host: node, to, planned },
    ),
  ];
}

function classicUnplannedSteps(topology: Topology, { from, to }: ClassicFailoverArgs): Runbook {
  const version = topology.postgresql.version;
  return {
    name: 'app-failover',
    cluster: topology.cluster,
    items: [
      {
        // Before the promotion: a master that still answers must be stopped before a second
        // primary exists. One that does not answer costs seconds to find out, and HAProxy keeps
        // users off it should it come back before the application monitor fences it.
        id: 'app.prepare',
        title: `The old master ${from} fenced as far as it answers, and HAProxy's users kept off it`,
        parallel: [...fenceSteps(topology, from, to, false, ' (recorded as not fenced when it does not answer)'), ...routeUsers(topology, from, to)],
      },
      stepOf(
        'promoteClassicStandby',
        { ...hb, id: `db.promote@${to}`, title: `Promote PostgreSQL ${version}/main on ${to}, a standby of ${from}, to primary`, kind: 'change', host: to, guard: 'a fenced node, or a standby of another node, is never promoted', timeoutSeconds: 240 },
        { host: to, from },
      ),
      ...serveFrom(topology, from, to, false),
    ],
  };
}

function classicSwitchbackSteps(topology: Topology, { from, to }: ClassicFailoverArgs): Runbook {
  const version = topology.postgresql.version;
  const rebuild = (node: string, master: string, title: string): Step[] => [
    stepOf('configureStreamingStandby', { ...hb, id: `db.standby@${node}`, title, kind: 'change', host: node, timeoutSeconds: 3600 }, { host: node, master }),
    stepOf(
      'standbyStreaming',
      { ...hb, id: `db.streaming@${node}`, title: `${master} sees ${node} streaming, with lag under ${topology.patroni.maximum_lag_on_failover} bytes`, kind: 'verify', host: node, timeoutSeconds: 180 },
      { host: node, master },
    ),
  ];
  return {
    name: 'app-switchback',
    cluster: topology.cluster,
    items: [
      ...rebuild(to, from, `PostgreSQL ${version}/main on ${to} rebuilt as a standby of ${from} unless it streams from it: its data archived, a base backup taken, its fence removed`),
      // From here users wait: the application stops on the current master before its database does.
      ...fenceSteps(topology, from, to, true, ''),
      stepOf(
        'promoteClassicStandby',
        {
          ...hb,
          id: `db.promote@${to}`,
          title: `Promote PostgreSQL ${version}/main on ${to} once it has replayed ${from}'s shutdown checkpoint (no write lost)`,
          kind: 'change',
          host: to,
          guard: `${from} shut down cleanly and ${to} replayed its last WAL record`,
          timeoutSeconds: 240,
        },
        { host: to, from, planned: true },
      ),
      ...routeUsers(topology, from, to),
      ...serveFrom(topology, from, to, true),
      ...rebuild(from, to, `PostgreSQL ${version}/main on ${from} rebuilt as a standby of ${to}: its data archived, a base backup taken, its fence removed`),
    ],
  };
}

/** The old master, unreachable during the failover, answers again: fenced now, database and application. */
export function classicFenceSteps(topology: Topology, node: string, master: string): Runbook {
  const app = topology.app!;
  return {
    name: 'app-fence',
    cluster: topology.cluster,
    items: [
      ...fenceSteps(topology, node, master, true, `, back after a failover to ${master}`),
      stepOf('recordAppRole', { ...hb, id: `app.role@${node}`, title: `${node} recorded as slave in ${app.ha_dir}`, kind: 'change', host: node, timeoutSeconds: 60 }, { host: node, role: 'slave' }),
    ],
  };
}
