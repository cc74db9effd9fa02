// Application-path downtime after the master application's machine loses its power, with the
// application observer running (standalone lab: the machine is also the database leader, so
// Patroni fails over at the same time). Measured by a probe through the observer's HAProxy: a GET
// of the application's health URL every 250 ms, 200 only while the application writes to its
// database; the downtime runs from the first failed answer to the first 200 after the last failed
// one. The observer's own timeline (first failed check, detection, answering again) is read from
// its event log. Measures; asserts nothing. Needs root, the lab's packages and the Temporal CLI;
// leaves nothing running.
// Run: node --import tsx bench/app-failover.ts [rounds] [profile,...]
//   profiles: lab (the lab topology: Patroni ttl 10, HAProxy inter 3s fall 3 rise 2, observer defaults: every 3 s, 3 s limit, 3 failures)
//             fast (patroni.profile fast: ttl 6, HAProxy inter 0.5s fall 2 rise 1, observer every 1 s, 2.5 s limit, 3 failures)
import type { Client } from '@temporalio/client';
import { readHealth } from '../client/cluster';
import { observerStatus, startObserver, stopObserver } from '../client/observer';
import { Lab } from '../lab';
import { secondsBetween } from '../runbooks/app-observer';
import { forEachInstalledProfile, median, withBenchEnvironment } from './environment';

const PROFILES: Record<string, (yaml: string) => string> = {
  lab: (yaml) => yaml,
  fast: (yaml) => yaml.replace(/ttl: 10\n\s*loop_wait: 2\n\s*retry_timeout: 4/, 'profile: fast'),
};

const APP_URL = 'http://127.0.0.11/health';
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

/** One crash of the current master application's machine; the application-path downtime and the observer's phases. */
async function round(client: Client, lab: Lab): Promise<{ downtime: number; detect: number; failover: number }> {
  const cluster = lab.topology.cluster;
  const before = await observerStatus(client, cluster);
  const samples: { at: number; ok: boolean }[] = [];
  let probing = true;
  const probe = (async () => {
    while (probing) {
      const at = Date.now();
      const ok = await fetch(APP_URL, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status === 200, () => false);
      samples.push({ at, ok });
      await sleep(Math.max(0, 250 - (Date.now() - at)));
    }
  })();
  await sleep(1_000);
  await lab.crash(before.master);
  const after = await until('the failover', () => observerStatus(client, cluster), (v) => v.failovers === before.failovers + 1 && v.phase === 'watching', 300_000).catch(async (err: Error) => {
    // What the observer saw, for whoever reads the failed run.
    const view = await observerStatus(client, cluster).catch(() => undefined);
    throw new Error(`${err.message}; the observer's last events:\n${view?.events.slice(-6).map((e) => `  ${e.at} ${e.kind} ${e.message}`).join('\n') ?? '  (no answer)'}`);
  });
  const downtime = await until(
    'the application through HAProxy',
    async () => {
      const first = samples.findIndex((s) => !s.ok);
      const last = samples.map((s) => s.ok).lastIndexOf(false);
      return first >= 0 && samples[last + 1] ? (samples[last + 1].at - samples[first].at) / 1000 : undefined;
    },
    (d) => d !== undefined,
    120_000,
  );
  probing = false;
  await probe;
  const event = after.events.filter((e) => e.kind === 'failover').at(-1)!;
  await lab.boot(before.master);
  // Back to a healthy cluster with the old master fenced, for the next round.
  await until('the late fence', () => observerStatus(client, cluster), (v) => v.unfenced === undefined, 180_000);
  await until('a healthy cluster', () => readHealth(client, lab.topology), (h) => h.healthy, 300_000);
  return { downtime: downtime!, detect: secondsBetween(event.firstFailureAt!, event.detectedAt!), failover: secondsBetween(event.detectedAt!, event.answeringAt!) };
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 5);
  const profiles = (process.argv[3] ?? 'lab,fast').split(',');
  const rows: string[] = [];
  await withBenchEnvironment(async (client, dir) => {
    await forEachInstalledProfile(client, dir, profiles, PROFILES, async (lab, profile) => {
      await startObserver(client, lab.topology);
      await until('the first check', () => observerStatus(client, lab.topology.cluster), (v) => v.lastCheck !== undefined, 60_000);
      const results = [];
      for (let i = 0; i < rounds; i++) {
        const r = await round(client, lab);
        process.stdout.write(`${profile} round ${i + 1}: application-path downtime ${r.downtime.toFixed(1)} s (observer: detected after ${r.detect} s, failed over in ${r.failover} s)\n`);
        results.push(r);
      }
      await stopObserver(client, lab.topology.cluster);
      const o = lab.topology.app!.observer;
      const downtimes = results.map((r) => r.downtime);
      rows.push(
        `| ${profile} | every ${o.interval_seconds} s, ${o.failures} failures, ${o.timeout_seconds} s limit | ${results.length} | ${median(downtimes).toFixed(1)} s | ${Math.max(...downtimes).toFixed(1)} s | ${median(results.map((r) => r.detect)).toFixed(1)} s | ${median(results.map((r) => r.failover)).toFixed(1)} s |`,
      );
    });
  });
  process.stdout.write(['', '| profile | observer | crashes | application-path downtime, median | worst | detection, median | failover runbook, median |', '|---|---|---|---|---|---|---|', ...rows].join('\n') + '\n');
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
