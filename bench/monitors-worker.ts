// The worker process of the monitors benchmark (bench/monitors.ts): haflow's real worker
// (worker/worker.ts, haflow's activities and workflows) against the bench's dev server, alone in
// its process so that the bench can read its CPU and memory from /proc.
// Started by the bench over an IPC channel, never by hand:
//   fork('bench/monitors-worker.ts', [temporal address, activity slots?], { execArgv: ['--import', 'tsx'] })
// Sends { ready: true } once it polls (or { error } and exits 1); SIGTERM stops it (the SDK's
// runtime turns it into a worker shutdown), after which the process exits.
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { createWorker } from '../worker/worker';

async function main(): Promise<void> {
  const address = process.argv[2];
  if (!address) throw new Error('usage: monitors-worker.ts <temporal address>');
  Runtime.install({ logger: new DefaultLogger('WARN') });
  // The bench gone (crashed, killed): stop as if told to, rather than poll on alone.
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  const connection = await NativeConnection.connect({ address });
  try {
    const slots = process.argv[3] ? Number(process.argv[3]) : undefined;
    const worker = await createWorker({ connection, namespace: 'default', shutdownGraceTime: '10s', ...(slots ? { maxConcurrentActivityTaskExecutions: slots } : {}) });
    const running = worker.run();
    process.send?.({ ready: true });
    await running;
  } finally {
    await connection.close();
  }
}

main().then(
  // The IPC channel would keep the process alive after the worker stopped.
  () => process.exit(0),
  (err) => {
    process.send?.({ error: (err as Error).stack ?? String(err) });
    process.exit(1);
  },
);
