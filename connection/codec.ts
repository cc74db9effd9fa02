// Optional encryption of everything haflow puts in Temporal: workflow inputs and results,
// activity arguments and results, queries, signals, memos and failure messages. With
// HAFLOW_CODEC_KEY set, the client, the worker and `haflow codec-server` encrypt each payload
// with AES-256-GCM, so the server and its database hold only ciphertext and the key id.
// Without the key, a process still recognises encrypted payloads and says how to read them.
//
// The key is also what lets a worker tell haflow's clients from anyone else who can reach the
// namespace: a worker with the key runs nothing that arrived in clear (workerDataConverter).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { ARRIVED_AS_METADATA, REFUSED_ENCODING } from './refused-payloads';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Metadata key naming the key a payload was encrypted with, so keys can be rotated. */
export const KEY_ID_METADATA = 'encryption-key-id';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

const utf8 = (text: string) => new TextEncoder().encode(text);
const text = (bytes: Uint8Array | null | undefined) => (bytes ? new TextDecoder().decode(bytes) : undefined);

/** The settings are wrong: said before anything connects, naming the variable, never its value. */
export class CodecSettingsError extends Error {
  override readonly name = 'CodecSettingsError';
}

/** A payload that cannot be decrypted here (no key, another key, altered data). */
export class EncryptedPayloadError extends Error {
  override readonly name = 'EncryptedPayloadError';
}

export interface CodecKeys {
  /** The key new payloads are encrypted with. */
  current: { id: string; key: Buffer };
  /** Earlier keys, to read what they encrypted (after a rotation). */
  previous: { id: string; key: Buffer }[];
}

function parseKey(value: string, variable: string): Buffer {
  const key = Buffer.from(value.trim(), 'base64');
  if (key.length !== 32 || !/^[A-Za-z0-9+/=\s]+$/.test(value)) {
    throw new CodecSettingsError(`${variable} must be 32 random bytes in base64 (make one with \`openssl rand -base64 32\`); it decodes to ${key.length} bytes`);
  }
  return key;
}

function parseKeyId(value: string | undefined, variable: string): string {
  if (value === undefined || !KEY_ID.test(value)) {
    throw new CodecSettingsError(`${variable} must name the key (letters, digits and . _ -, at most 64), such as haflow-2026-11; found ${value === undefined ? 'nothing' : JSON.stringify(value.slice(0, 70))}`);
  }
  return value;
}

/**
 * The keys from the environment, or undefined when encryption is off: HAFLOW_CODEC_KEY (base64,
 * 32 bytes) with HAFLOW_CODEC_KEY_ID, and optionally HAFLOW_CODEC_PREVIOUS_KEYS as
 * `id:base64,id:base64` to read what earlier keys encrypted.
 */
export function codecKeysFromEnv(env: NodeJS.ProcessEnv = process.env): CodecKeys | undefined {
  const value = env.HAFLOW_CODEC_KEY;
  if (!value) {
    if (env.HAFLOW_CODEC_KEY_ID) throw new CodecSettingsError('HAFLOW_CODEC_KEY_ID is set but HAFLOW_CODEC_KEY is not: set both to encrypt, or neither');
    return undefined;
  }
  const current = { id: parseKeyId(env.HAFLOW_CODEC_KEY_ID, 'HAFLOW_CODEC_KEY_ID'), key: parseKey(value, 'HAFLOW_CODEC_KEY') };
  const previous = (env.HAFLOW_CODEC_PREVIOUS_KEYS ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const at = entry.indexOf(':');
      const where = `HAFLOW_CODEC_PREVIOUS_KEYS (entry ${i + 1})`;
      if (at < 0) throw new CodecSettingsError(`${where} must be <key id>:<base64 key>`);
      return { id: parseKeyId(entry.slice(0, at), where), key: parseKey(entry.slice(at + 1), where) };
    });
  return { current, previous };
}

const isEncrypted = (payload: Payload) => text(payload.metadata?.encoding) === ENCRYPTED_ENCODING;

export interface AesGcmCodecOptions {
  /**
   * What decode does with a payload that is not encrypted. `accept`: hands it on as it is (a
   * client reading runs from before the key, the codec server showing what the UI has). `refuse`:
   * hands on a marker in its place, which ./refused-payloads.ts's converter turns into a
   * non-retryable failure where the payload is read (a worker: it would otherwise run whatever
   * anyone who reaches the namespace sent it).
   */
  unencrypted: 'accept' | 'refuse';
}

/** Encrypts each payload whole (its metadata too) with AES-256-GCM and a fresh 96-bit IV. */
export class AesGcmCodec implements PayloadCodec {
  constructor(
    private readonly keys: CodecKeys,
    private readonly options: AesGcmCodecOptions,
  ) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const { id, key } = this.keys.current;
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: utf8(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: utf8(id) }, data: sealed };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (!isEncrypted(payload)) return this.options.unencrypted === 'accept' ? payload : refusedMarker(payload);
      const id = text(payload.metadata?.[KEY_ID_METADATA]) ?? '(none)';
      const key = [this.keys.current, ...this.keys.previous].find((k) => k.id === id)?.key;
      if (!key) {
        throw new EncryptedPayloadError(
          `a payload is encrypted with key id ${id}, but this process has key id ${this.keys.current.id}${this.keys.previous.length ? ` and ${this.keys.previous.map((k) => k.id).join(', ')}` : ''}; add key ${id} to HAFLOW_CODEC_PREVIOUS_KEYS (id:base64)`,
        );
      }
      const sealed = Buffer.from(payload.data ?? new Uint8Array());
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
        decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
        const plain = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
        return temporal.api.common.v1.Payload.decode(plain) as Payload;
      } catch {
        throw new EncryptedPayloadError(`a payload encrypted with key id ${id} does not decrypt with that key: the key is not the one it was encrypted with, or the data was altered`);
      }
    });
  }
}

/** What a refusing codec hands on in place of a payload that arrived in clear: its encoding only, never its data. */
function refusedMarker(payload: Payload): Payload {
  return { metadata: { encoding: utf8(REFUSED_ENCODING), [ARRIVED_AS_METADATA]: utf8(text(payload.metadata?.encoding) ?? 'no encoding') } };
}

/** Without a key: passes payloads through, and says what to do when it meets an encrypted one. */
export class NoKeyCodec implements PayloadCodec {
  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads;
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    const encrypted = payloads.find(isEncrypted);
    if (encrypted) {
      const id = text(encrypted.metadata?.[KEY_ID_METADATA]) ?? '(none)';
      throw new EncryptedPayloadError(
        `haflow's data in Temporal is encrypted (key id ${id}) and HAFLOW_CODEC_KEY is not set here: set HAFLOW_CODEC_KEY and HAFLOW_CODEC_KEY_ID to that key, as the worker has them`,
      );
    }
    return payloads;
  }
}

/**
 * The data converter of a client. With a key, failure messages and stack traces move into an
 * encoded attribute, so they are encrypted too; payloads in clear (runs from before the key) are
 * read as they are.
 */
export function haflowDataConverter(keys: CodecKeys | undefined = codecKeysFromEnv()): DataConverter {
  if (!keys) return { payloadCodecs: [new NoKeyCodec()] };
  return { payloadCodecs: [new AesGcmCodec(keys, { unencrypted: 'accept' })], failureConverterPath: require.resolve('./encrypted-failures') };
}

/**
 * The data converter of a worker: the client's, except that with a key it refuses every payload
 * that arrived in clear. Anyone who can start a workflow on the task queue could otherwise have
 * the worker run commands as root on every host; only a client with the key can encrypt. A
 * prebuilt workflow bundle must be built with both converter paths (bundleWorkflowCode's
 * failureConverterPath and payloadConverterPath).
 */
export function workerDataConverter(keys: CodecKeys | undefined = codecKeysFromEnv()): DataConverter {
  if (!keys) return haflowDataConverter(undefined);
  return {
    payloadCodecs: [new AesGcmCodec(keys, { unencrypted: 'refuse' })],
    failureConverterPath: require.resolve('./encrypted-failures'),
    payloadConverterPath: require.resolve('./refused-payloads'),
  };
}
