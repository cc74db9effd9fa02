// The install runbook of the classic layout (the classic HA guide): a master and a slave server,
// each with the application and PostgreSQL, the master's database streamed to the slave without
// Patroni or etcd, the application configured on both, file sync, and the optional HAProxy in
// front. The application monitor that fails the application (and now the database) over is `haflow monitor
// start`, as in the other layouts. Pure: `haflow plan` prints exactly these steps.
import type { Topology } from '../topology/schema';
import { appHosts, classicMaster, classicSlaves, haproxyHosts } from '../topology/derive';
import { appConfigSteps, appServingSteps, group, monitorHoldSteps, monitorStartSteps, onHost, preparationSteps } from './install';
import type { Runbook } from './runbook';

export function classicInstallSteps(topology: Topology): Runbook {
  const master = classicMaster(topology);
  const slaves = classicSlaves(topology);
  const version = topology.postgresql.version;
  const appTier = topology.app !== undefined && appHosts(topology).length > 0;
  const items: Runbook['items'] = [
    ...preparationSteps(topology, monitorHoldSteps(topology)),
    ...group(
      'haproxy.hosts',
      'HAProxy',
      haproxyHosts(topology).map((host) =>
        onHost(host, 'configureHaproxy', {
          id: `haproxy.config@${host.name}`,
          title: `HAProxy on ${host.name}: back up and write haproxy.cfg (the application on ${topology.haproxy.app_http_port}${topology.haproxy.tls ? ` and HTTPS on ${topology.haproxy.tls.port}` : ''}), check it with haproxy -c, start or reload`,
          kind: 'change',
          guard: '`haproxy -c` passes before HAProxy reloads; the existing haproxy.cfg is backed up',
          timeoutSeconds: 120,
        }),
      ),
    ),
    onHost(master, 'configureStreamingPrimary', {
      id: `db.primary@${master.name}`,
      title: `PostgreSQL ${version}/main on the master ${master.name}: replication settings and pg_hba.conf (restart when they changed), the replication user, the superuser's password, the application's user and database`,
      kind: 'change',
      timeoutSeconds: 300,
    }),
    ...slaves.map((host) =>
      onHost(host, 'configureStreamingStandby', {
        id: `db.standby@${host.name}`,
        title: `PostgreSQL ${version}/main on the slave ${host.name}: unless it streams from ${master.name} already, its data archived, a base backup of ${master.name} taken, started as a standby`,
        kind: 'change',
        timeoutSeconds: 3600,
      }),
    ),
    ...slaves.map((host) =>
      onHost(host, 'standbyStreaming', {
        id: `db.streaming@${host.name}`,
        title: `${master.name} sees ${host.name} streaming, with lag under ${topology.patroni.maximum_lag_on_failover} bytes`,
        kind: 'verify',
        timeoutSeconds: 180,
      }),
    ),
    ...(appTier ? appConfigSteps(topology) : []),
    onHost(master, 'verifyStreamingWrite', {
      id: `verify.write@${master.name}`,
      title: `A write on the master ${master.name} is readable on ${slaves.map((s) => s.name).join(', ')}`,
      kind: 'verify',
      timeoutSeconds: 120,
    }),
    ...(appTier ? [...appServingSteps(topology), ...monitorStartSteps(topology)] : []),
  ];
  return { name: 'install', cluster: topology.cluster, items };
}
