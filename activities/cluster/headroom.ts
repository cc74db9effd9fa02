// Whether a cluster can take short timings without failing over on nothing: etcd's round trip as
// Patroni sees it (from every DB node to every etcd member, over SSH) and the replicas' lag, both
// measured for a few seconds before `haflow tune` sets the `aggressive` profile. The rule is pure.
import { dbHosts, etcdMembers, tlsPaths, type Topology } from '../../topology';
import { etcdUrl } from '../etcd/endpoint';
import type { ClusterInput, StepResult } from '../contract';
import { readClusterHealth } from './activities';
import { shellQuote } from '../shared/shell';
import { guardFailed, onHost, sleep, stepResult } from '../shared/step';

/** GETs of etcd's /health per DB node and member; the worst counts. */
const ROUND_TRIPS = 20;
/** Lag samples, a second apart; the worst counts. */
const LAG_SAMPLES = 5;

export interface Headroom {
  /** The slowest etcd /health round trip seen from each DB node, in ms (Infinity: a request failed). */
  etcdWorstMs: { from: string; to: string; ms: number }[];
  /** The largest lag each replica showed, in bytes (undefined: Patroni did not know it). */
  lagWorstBytes: { replica: string; bytes?: number }[];
}

/**
 * Why the topology's timings would fail over on nothing, or lose more than they save; empty when
 * they fit. A leader that cannot refresh its key within retry_timeout demotes itself: a round trip
 * that already takes a tenth of it leaves no room for one slow fsync. A replica lagging by half of
 * maximum_lag_on_failover may be ineligible when the short ttl fails over on a hiccup.
 */
export function headroomProblems(topology: Topology, measured: Headroom): string[] {
  const budgetMs = (topology.patroni.retry_timeout * 1000) / 10;
  const lagLimit = topology.patroni.maximum_lag_on_failover / 2;
  const problems: string[] = [];
  for (const rt of measured.etcdWorstMs.filter((r) => r.ms > budgetMs)) {
    problems.push(
      `etcd's round trip from ${rt.from} to ${rt.to} reached ${Number.isFinite(rt.ms) ? `${Math.round(rt.ms)} ms` : 'a failed request'}, over ${budgetMs} ms (a tenth of retry_timeout ${topology.patroni.retry_timeout} s): the leader could lose its key on one slow answer`,
    );
  }
  for (const lag of measured.lagWorstBytes.filter((l) => l.bytes === undefined || l.bytes > lagLimit)) {
    problems.push(
      `${lag.replica} lagged ${lag.bytes === undefined ? 'by an unknown amount' : `${lag.bytes} bytes`}, over ${lagLimit} (half of maximum_lag_on_failover): a failover on a hiccup could find no replica to promote, or lose what it lacks`,
    );
  }
  return problems;
}

/** The slowest of ROUND_TRIPS GETs of each URL, in seconds, run on the host itself (Patroni's python3). */
const ROUND_TRIP_SCRIPT = [
  'import os, ssl, sys, time, urllib.request',
  // With TLS, verified with the cluster's CA as Patroni does (each request a new handshake: a bound from above).
  "context = ssl.create_default_context(cafile=os.environ['CA']) if os.environ.get('CA') else None",
  'for url in sys.argv[1:]:',
  '    worst = 0.0',
  `    for _ in range(${ROUND_TRIPS}):`,
  '        start = time.monotonic()',
  '        try:',
  '            urllib.request.urlopen(url, timeout=5, context=context).read()',
  '        except Exception:',
  '            worst = float("inf")',
  '            break',
  '        worst = max(worst, time.monotonic() - start)',
  '    print(url, worst)',
].join('\n');

export async function timingHeadroom(input: ClusterInput): Promise<StepResult> {
  const { topology } = input;
  const urls = etcdMembers(topology).map((m) => ({ name: m.name, url: etcdUrl(topology, m, '/health') }));
  const ca = tlsPaths(topology)?.caBundle;
  const etcdWorstMs: Headroom['etcdWorstMs'] = [];
  for (const host of dbHosts(topology)) {
    const out = await onHost({ ...input, host: host.name }, (ssh) => ssh.check(`${ca ? `CA=${shellQuote(ca)} ` : ''}python3 -c ${shellQuote(ROUND_TRIP_SCRIPT)} ${urls.map((u) => shellQuote(u.url)).join(' ')}`, { timeoutMs: 120_000 }));
    for (const line of out.trim().split('\n')) {
      const [url, seconds] = line.split(' ');
      etcdWorstMs.push({ from: host.name, to: urls.find((u) => u.url === url)?.name ?? url, ms: Number(seconds) * 1000 });
    }
  }
  const lagWorst = new Map<string, number | undefined>();
  for (let i = 0; i < LAG_SAMPLES; i++) {
    const health = await readClusterHealth(input);
    for (const m of health.members.filter((x) => x.name !== health.leader)) {
      const bytes = typeof m.lag === 'number' ? m.lag : undefined;
      const seen = lagWorst.has(m.name) ? lagWorst.get(m.name) : 0;
      lagWorst.set(m.name, bytes === undefined || seen === undefined ? undefined : Math.max(seen, bytes));
    }
    if (i < LAG_SAMPLES - 1) await sleep(1000);
  }
  const measured: Headroom = { etcdWorstMs, lagWorstBytes: [...lagWorst].map(([replica, bytes]) => ({ replica, bytes })) };
  const summary = `etcd's worst round trip ${Math.round(Math.max(0, ...etcdWorstMs.map((r) => r.ms)))} ms over ${ROUND_TRIPS} per DB node and member; replica lag at most ${measured.lagWorstBytes.map((l) => `${l.replica} ${l.bytes ?? 'unknown'} bytes`).join(', ') || 'none (no replica)'} over ${LAG_SAMPLES} s`;
  const problems = headroomProblems(topology, measured);
  if (problems.length > 0) {
    throw guardFailed(
      `timings ttl ${topology.patroni.ttl}, retry_timeout ${topology.patroni.retry_timeout} would fail over on nothing here: ${problems.join('; ')} (measured: ${summary})`,
      `keep a profile with more room (\`haflow tune ${topology.cluster} --profile fast\`), or first find why etcd answers slowly or the replica lags`,
    );
  }
  return stepResult([], summary);
}
