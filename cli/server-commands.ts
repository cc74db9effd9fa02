// The long-running processes: `haflow server` (the embedded Temporal dev server), `haflow worker`
// and `haflow codec-server` (encrypted payloads shown in clear in the web UI). Each runs until
// SIGINT or SIGTERM.
import type { Command } from 'commander';
import { defaultServerDbFile } from '../client/data-dir';
import { FINISHED_RUN_RETENTION_DAYS, startEmbeddedServer } from '../client/dev-server';
import { EMBEDDED_ADDRESS } from '../connection/temporal';
import { codecServerCommand } from './codec-server';
import { exits, positiveInteger, say, tcpPort } from './support';

export function registerServerCommands(program: Command): void {
  program
    .command('server')
    .description('run the embedded Temporal dev server (the `temporal` CLI) with its state in a SQLite file; SIGINT/SIGTERM stop it')
    .option('--db-file <path>', 'SQLite file holding every workflow', defaultServerDbFile())
    .option('--port <n>', 'gRPC port clients and workers connect to', tcpPort, 7233)
    .option('--ui-port <n>', 'web UI port', tcpPort, 8233)
    .action(exits(serverCommand));

  program
    .command('worker')
    .description('run a worker: executes haflow workflows and activities (Temporal connection from TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE, default the embedded dev server)')
    .option('--grace <seconds>', 'seconds running activities get to finish on SIGINT/SIGTERM', '30')
    .option('--activity-slots <n>', 'activities run at once; each application monitor holds one while it watches, so keep it above the clusters watched by this worker plus room for runbooks (default 500)', positiveInteger)
    .action(
      exits(async (opts: { grace: string; activitySlots?: number }) => {
        // Loaded on demand: the worker pulls in the SDK's native runtime, which other commands do not need.
        const { runWorker } = require('../worker/main') as typeof import('../worker/main');
        await runWorker({ graceSeconds: Number(opts.grace), activitySlots: opts.activitySlots });
        return 0;
      }),
    );

  program
    .command('codec-server')
    .description("decrypt haflow's payloads for the Temporal web UI (HAFLOW_CODEC_KEY and HAFLOW_CODEC_KEY_ID as the worker has them); runs until SIGINT/SIGTERM")
    .option('--port <n>', 'HTTP port', tcpPort, 8888)
    .option('--listen <address>', 'address to listen on; whoever reaches it can read the histories', '127.0.0.1')
    .option('--ui-origin <url>', "the web UI's origin, allowed to call it from the browser", 'http://localhost:8233')
    .action(exits(codecServerCommand));
}

interface ServerCommandOptions {
  dbFile?: string;
  port: number;
  uiPort: number;
}

/** `haflow server`: the embedded Temporal dev server until SIGINT/SIGTERM. */
async function serverCommand(opts: ServerCommandOptions): Promise<number> {
  const dbFile = opts.dbFile ?? defaultServerDbFile();
  const server = await startEmbeddedServer({
    dbFile,
    port: opts.port,
    uiPort: opts.uiPort,
    onLog: (line) => process.stderr.write(`temporal: ${line}\n`),
  });
  say(`Temporal dev server for haflow on ${server.address} (pid ${server.pid})`);
  say(`  web UI:  ${server.uiUrl}`);
  say(`  state:   ${dbFile} (finished runs are kept ${FINISHED_RUN_RETENTION_DAYS} days)`);
  if (server.address !== EMBEDDED_ADDRESS) say(`  clients and workers find it with:  export TEMPORAL_ADDRESS=${server.address}`);
  say('Ctrl-C or SIGTERM stops it.');
  const stopped = await Promise.race([nextSignal().then((signal) => ({ signal })), server.exited.then((code) => ({ code }))]);
  if ('code' in stopped) {
    process.stderr.write(`haflow: the Temporal dev server exited on its own (code ${stopped.code})\n`);
    return 1;
  }
  await server.stop();
  say(`${stopped.signal}: Temporal dev server stopped; its state stays in ${dbFile}`);
  return 0;
}

function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
  });
}
