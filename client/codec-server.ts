// `haflow codec-server`: lets the Temporal web UI (and `temporal … --codec-endpoint`) show
// haflow's encrypted payloads in clear, in the browser of someone who can reach this server.
// It speaks Temporal's remote codec protocol: POST /decode and POST /encode with
// {"payloads": [{"metadata": {...}, "data": "<base64>"}]} (proto3 JSON), answering the same shape.
// It listens on loopback by default: whoever reaches it can read the histories.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { AesGcmCodec, codecKeysFromEnv } from '../connection/codec';

export interface CodecServerOptions {
  codec: PayloadCodec;
  port?: number;
  host?: string;
  /** The web UI's origin, allowed to call from the browser (CORS), e.g. http://localhost:8233. */
  allowOrigin?: string;
}

/** A request body larger than this is refused: histories are read a page of payloads at a time. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

type JsonPayloads = { payloads?: unknown[] };

function toPayloads(body: JsonPayloads): Payload[] {
  if (!body || !Array.isArray(body.payloads)) throw new RequestError(400, 'the body must be {"payloads": [...]}');
  return body.payloads.map((p) => temporal.api.common.v1.Payload.fromObject(p as object) as Payload);
}

function toJson(payloads: Payload[]): JsonPayloads {
  return { payloads: payloads.map((p) => temporal.api.common.v1.Payload.toObject(temporal.api.common.v1.Payload.create(p), { bytes: String })) };
}

class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readBody(req: IncomingMessage): Promise<JsonPayloads> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new RequestError(413, `the body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as JsonPayloads;
  } catch {
    throw new RequestError(400, 'the body is not JSON');
  }
}

export async function startCodecServer(options: CodecServerOptions): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
  const cors = (res: ServerResponse) => {
    if (!options.allowOrigin) return;
    res.setHeader('Access-Control-Allow-Origin', options.allowOrigin);
    res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
    res.setHeader('Access-Control-Allow-Credentials', 'true');
  };
  const server = createServer(async (req, res) => {
    cors(res);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204);
      res.end();
      return;
    }
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'POST' || (path !== '/decode' && path !== '/encode')) {
      send(404, { message: 'POST /decode or POST /encode' });
      return;
    }
    try {
      const payloads = toPayloads(await readBody(req));
      const result = path === '/decode' ? await options.codec.decode(payloads) : await options.codec.encode(payloads);
      send(200, toJson(result));
    } catch (err) {
      send(err instanceof RequestError ? err.status : 422, { message: (err as Error).message });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8888, options.host ?? '127.0.0.1', resolve);
  });
  const address = server.address() as AddressInfo;
  return {
    server,
    url: `http://${address.address}:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** `haflow codec-server`: runs until SIGINT/SIGTERM; 1 when encryption is not configured. */
export async function codecServerCommand(opts: { port: number; listen: string; uiOrigin: string }): Promise<number> {
  const keys = codecKeysFromEnv();
  if (!keys) {
    process.stderr.write('haflow codec-server decrypts with the key the worker uses: set HAFLOW_CODEC_KEY and HAFLOW_CODEC_KEY_ID first\n');
    return 1;
  }
  const { url, close } = await startCodecServer({ codec: new AesGcmCodec(keys, { unencrypted: 'accept' }), port: opts.port, host: opts.listen, allowOrigin: opts.uiOrigin });
  process.stdout.write(
    `codec server on ${url} (key id ${keys.current.id}${keys.previous.length ? `, and ${keys.previous.map((k) => k.id).join(', ')} to read older data` : ''}); ` +
      `in the Temporal UI at ${opts.uiOrigin}, set it under the codec server settings, or start the UI with --ui-codec-endpoint ${url}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await close();
  return 0;
}
