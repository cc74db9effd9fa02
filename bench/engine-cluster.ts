// Benchmark "engine" (bench/engine.ts) side by side on the embedded dev server and on a production
// Temporal cluster (lab/temporal-cluster.ts: the server built from the Go module proxy, its
// schema in PostgreSQL 15 on 127.0.0.90, frontend, history, matching and worker as separate
// processes on 127.0.0.91, namespace haflow), one after the other in the same run, with haflow's
// worker defaults. Needs root, PostgreSQL 15, Go (unless the server is built) and the Temporal
// CLI; leaves nothing running (the cluster's state directory is removed).
// Run: npm run bench -- engine-cluster [concurrency,...]
import { withTemporalCluster } from '../lab/temporal-cluster';
import { run as engine } from './engine';
import type { Bench } from './record';

export const run: Bench = async (args) => {
  const levels = args[0] ?? '1,10,50,200';
  process.stdout.write('engine on the embedded dev server …\n');
  const dev = await engine([levels, '--configs', 'default']);
  process.stdout.write('engine on a Temporal cluster …\n');
  let bringUp = '';
  const cluster = await withTemporalCluster(async (settings, running) => {
    bringUp = `cluster up in ${running.timings.totalSeconds.toFixed(1)} s, the server ${running.timings.build}`;
    return engine([levels, '--configs', 'default', '--address', settings.address, '--namespace', settings.namespace]);
  });
  return {
    title: 'Engine: the embedded dev server beside a Temporal cluster',
    method: `Both halves are bench/engine.ts with haflow's worker defaults (the same levels, ${levels} at once), first on the embedded dev server (SQLite), then on a Temporal v1.32.2 cluster of four service processes on PostgreSQL 15 (${bringUp}). ${dev.method}`,
    markdown: ['#### Embedded dev server', '', dev.markdown, '', '#### Temporal cluster (PostgreSQL, four services)', '', cluster.markdown].join('\n'),
  };
};
