// Stand-in health endpoints for the monitors benchmark (bench/monitors.ts): one small HTTP
// server per application host address, all answering GET <health path> with 200, and counting
// the requests per address, so the bench can show the monitors really asked. Runs in a process
// of its own, so its CPU is not counted as the worker's.
// Started by the bench over an IPC channel, never by hand:
//   fork('bench/monitors-standins.ts', [port, healthPath, address...], { execArgv: ['--import', 'tsx'] })
// Messages: sends { ready: true } once every address listens (or { error } and exits 1);
// answers { counts } to { counts: true }; closes every server and exits on SIGTERM.
import { createServer, type Server } from 'node:http';

export interface StandinCounts {
  /** Requests to the health path, per address. */
  health: Record<string, number>;
  /** Any other request (none expected). */
  other: number;
}

async function main(): Promise<void> {
  const [portText, healthPath, ...addresses] = process.argv.slice(2);
  const port = Number(portText);
  const counts: StandinCounts = { health: Object.fromEntries(addresses.map((a) => [a, 0])), other: 0 };
  const servers: Server[] = [];
  const body = Buffer.from('ok: stand-in\n');
  for (const address of addresses) {
    const server = createServer((request, response) => {
      if (request.method === 'GET' && request.url?.split('?')[0] === healthPath) {
        counts.health[address] += 1;
        response.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
        response.end(body);
      } else {
        counts.other += 1;
        response.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => resolve());
    }).catch((err: Error) => {
      process.send?.({ error: `cannot listen on ${address}:${port}: ${err.message}` });
      process.exit(1);
    });
    servers.push(server);
  }
  process.on('message', (message: { counts?: boolean }) => {
    if (message.counts) process.send?.({ counts });
  });
  process.on('SIGTERM', () => {
    for (const server of servers) server.close();
    for (const server of servers) server.closeAllConnections();
    process.disconnect?.();
  });
  // The parent going away (a crashed bench) ends the stand-ins too.
  process.on('disconnect', () => process.exit(0));
  process.send?.({ ready: true });
}

main().catch((err) => {
  process.send?.({ error: (err as Error).message });
  process.exit(1);
});
