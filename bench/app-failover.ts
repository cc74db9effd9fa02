// Application-path downtime after the master application's machine loses its power, with the
// application monitor running, on the standalone lab (the machine is also the database leader, so
// Patroni fails over at the same time) and on the classic lab (no Patroni: the monitor fences the
// old master and promotes the slave's database itself). Then the old master is powered on (the
// application monitor fences it) and `haflow app switchback` makes it master again, measured the same way;
// on the standalone lab a switchover then brings the database leader back to it as well, so every
// round strikes both tiers' masters at once.
// Measured by a probe through the observer's HAProxy: a GET of the application's health URL every
// 250 ms, 200 only while the application writes to its database; a downtime runs from the first
// failed answer to the first 200 after the last failed one. The monitor's own timeline (first
// failed check, detection, answering again) is read from its event log. Measures; asserts nothing.
// Needs root, the lab's packages and the Temporal CLI; leaves nothing running.
// With `drill` after the profiles, each round is `haflow drill --fault crash-app-master` instead,
// measured by the drill's own probe and report (the same probe on both layouts), then put back.
// Run: node --import tsx bench/app-failover.ts [rounds] [profile,...] [drill]
//   profiles: lab (the standalone lab topology: Patroni ttl 10, HAProxy inter 3s fall 3 rise 2, monitor defaults: every 3 s, 3 s limit, 3 failures)
//             fast (standalone, patroni.profile fast: ttl 6, HAProxy inter 0.5s fall 2 rise 1, monitor every 1 s, 2.5 s limit, 3 failures)
//             classic (the classic lab topology: HAProxy inter 3s fall 3 rise 2, monitor defaults)
import type { Client } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { postgresTls } from '../activities/postgres/superuser';
import { dbHosts, haproxyHosts } from '../topology/derive';
import { readHealth } from '../client/cluster';
import { monitorStatus, startMonitor, stopMonitor } from '../client/monitor';
import { Lab } from '../lab';
import { secondsBetween } from '../runbooks/app-monitor';
import { startRunbook } from '../client/api';
import { switchbackApp } from '../client/monitor';
import type { MeasuredOutcome } from '../workflows/measured';
import { forEachInstalledProfile, median, withBenchEnvironment, type ProfileEdit } from './environment';

const PROFILES: Record<string, ProfileEdit> = {
  lab: (yaml) => yaml,
  fast: (yaml) => yaml.replace(/ttl: 10\n\s*loop_wait: 2\n\s*retry_timeout: 4/, 'profile: fast'),
  classic: { topology: 'classic', edit: (yaml) => yaml },
};

/** The application's health URL through the (first) HAProxy of the lab. */
function appUrl(lab: Lab): string {
  const proxy = lab.topology.hosts.find((h) => h.roles.includes('haproxy'))!;
  return `http://${proxy.address}:${lab.topology.haproxy.app_http_port}${lab.topology.app!.health_path}`;
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read().catch(() => undefined);
    if (value !== undefined && done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** GET `url` every 250 ms until stopped; the downtime from the first failed answer to the first 200 after the last failed one. */
function probe(url: string) {
  const samples: { at: number; ok: boolean }[] = [];
  let probing = true;
  const loop = (async () => {
    while (probing) {
      const at = Date.now();
      const ok = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status === 200, () => false);
      samples.push({ at, ok });
      await sleep(Math.max(0, 250 - (Date.now() - at)));
    }
  })();
  const downtime = () => {
    const first = samples.findIndex((s) => !s.ok);
    if (first < 0) return 0;
    const last = samples.map((s) => s.ok).lastIndexOf(false);
    return samples[last + 1] ? (samples[last + 1].at - samples[first].at) / 1000 : undefined;
  };
  return {
    /** Waits until it answers 200 again after failing (or, if it never failed, returns 0), then stops. */
    async downtime(timeoutMs: number): Promise<number> {
      const seconds = await until('the application through HAProxy', async () => downtime(), (d) => d !== undefined, timeoutMs);
      probing = false;
      await loop;
      return seconds!;
    },
  };
}

/**
 * The database the application writes to, probed as the drills' write probe does: a numbered row
 * every 100 ms, keeping which numbers were acknowledged. Standalone: through HAProxy's write
 * endpoint, as the application writes. Classic: each application writes to its own node's
 * database, so the probe writes to the node that took its last write and moves to the other one
 * when a write fails (the slave's database refuses writes until it is promoted).
 */
function writeProbe(lab: Lab) {
  const t = lab.topology;
  const endpoints =
    t.layout === 'classic'
      ? dbHosts(t).map((h) => ({ host: h.address, port: t.postgresql.port }))
      : [{ host: haproxyHosts(t)[0].address, port: t.haproxy.postgres_port }];
  const password = process.env.HAFLOW_PG_SUPERUSER_PASSWORD;
  const connect = async (i: number) => {
    const c = new PgClient({ ...endpoints[i], user: 'postgres', password, database: 'postgres', connectionTimeoutMillis: 1000, query_timeout: 1000, ssl: postgresTls(t, endpoints[i]) });
    c.on('error', () => undefined);
    await c.connect();
    return c;
  };
  const acked: number[] = [];
  const failedAt: number[] = [];
  let running = true;
  let current = 0;
  let client: PgClient | undefined;
  const loop = (async () => {
    const setup = await connect(0);
    await setup.query('CREATE TABLE IF NOT EXISTS haflow_bench_probe (id bigint PRIMARY KEY, at timestamptz DEFAULT now()); TRUNCATE haflow_bench_probe');
    await setup.end();
    for (let id = 1; running; id++) {
      const at = Date.now();
      try {
        client ??= await connect(current);
        await client.query('INSERT INTO haflow_bench_probe (id) VALUES ($1)', [id]);
        acked.push(id);
      } catch {
        failedAt.push(at);
        await client?.end().catch(() => undefined);
        client = undefined;
        current = (current + 1) % endpoints.length;
      }
      await sleep(Math.max(0, 100 - (Date.now() - at)));
    }
  })();
  return {
    /** Stops; the write downtime (first failed write to the last failed one, plus one interval) and the acknowledged writes the writable database lacks. */
    async stop(): Promise<{ writeDowntime: number; lost: number }> {
      running = false;
      await loop;
      await client?.end().catch(() => undefined);
      const reader = await connect(current);
      const { rows } = await reader.query<{ id: string }>('SELECT id FROM haflow_bench_probe');
      await reader.end();
      const present = new Set(rows.map((r) => Number(r.id)));
      const writeDowntime = failedAt.length ? (failedAt.at(-1)! - failedAt[0] + 100) / 1000 : 0;
      return { writeDowntime, lost: acked.filter((id) => !present.has(id)).length };
    },
  };
}

interface Round {
  downtime: number;
  writeDowntime: number;
  lost: number;
  detect: number;
  failover: number;
  switchback: number;
}

/** One crash of the master application's machine, its failover, the late fence, and the switchback. */
async function round(client: Client, lab: Lab): Promise<Round> {
  const cluster = lab.topology.cluster;
  const before = await monitorStatus(client, cluster);
  const crashed = probe(appUrl(lab));
  const writes = writeProbe(lab);
  await sleep(1_000);
  await lab.crash(before.master);
  const after = await until('the failover', () => monitorStatus(client, cluster), (v) => v.failovers === before.failovers + 1 && v.phase === 'watching', 300_000).catch(async (err: Error) => {
    // What the monitor saw, for whoever reads the failed run.
    const view = await monitorStatus(client, cluster).catch(() => undefined);
    throw new Error(`${err.message}; the monitor's last events:\n${view?.events.slice(-6).map((e) => `  ${e.at} ${e.kind} ${e.message}`).join('\n') ?? '  (no answer)'}`);
  });
  const downtime = await crashed.downtime(120_000);
  // A few seconds of writes after the recovery, so that the last failed write is behind us.
  await sleep(5_000);
  const { writeDowntime, lost } = await writes.stop();
  const event = after.events.filter((e) => e.kind === 'failover').at(-1)!;
  await lab.boot(before.master);
  const switchback = await backAsItWas(client, lab, before.master);
  return { downtime, writeDowntime, lost, detect: secondsBetween(event.firstFailureAt!, event.detectedAt!), failover: secondsBetween(event.detectedAt!, event.answeringAt!), switchback };
}

/**
 * After a crash of `master`, powered on again: the monitor's fence awaited, the application
 * switched back (its downtime through HAProxy returned), and on the standalone lab the Patroni
 * leader moved back too, so that every round strikes both tiers' masters at once.
 */
async function backAsItWas(client: Client, lab: Lab, master: string): Promise<number> {
  const cluster = lab.topology.cluster;
  await until('the late fence', () => monitorStatus(client, cluster), (v) => v.unfenced === undefined, 180_000);
  // Patroni rejoins the old leader by itself; the classic switchback rebuilds it.
  if (lab.topology.layout !== 'classic') await until('a healthy cluster', () => readHealth(client, lab.topology), (h) => h.healthy, 300_000);
  const planned = probe(appUrl(lab));
  await switchbackApp(client, cluster);
  const switchback = await planned.downtime(120_000);
  if (lab.topology.layout !== 'classic') {
    const health = await readHealth(client, lab.topology);
    if (health.leader !== master) {
      const outcome = await (await startRunbook(client, 'switchover', lab.topology, { leader: health.leader!, candidate: master })).result();
      if (outcome.status !== 'completed') throw new Error(`the switchover back to ${master} did not complete`);
      await until('a healthy cluster', () => readHealth(client, lab.topology), (h) => h.healthy && h.leader === master, 120_000);
    }
  }
  return switchback;
}

interface DrillRound {
  app?: number;
  writes?: number;
  lost?: number;
  predicted: number;
  pass: boolean;
}

/** One `haflow drill --fault crash-app-master` (the drill's own probe and report), then back as it was. */
async function drillRound(client: Client, lab: Lab): Promise<DrillRound> {
  const before = await monitorStatus(client, lab.topology.cluster);
  const leader = lab.topology.layout === 'classic' ? before.master : (await readHealth(client, lab.topology)).leader!;
  const outcome = (await (await startRunbook(client, 'drill', lab.topology, { fault: 'crash-app-master', leader, appMaster: before.master })).result()) as MeasuredOutcome;
  const report = outcome.report;
  if (!report) throw new Error(`the drill gave no report (${outcome.status})`);
  await backAsItWas(client, lab, before.master);
  const f = report.figures;
  return { app: f.appDowntimeSeconds, writes: f.writeDowntimeSeconds, lost: f.lostWrites, predicted: report.predicted.expectedSeconds, pass: report.verdict.pass };
}

async function drills(rounds: number, profiles: string[]): Promise<void> {
  const rows: string[] = [];
  await withBenchEnvironment(async (client, dir) => {
    process.env.XDG_DATA_HOME = dir;
    await forEachInstalledProfile(client, dir, profiles, PROFILES, async (lab, profile) => {
      await startMonitor(client, lab.topology);
      await until('the first check', () => monitorStatus(client, lab.topology.cluster), (v) => v.lastCheck !== undefined, 60_000);
      const results: DrillRound[] = [];
      for (let i = 0; i < rounds; i++) {
        const r = await drillRound(client, lab);
        process.stdout.write(`${profile} drill ${i + 1}: application ${r.app} s, writes ${r.writes} s, lost ${r.lost}, predicted ${r.predicted} s, ${r.pass ? 'PASS' : 'FAIL'}\n`);
        results.push(r);
      }
      await stopMonitor(client, lab.topology.cluster);
      const app = results.map((r) => r.app ?? NaN);
      const writes = results.map((r) => r.writes ?? NaN);
      rows.push(
        `| ${profile} (${lab.topology.layout}) | ${results.length} | ${median(app).toFixed(1)} s | ${Math.max(...app).toFixed(1)} s | ${results[0].predicted} s | ${median(writes).toFixed(1)} s | ${Math.max(...writes).toFixed(1)} s | ${results.map((r) => r.lost).join(', ')} | ${results.filter((r) => r.pass).length} of ${results.length} |`,
      );
    });
  });
  process.stdout.write(['', '| profile | drills | application downtime, median | worst | predicted | write downtime, median | worst | lost writes, per drill | verdict PASS |', '|---|---|---|---|---|---|---|---|---|', ...rows].join('\n') + '\n');
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 5);
  const profiles = (process.argv[3] ?? 'lab,classic').split(',');
  if (process.argv[4] === 'drill') return drills(rounds, profiles);
  const rows: string[] = [];
  await withBenchEnvironment(async (client, dir) => {
    await forEachInstalledProfile(client, dir, profiles, PROFILES, async (lab, profile) => {
      await startMonitor(client, lab.topology);
      await until('the first check', () => monitorStatus(client, lab.topology.cluster), (v) => v.lastCheck !== undefined, 60_000);
      const results = [];
      for (let i = 0; i < rounds; i++) {
        const r = await round(client, lab);
        process.stdout.write(`${profile} round ${i + 1}: application-path downtime ${r.downtime.toFixed(1)} s (observer: detected after ${r.detect} s, failed over in ${r.failover} s); write downtime ${r.writeDowntime.toFixed(1)} s, ${r.lost} acknowledged write(s) lost; switchback ${r.switchback.toFixed(1)} s\n`);
        results.push(r);
      }
      await stopMonitor(client, lab.topology.cluster);
      const o = lab.topology.app!.monitor;
      const downtimes = results.map((r) => r.downtime);
      rows.push(
        `| ${profile} (${lab.topology.layout}) | every ${o.interval_seconds} s, ${o.failures} failures, ${o.timeout_seconds} s limit | ${results.length} | ${median(downtimes).toFixed(1)} s | ${Math.max(...downtimes).toFixed(1)} s | ${median(results.map((r) => r.detect)).toFixed(1)} s | ${median(results.map((r) => r.failover)).toFixed(1)} s | ${median(results.map((r) => r.writeDowntime)).toFixed(1)} s | ${results.map((r) => r.lost).join(', ')} | ${median(results.map((r) => r.switchback)).toFixed(1)} s |`,
      );
    });
  });
  process.stdout.write(['', '| profile | observer | crashes | application-path downtime, median | worst | detection, median | failover runbook, median | write downtime, median | acknowledged writes lost, per crash | switchback downtime (application path), median |', '|---|---|---|---|---|---|---|---|---|---|', ...rows].join('\n') + '\n');
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
