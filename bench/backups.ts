// Backups and restores on the standalone lab, with a database of about 1 GB (pgbench): a full
// backup through haflow (pgBackRest, read from the replica) against pg_basebackup of the same
// data in the same run, an incremental backup after 5 % of the data changed, a restore to a
// queryable database on the spare machine, the archive's lag under a steady write load, and what
// a writer through HAProxy felt while the full backup ran. Measures; asserts nothing. Needs root,
// the lab's packages and the Temporal CLI; leaves nothing running.
// Run: npm run bench -- backups [pgbench scale, default 70: about 1 GB]
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { startInstall, startRunbook } from '../client/api';
import { readBackups } from '../client/cluster';
import { Lab } from '../lab';
import { postgresTls } from '../activities/postgres/superuser';
import { targetFor, withHostSsh } from '../activities/shared/ssh';
import { hostByName, initialLeader, initialReplicas, postgresBinDir, type Topology } from '../topology';
import type { RunbookOutcome } from '../workflows/protocol';
import type { Bench } from './record';
import { waitHealthy, withBenchEnvironment } from './environment';

const DATABASE = 'haflow_bench';

/** A command on a lab machine as root, its output; throws with its error output when it fails. */
async function onHost(topology: Topology, host: string, command: string, stdin?: string): Promise<string> {
  return withHostSsh(targetFor(topology, hostByName(topology, host)), (ssh) => ssh.check(command, { sudo: true, timeoutMs: 3600_000, ...(stdin !== undefined ? { stdin } : {}) }));
}

const psqlOn = (topology: Topology, host: string, sql: string, db = DATABASE) =>
  onHost(topology, host, `sudo -u postgres psql -X -At -v ON_ERROR_STOP=1 -h /var/run/postgresql -p ${topology.postgresql.port} -d ${db}`, sql);

async function timed<T>(body: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = Date.now();
  const value = await body();
  return { value, seconds: (Date.now() - started) / 1000 };
}

/** A runbook to completion; its outcome, or an error naming the step that stopped it. */
async function completed(handle: { result(): Promise<unknown> }): Promise<RunbookOutcome> {
  return (await handle.result()) as RunbookOutcome;
}

const factsOf = (outcome: RunbookOutcome, id: string) => outcome.steps.find((s) => s.id === id)?.facts ?? {};

/** A writer through HAProxy, a write every 100 ms, as an application would feel a backup: failed writes and the longest gap. */
function writeProbe(topology: Topology) {
  const proxy = topology.hosts.find((h) => h.roles.includes('haproxy'))!;
  const at = { host: proxy.address, port: topology.haproxy.postgres_port };
  let stop = false;
  let failed = 0;
  let writes = 0;
  let longestGapMs = 0;
  const done = (async () => {
    let client: PgClient | undefined;
    let last = Date.now();
    await psqlOn(topology, initialLeader(topology).name, 'CREATE TABLE IF NOT EXISTS bench_probe (at timestamptz DEFAULT clock_timestamp());');
    while (!stop) {
      try {
        if (!client) {
          client = new PgClient({ ...at, user: topology.postgresql.superuser.username, password: process.env.HAFLOW_PG_SUPERUSER_PASSWORD, database: DATABASE, ssl: postgresTls(topology, at), connectionTimeoutMillis: 2000 });
          await client.connect();
        }
        await client.query('INSERT INTO bench_probe DEFAULT VALUES');
        writes++;
        longestGapMs = Math.max(longestGapMs, Date.now() - last);
        last = Date.now();
      } catch {
        failed++;
        await client?.end().catch(() => undefined);
        client = undefined;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await client?.end().catch(() => undefined);
  })();
  return {
    async stop() {
      stop = true;
      await done;
      return { writes, failed, longestGapMs };
    },
  };
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

export const run: Bench = async (args) => {
  const scale = Number(args[0] ?? 70);
  const rows: string[] = [];
  let lagNote = '';
  await withBenchEnvironment(async (client: Client, dir: string) => {
    process.env.XDG_DATA_HOME = dir;
    const lab = await Lab.up(join(__dirname, '../lab/topologies/standalone.yaml'), { wipe: true });
    try {
      const topology = lab.topology;
      const install = await completed(await startInstall(client, topology));
      if (install.status !== 'completed') throw new Error('install failed');
      const leader = initialLeader(topology).name;
      const replica = initialReplicas(topology)[0].name;
      const bin = postgresBinDir(topology);

      await psqlOn(topology, leader, `CREATE DATABASE ${DATABASE};`, 'postgres');
      const init = await timed(() => onHost(topology, leader, `sudo -u postgres ${bin}/pgbench -i -q -s ${scale} -h /var/run/postgresql -p ${topology.postgresql.port} ${DATABASE} 2>&1 | tail -1`));
      const size = Number((await psqlOn(topology, leader, `SELECT pg_database_size('${DATABASE}');`)).trim());
      rows.push(`| pgbench -i -s ${scale} | ${init.seconds.toFixed(1)} s | database ${mib(size)} MiB |`);
      await waitHealthy(client, lab);

      // The full backup, with a writer through HAProxy the whole time.
      const probe = writeProbe(topology);
      const full = await timed(async () => completed(await startRunbook(client, 'backup', topology, { type: 'full' })));
      const felt = await probe.stop();
      const f = factsOf(full.value, 'backup.take');
      rows.push(
        `| full backup (haflow backup, pgBackRest from the replica ${f.from}, zst, 2 processes) | ${f.seconds} s in pgBackRest, ${full.seconds.toFixed(1)} s the whole runbook | ${mib(Number(f.databaseBytes))} MiB read, ${mib(Number(f.repositoryBytes))} MiB stored; ${(Number(f.databaseBytes) / 2 ** 20 / Math.max(1, Number(f.seconds))).toFixed(0)} MiB/s |`,
        `| a writer through HAProxy during the full backup | ${felt.writes} writes, ${felt.failed} failed | longest gap between acknowledged writes ${felt.longestGapMs} ms |`,
      );

      // pg_basebackup of the same data, from the same replica, compressed the same way (zstd on the client).
      const password = process.env.HAFLOW_PG_REPLICATION_PASSWORD!;
      const replicaAddress = hostByName(topology, replica).address;
      const basebackup = await timed(() =>
        onHost(
          topology,
          leader,
          `rm -rf /var/tmp/bench-basebackup && install -d -o postgres /var/tmp/bench-basebackup && sudo -u postgres env PGPASSWORD="$(cat)" ${bin}/pg_basebackup -d "host=${replicaAddress} port=${topology.postgresql.port} user=${topology.postgresql.replication.username} sslmode=verify-full sslrootcert=/etc/haflow/tls/ca.crt" -D /var/tmp/bench-basebackup -Ft -X fetch -c fast --compress=client-zstd && du -sb /var/tmp/bench-basebackup | cut -f1; rm -rf /var/tmp/bench-basebackup`,
          password,
        ),
      );
      rows.push(`| pg_basebackup from the same replica (tar, client zstd) | ${basebackup.seconds.toFixed(1)} s | ${mib(Number(basebackup.value.trim().split('\n').at(-1)))} MiB; pgBackRest's full backup took ${(Number(f.seconds) / basebackup.seconds).toFixed(2)} × its time |`);

      // 5 % of the accounts, contiguous, changed; then an incremental backup.
      const accounts = scale * 100_000;
      await psqlOn(topology, leader, `UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= ${Math.round(accounts * 0.05)};`);
      const incr = await timed(async () => completed(await startRunbook(client, 'backup', topology, { type: 'incr' })));
      const i = factsOf(incr.value, 'backup.take');
      rows.push(`| incremental backup after 5 % of pgbench_accounts changed | ${i.seconds} s in pgBackRest, ${incr.seconds.toFixed(1)} s the whole runbook | ${mib(Number(i.repositoryBytes))} MiB stored |`);

      // A restore to now, on the spare machine.
      const target = new Date(Date.now() - 1000).toISOString();
      const restore = await completed(await startRunbook(client, 'restore', topology, { to: 'spare', targetTime: target }));
      const r = factsOf(restore, 'restore.host@spare');
      rows.push(`| restore to a time after the incremental backup, on the spare machine | ${r.restoreSeconds} s to a queryable database | the full and the incremental backup, then the archive |`);

      // The archive's lag under a steady write load: pgbench for 60 s, the repository read every 5 s.
      const load = onHost(topology, leader, `sudo -u postgres ${bin}/pgbench -n -c 4 -T 60 -h /var/run/postgresql -p ${topology.postgresql.port} ${DATABASE} 2>&1 | grep -E '^tps'`);
      const lags: { segments: number; age: number }[] = [];
      const until = Date.now() + 60_000;
      while (Date.now() < until) {
        const report = await readBackups(client, topology);
        lags.push({ segments: report.archiveLagSegments ?? -1, age: report.archiveAgeSeconds ?? -1 });
        await new Promise((resolve) => setTimeout(resolve, 5000));
      }
      const tps = (await load).trim();
      const worst = lags.reduce((a, b) => (b.segments > a.segments ? b : a), lags[0]);
      rows.push(`| archive lag under pgbench -c 4 -T 60 (${tps}) | worst ${worst.segments} finished segment(s) not yet archived, over ${lags.length} readings | last archived at most ${Math.max(...lags.map((l) => l.age))} s before a reading |`);
      lagNote = lags.map((l) => `${l.segments}`).join(', ');
    } finally {
      await lab.down();
    }
  });
  return {
    title: `Backups and restores with pgBackRest (pgbench scale ${scale})`,
    method:
      'The standalone lab installed bare (the repository on the observer, encrypted, zst, process_max 2). Times of pgBackRest as its info reports them (start to stop) and of the whole runbook (gate, backup, verification); ' +
      'pg_basebackup run on the leader against the replica the backup reads, in the same run; the writer a new pg client through HAProxy with TLS, a write every 100 ms; ' +
      "the restore's time from its start to a database that answers as a primary on the spare; the archive's lag as `haflow backups` reads it (finished WAL segments the archive lacks).",
    markdown: ['| what | time | figures |', '|---|---|---|', ...rows, '', `Archive lag readings during the load (segments): ${lagNote}.`].join('\n'),
  };
};
