// Preloaded (`node --import tsx --import <this file>`) into a CLI process that must connect
// nowhere: the first outgoing TCP connection (SSH, Temporal's gRPC, HTTP) ends the process
// with exit 99 and says where it was going.
import net from 'node:net';

net.Socket.prototype.connect = function connect(...args: unknown[]): never {
  process.stderr.write(`NETWORK ATTEMPT: connect ${JSON.stringify(args[0])}\n`);
  process.exit(99);
} as typeof net.Socket.prototype.connect;
