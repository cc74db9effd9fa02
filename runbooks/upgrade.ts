// `haflow upgrade --minor` as data: PostgreSQL's packages of the same major version upgraded on
// every DB node, one at a time, replicas first: packages, a restart through Patroni until it runs
// the installed version, streaming again, the version checked; then the leader by a coordinated
// switchover and the same on it as a replica (./rolling.ts); at the end every node runs one
// version. The write probe runs throughout (workflows/upgrade.ts). Aborting a blocked step leaves
// the cluster serving: nodes of two minor versions of one major stream from each other. Pure.
import type { Topology } from '../topology/schema';
import { rollingSteps, streamingAgain } from './rolling';
import { stepOf, type Runbook } from './runbook';

export interface UpgradeArgs {
  /** The leader when the upgrade was planned: upgraded last, after a switchover. */
  leader: string;
  /** The replica the leader is switched over to. */
  candidate: string;
  /** The version each node ran when planned (Patroni's server_version, as 15.18), for the report. */
  versionsBefore: Record<string, string>;
}

export function upgradeSteps(topology: Topology, args: UpgradeArgs): Runbook {
  const hb = { heartbeatSeconds: 10 };
  const major = topology.postgresql.version;
  return rollingSteps(topology, {
    name: 'upgrade',
    leader: args.leader,
    candidate: args.candidate,
    turn: (host) => [
      stepOf('upgradePostgresPackages', { ...hb, id: `postgres.packages@${host}`, title: `PostgreSQL ${major}'s packages on ${host} upgraded to the newest ${major}.x its sources offer (apt-get install --only-upgrade)`, kind: 'change', host, timeoutSeconds: 1800 }, { host }),
      // By version, not by start time: the old leader's demotion restarted it before its packages changed.
      stepOf('restartPostgres', { ...hb, id: `postgres.restart@${host}`, title: `PostgreSQL on ${host} restarted through Patroni until it runs the installed version`, kind: 'change', host, attempts: 3, timeoutSeconds: 180 }, { host, untilInstalledVersion: true, waitSeconds: 150 }),
      streamingAgain(host),
      stepOf('postgresRunsInstalledVersion', { ...hb, id: `postgres.version@${host}`, mark: 'version', title: `${host} runs the installed PostgreSQL version (Patroni's server_version against postgres --version)`, kind: 'verify', host, timeoutSeconds: 60 }, { host }),
    ],
    after: [stepOf('postgresVersionsAgree', { ...hb, id: 'upgrade.versions', title: 'Every DB node runs the same PostgreSQL version', kind: 'verify', timeoutSeconds: 60 }, {})],
  });
}
