// `haflow upgrade --minor` as data: PostgreSQL's packages of the same major version upgraded on
// every DB node, one at a time, replicas first: packages, a restart through Patroni until it runs
// the installed version, streaming again, the version checked; then the leader by a coordinated
// switchover and the same on it as a replica; at the end every node runs one version. The write
// probe runs throughout (workflows/upgrade.ts). Aborting a blocked step leaves the cluster serving:
// nodes of two minor versions of one major stream from each other. Pure.
import { dbHosts, haproxyHosts } from '../topology/derive';
import type { Topology } from '../topology/schema';
import { stepOf, type Runbook, type Step } from './runbook';

export interface UpgradeArgs {
  /** The leader when the upgrade was planned: upgraded last, after a switchover. */
  leader: string;
  /** The replica the leader is switched over to. */
  candidate: string;
  /** The version each node ran when planned (Patroni's server_version, as 15.18), for the report. */
  versionsBefore: Record<string, string>;
}

export const UPGRADE_PROBE_FROM = 'postgres.probe-database';
export const UPGRADE_PROBE_UNTIL = 'upgrade.healthy-after';

export function upgradeSteps(topology: Topology, args: UpgradeArgs): Runbook {
  const hb = { heartbeatSeconds: 10 };
  const major = topology.postgresql.version;
  const replicas = dbHosts(topology)
    .map((h) => h.name)
    .filter((name) => name !== args.leader)
    .sort((a, b) => Number(a === args.candidate) - Number(b === args.candidate));
  const upgradeOf = (host: string): Step[] => [
    stepOf('upgradePostgresPackages', { ...hb, id: `postgres.packages@${host}`, title: `PostgreSQL ${major}'s packages on ${host} upgraded to the newest ${major}.x its sources offer (apt-get install --only-upgrade)`, kind: 'change', host, timeoutSeconds: 1800 }, { host }),
    stepOf('restartPostgres', { ...hb, id: `postgres.restart@${host}`, title: `PostgreSQL on ${host} restarted through Patroni until it runs the installed version`, kind: 'change', host, attempts: 3, timeoutSeconds: 180 }, { host, untilInstalledVersion: true, waitSeconds: 150 }),
    stepOf('replicaStreaming', { ...hb, id: `patroni.streaming@${host}`, title: `${host} streams from the leader again, its lag under maximum_lag_on_failover`, kind: 'verify', host, timeoutSeconds: 210 }, { host }),
    stepOf('postgresRunsInstalledVersion', { ...hb, id: `postgres.version@${host}`, title: `${host} runs the installed PostgreSQL version (Patroni's server_version against postgres --version)`, kind: 'verify', host, timeoutSeconds: 60 }, { host }),
  ];
  const items: Step[] = [
    stepOf('clusterHealthy', { ...hb, id: 'upgrade.gate', title: `Gate: one leader (${args.leader}), every replica streaming with lag under the limit, HAProxy on the leader`, kind: 'guard', guard: 'a rolling upgrade starts only on a healthy cluster, with the leader it was planned for', timeoutSeconds: 60 }, { leader: args.leader }),
    stepOf('ensureProbeDatabase', { ...hb, id: `${UPGRADE_PROBE_FROM}@${args.leader}`, title: `The write probe's own database (haflow_probe) on ${args.leader}`, kind: 'change', host: args.leader, timeoutSeconds: 120 }, { host: args.leader }),
    ...replicas.flatMap(upgradeOf),
    stepOf(
      'coordinatedSwitchoverTo',
      { ...hb, id: `patroni.switchover@${args.candidate}`, title: `Coordinated switchover from ${args.leader} to ${args.candidate}: the leader's turn, HAProxy told through its runtime API`, kind: 'change', host: args.candidate, attempts: 1, timeoutSeconds: 150 },
      { candidate: args.candidate, waitSeconds: 120 },
    ),
    stepOf('awaitRecovery', { ...hb, id: 'upgrade.recovered', title: `${args.candidate} leads, runs as primary, and HAProxy sends writes to it`, kind: 'verify', timeoutSeconds: 150 }, { oldLeader: args.leader, expectedLeader: args.candidate, leaderMoves: true, waitSeconds: 120 }),
    stepOf('replicaRejoined', { ...hb, id: `patroni.rejoined@${args.leader}`, title: `${args.leader} streams from ${args.candidate} as a replica`, kind: 'verify', host: args.leader, timeoutSeconds: 210 }, { host: args.leader, waitSeconds: 180 }),
    ...upgradeOf(args.leader),
    stepOf('postgresVersionsAgree', { ...hb, id: 'upgrade.versions', title: 'Every DB node runs the same PostgreSQL version', kind: 'verify', timeoutSeconds: 60 }, {}),
    stepOf('verifyWriteThroughHaproxy', { ...hb, id: 'upgrade.write', title: `A write through HAProxy lands on ${args.candidate} and is readable on every replica`, kind: 'verify', timeoutSeconds: 180 }, { host: haproxyHosts(topology)[0].name }),
    stepOf('clusterHealthy', { ...hb, id: UPGRADE_PROBE_UNTIL, title: 'The cluster is healthy: one leader, every replica streaming, HAProxy on the leader', kind: 'verify', timeoutSeconds: 150 }, { waitSeconds: 120 }),
  ];
  return { name: 'upgrade', cluster: topology.cluster, items };
}
