// `haflow codec-server`: lets the Temporal web UI (and `temporal … --codec-endpoint`) show
// haflow's encrypted payloads in clear, in the browser of someone who can reach this server.
// It speaks Temporal's remote codec protocol: POST /decode and POST /encode with
// {"payloads": [{"metadata": {...}, "data": "<base64>"}]} (proto3 JSON), answering the same shape.
//
// Whoever it answers can read every history, and encode input a worker would run, so it answers
// only a caller that shows its token (HAFLOW_CODEC_SERVER_TOKEN): as `Authorization: Bearer
// <token>` (the Temporal CLI's --codec-auth), or as the first path segment of the endpoint
// (`http://127.0.0.1:8888/<token>`: the web UI sends no header of its own, its "pass access
// token" sends the UI's own login token, and only to https). A page in the operator's browser is
// kept out twice: the Host header must name this server (a DNS name rebound to 127.0.0.1 does
// not), and a request with an Origin must come from the configured UI (CORS preflight included).
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { AesGcmCodec, codecKeysFromEnv } from '../connection/codec';

/** The variable holding the token callers must show; never an option, so it is not on a command line. */
export const TOKEN_VARIABLE = 'HAFLOW_CODEC_SERVER_TOKEN';
/** Characters that stand in a URL path as they are, so the token can be the endpoint's first segment. */
const TOKEN_FORM = /^[A-Za-z0-9._~-]{32,}$/;

export interface CodecServerOptions {
  codec: PayloadCodec;
  /** What every caller must show (TOKEN_FORM). */
  token: string;
  port?: number;
  host?: string;
  /** The web UI's origin, allowed to call from the browser (CORS), e.g. http://localhost:8233; without it, no browser page is. */
  allowOrigin?: string;
}

/** The token from the environment; a sentence saying what to set when it is missing or too weak. */
export function codecServerToken(env: NodeJS.ProcessEnv = process.env): { token: string } | { problem: string } {
  const token = env[TOKEN_VARIABLE];
  if (!token) {
    return { problem: `haflow codec-server decrypts every history for whoever calls it: set ${TOKEN_VARIABLE} to a token its callers must show (make one with \`openssl rand -hex 32\`)` };
  }
  if (!TOKEN_FORM.test(token)) {
    return { problem: `${TOKEN_VARIABLE} must be at least 32 characters of letters, digits and . _ ~ - (make one with \`openssl rand -hex 32\`); it has ${token.length}` };
  }
  return { token };
}

const digest = (text: string) => createHash('sha256').update(text).digest();
/** Compared in constant time: the answer must not tell how much of a guess was right. */
const sameToken = (given: string, token: string) => timingSafeEqual(digest(given), digest(token));

/** Host header values that name this server: its address and port, or a loopback name with its port. */
function allowedHosts(listen: string, port: number): Set<string> {
  const wildcard = listen === '0.0.0.0' || listen === '::';
  const names = new Set(['localhost', '127.0.0.1', '[::1]']);
  const add = (address: string) => names.add(address.includes(':') ? `[${address}]` : address);
  if (!wildcard) add(listen);
  else {
    // Listening everywhere: every address of this machine, and its name.
    for (const addresses of Object.values(networkInterfaces())) for (const a of addresses ?? []) add(a.address);
    names.add(hostname());
  }
  const hosts = new Set<string>();
  for (const name of names) {
    hosts.add(`${name.toLowerCase()}:${port}`);
    if (port === 80) hosts.add(name.toLowerCase());
  }
  return hosts;
}

/** A request body larger than this is refused: histories are read a page of payloads at a time. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

type JsonPayloads = { payloads?: unknown[] };

function toPayloads(body: JsonPayloads): Payload[] {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new RequestError(400, 'the body must be {"payloads": [...]}');
  // proto3 JSON leaves an empty list out: the Temporal CLI sends {} for a history field with no payloads.
  const payloads = body.payloads ?? [];
  if (!Array.isArray(payloads)) throw new RequestError(400, 'the body must be {"payloads": [...]}');
  return payloads.map((p) => temporal.api.common.v1.Payload.fromObject(p as object) as Payload);
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

/** A path segment as text; a malformed escape stays as it is (and matches no token). */
function pathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * Who is calling, checked in the order that gives nothing away: the Host (403), the Origin (403),
 * then the token (401). Returns the codec path (`/decode`, `/encode`, …) with a token in the path
 * taken off, or the refusal.
 */
function admit(req: IncomingMessage, options: CodecServerOptions, hosts: Set<string>): { path: string } | { status: 401 | 403; message: string } {
  const host = (req.headers.host ?? '').toLowerCase();
  if (!hosts.has(host)) {
    return { status: 403, message: `the Host header ${host ? JSON.stringify(host.slice(0, 100)) : '(none)'} does not name this codec server; call it at the address it listens on, or at localhost` };
  }
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== options.allowOrigin) {
    return { status: 403, message: `origin ${JSON.stringify(origin.slice(0, 100))} may not call this codec server${options.allowOrigin ? `; only ${options.allowOrigin} (--ui-origin) may` : ''}` };
  }
  let path = (req.url ?? '').split('?')[0];
  if (req.method === 'OPTIONS') return { path };
  const authorization = req.headers.authorization;
  const bearer = authorization?.match(/^Bearer (\S+)$/)?.[1];
  const segments = path.split('/');
  if (bearer !== undefined) {
    if (!sameToken(bearer, options.token)) return { status: 401, message: 'the bearer token is not this codec server\'s token' };
  } else if (segments.length > 2 && segments[1] !== '' && sameToken(pathSegment(segments[1]), options.token)) {
    path = `/${segments.slice(2).join('/')}`;
  } else {
    const said = authorization !== undefined ? 'the Authorization header is not a bearer token' : segments.length > 2 ? 'the token in the path is not this codec server\'s token' : 'no token';
    return { status: 401, message: `${said}: send Authorization: Bearer <token>, or call the endpoint http://<address>:<port>/<token>, with the token in ${TOKEN_VARIABLE}` };
  }
  return { path };
}

export async function startCodecServer(options: CodecServerOptions): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
  if (!TOKEN_FORM.test(options.token)) throw new Error(`the codec server's token must be at least 32 characters of letters, digits and . _ ~ -`);
  const cors = (res: ServerResponse) => {
    if (!options.allowOrigin) return;
    res.setHeader('Access-Control-Allow-Origin', options.allowOrigin);
    res.setHeader('Vary', 'Origin');
    res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
    res.setHeader('Access-Control-Allow-Credentials', 'true');
  };
  let hosts = new Set<string>();
  const server = createServer(async (req, res) => {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const admitted = admit(req, options, hosts);
    if ('status' in admitted) {
      // The UI itself with a wrong token may read why; a page from anywhere else may not.
      if (admitted.status === 401) cors(res);
      // The body is not read: say no at once, and close.
      send(admitted.status, { message: admitted.message }, { Connection: 'close', ...(admitted.status === 401 ? { 'WWW-Authenticate': 'Bearer realm="haflow codec server"' } : {}) });
      return;
    }
    // Only a caller that passed the Host and Origin checks is granted CORS.
    cors(res);
    if (req.method === 'OPTIONS') {
      res.writeHead(204);
      res.end();
      return;
    }
    const { path } = admitted;
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
  hosts = allowedHosts(address.address, address.port);
  return {
    server,
    url: `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** `haflow codec-server`: runs until SIGINT/SIGTERM; 1 when encryption or the token is not configured. */
export async function codecServerCommand(opts: { port: number; listen: string; uiOrigin: string }): Promise<number> {
  const keys = codecKeysFromEnv();
  if (!keys) {
    process.stderr.write('haflow codec-server decrypts with the key the worker uses: set HAFLOW_CODEC_KEY and HAFLOW_CODEC_KEY_ID first\n');
    return 1;
  }
  const token = codecServerToken();
  if ('problem' in token) {
    process.stderr.write(`${token.problem}\n`);
    return 1;
  }
  // The UI may show what arrived in clear (runs from before the key): only workers refuse it.
  const { url, close } = await startCodecServer({ codec: new AesGcmCodec(keys, { unencrypted: 'accept' }), token: token.token, port: opts.port, host: opts.listen, allowOrigin: opts.uiOrigin });
  process.stdout.write(
    `codec server on ${url} (key id ${keys.current.id}${keys.previous.length ? `, and ${keys.previous.map((k) => k.id).join(', ')} to read older data` : ''}); ` +
      `callers show ${TOKEN_VARIABLE}: in the Temporal UI at ${opts.uiOrigin}, enter ${url}/<token> under the codec server settings; ` +
      `the Temporal CLI takes --codec-endpoint ${url} --codec-auth "Bearer <token>"\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await close();
  return 0;
}
