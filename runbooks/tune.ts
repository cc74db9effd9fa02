// `haflow tune` as data: a running cluster moved to other timings (a profile) or another
// synchronous mode. Patroni's dynamic configuration changes with PATCH /config; each node's
// config.yml follows (for a cluster created again later); HAProxy's checks change through a
// checked reload. Pure, like every runbook: `haflow tune --plan` prints these steps.
import { TIMING_PROFILES, type SYNCHRONOUS_MODES, type TimingProfile, type Topology } from '../topology/schema';
import { dbHosts, haproxyHosts, haproxySettleSeconds } from '../topology/derive';
import { dynamicConfigStep } from './install';
import { stepOf, type Runbook, type Step } from './runbook';

export function tuneSteps(topology: Topology): Runbook {
  const hb = { heartbeatSeconds: 10 };
  const p = topology.patroni;
  const { inter, fall, rise } = topology.haproxy.check;
  const items: Step[] = [
    stepOf('clusterHealthy', { ...hb, id: 'tune.gate', title: 'Gate: one leader, replicas streaming, HAProxy on the leader', kind: 'guard', guard: 'timings change only on a healthy cluster', timeoutSeconds: 60 }, {}),
    // The aggressive profile fails over on a hiccup: measured room first, before anything changes.
    ...(p.profile === 'aggressive'
      ? [
          stepOf(
            'timingHeadroom',
            { ...hb, id: 'tune.headroom', title: `Room for ttl ${p.ttl}, retry_timeout ${p.retry_timeout}: etcd's round trip from every DB node under ${(p.retry_timeout * 1000) / 10} ms, replica lag under half of maximum_lag_on_failover`, kind: 'guard', guard: 'aggressive timings only where etcd answers fast and the replicas keep up', timeoutSeconds: 300 },
            {},
          ),
        ]
      : []),
    ...dbHosts(topology).map((host) =>
      stepOf('configurePatroni', { ...hb, id: `patroni.config@${host.name}`, title: `config.yml on ${host.name} with the new timings (its bootstrap section), Patroni reloaded`, kind: 'change', host: host.name, timeoutSeconds: 120 }, { host: host.name }),
    ),
    dynamicConfigStep(topology),
    ...haproxyHosts(topology).map((host) =>
      stepOf('configureHaproxy', { ...hb, id: `haproxy.config@${host.name}`, title: `haproxy.cfg on ${host.name} with checks inter ${inter}s fall ${fall} rise ${rise}: checked with haproxy -c, reloaded`, kind: 'change', host: host.name, timeoutSeconds: 120 }, { host: host.name }),
    ),
    ...haproxyHosts(topology).map((host) =>
      stepOf('haproxyLeaderUp', { ...hb, id: `verify.haproxy@${host.name}`, title: `HAProxy on ${host.name} sends writes to exactly the leader`, kind: 'verify', host: host.name, timeoutSeconds: Math.max(120, haproxySettleSeconds(topology) + 30) }, { host: host.name }),
    ),
    stepOf('clusterHealthy', { ...hb, id: 'tune.healthy-after', title: 'The cluster is healthy with its new timings (within 120 s)', kind: 'verify', timeoutSeconds: 150 }, { waitSeconds: 120 }),
  ];
  return { name: 'tune', cluster: topology.cluster, items };
}

export interface TuneArgs {
  profile?: TimingProfile;
  synchronous?: (typeof SYNCHRONOUS_MODES)[number];
}

/** The topology with the profile's timings (all of them: the operator asked for the profile) and the synchronous mode. */
export function tunedTopology(topology: Topology, args: TuneArgs): Topology {
  const profile = args.profile ? TIMING_PROFILES[args.profile] : undefined;
  return {
    ...topology,
    patroni: {
      ...topology.patroni,
      ...(profile ? { ...profile.patroni, profile: args.profile } : {}),
      ...(args.synchronous ? { synchronous_mode: args.synchronous } : {}),
    },
    haproxy: { ...topology.haproxy, ...(profile ? { check: { ...profile.check } } : {}) },
  };
}
