// The application as its users see it through HAProxy: a probe that measures the downtime of its
// health URL, and HAProxy's own view of the application servers.

/** GET `url` every 250 ms, from now until stopped: when answers stopped being 200, and when they came back. */
export function probeApplication(url: string) {
  const samples: { at: number; ok: boolean }[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const at = Date.now();
      const ok = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status === 200, () => false);
      samples.push({ at, ok });
      await new Promise((r) => setTimeout(r, Math.max(0, 250 - (Date.now() - at))));
    }
  })();
  return {
    /** Seconds from the first failed answer to the first 200 after the last failed one; undefined while it has not come back. */
    downtime(): number | undefined {
      const firstFail = samples.findIndex((s) => !s.ok);
      if (firstFail < 0) return 0;
      const lastFail = samples.map((s) => s.ok).lastIndexOf(false);
      const back = samples[lastFail + 1];
      return back ? (back.at - samples[firstFail].at) / 1000 : undefined;
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}

/**
 * The login to the lab's stats pages: every lab topology sets haproxy.stats_auth to the user
 * haflow with the password from HAFLOW_HAPROXY_STATS_PASSWORD.
 */
export function labStatsHeaders(): Record<string, string> {
  const password = process.env.HAFLOW_HAPROXY_STATS_PASSWORD ?? '';
  return { authorization: `Basic ${Buffer.from(`haflow:${password}`).toString('base64')}` };
}

/** HAProxy's application servers (the `backend` section) and their status, from its stats page at `statsUrl`. */
export async function appServers(statsUrl: string, headers: Record<string, string> = labStatsHeaders()): Promise<string[]> {
  const csv = await (await fetch(new URL(';csv', statsUrl), { headers })).text();
  return csv
    .split('\n')
    .map((l) => l.split(','))
    .filter((f) => f[0] === 'backend' && f[1] !== 'BACKEND' && f[1] !== 'FRONTEND' && f[1] !== undefined)
    .map((f) => `${f[1]} ${f[17]}`)
    .sort();
}
