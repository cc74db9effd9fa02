// What a worker with HAFLOW_CODEC_KEY does with a payload that arrived in clear (./codec.ts).
// Its codec does not hand the payload on: it hands on a marker in its place, which this module's
// payload converter turns into a "refused" value, never the data. The worker's interceptors then
// refuse whatever carries one, where the SDK can end just that: a run's input fails the run
// (worker/refuse-unencrypted.ts), an update's argument fails the update, a query's fails the
// query, an activity's argument fails the activity (worker/input-checks.ts), non-retryably.
// Throwing in the codec instead would fail the workflow task, again and again, and the client
// that started the run would wait for ever. Loaded by path, in the workflow sandbox too: it
// imports only @temporalio/common.
import {
  ApplicationFailure,
  BinaryPayloadConverter,
  CompositePayloadConverter,
  JsonPayloadConverter,
  UndefinedPayloadConverter,
  type Payload,
  type PayloadConverterWithEncoding,
} from '@temporalio/common';

/** The encoding of the marker the codec puts where a payload arrived in clear. */
export const REFUSED_ENCODING = 'binary/haflow-refused-unencrypted';
/** Metadata key of the marker: the encoding the payload arrived with (json/plain, …). */
export const ARRIVED_AS_METADATA = 'arrived-as';
/** The failure type of a refused payload. */
export const UNENCRYPTED_PAYLOAD = 'UnencryptedPayload';

const REFUSED = 'haflowRefusedUnencryptedPayload';

/** The value a refused payload converts to: the encoding it arrived with, nothing of its data. */
export interface RefusedPayload {
  readonly [REFUSED]: string;
}

export function isRefusedPayload(value: unknown): value is RefusedPayload {
  return typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[REFUSED] === 'string';
}

/** What a worker with the key says about a payload that arrived in clear. */
export function unencryptedPayloadMessage(arrivedAs: string): string {
  return (
    `an unencrypted payload (${arrivedAs}) arrived while HAFLOW_CODEC_KEY is set on this worker: it came from a client ` +
    `(or a tool such as the Temporal CLI or web UI without haflow's codec server) without the key, and this worker runs ` +
    `only what a client with the key sent. Set HAFLOW_CODEC_KEY and HAFLOW_CODEC_KEY_ID on that client as on the workers, then start it again`
  );
}

/** The non-retryable failure for the first refused value among `args`, if any. */
export function refusalOf(args: readonly unknown[]): ApplicationFailure | undefined {
  const refused = args.find(isRefusedPayload);
  if (!refused) return undefined;
  return ApplicationFailure.create({ type: UNENCRYPTED_PAYLOAD, nonRetryable: true, message: unencryptedPayloadMessage(refused[REFUSED]) });
}

class RefusedPayloadConverter implements PayloadConverterWithEncoding {
  readonly encodingType = REFUSED_ENCODING;

  toPayload(): undefined {
    return undefined;
  }

  fromPayload<T>(payload: Payload): T {
    const arrivedAs = new TextDecoder().decode(payload.metadata?.[ARRIVED_AS_METADATA] ?? new Uint8Array()) || 'no encoding';
    return { [REFUSED]: arrivedAs } as T;
  }
}

/** The SDK's default converters, and the marker's. */
export const payloadConverter = new CompositePayloadConverter(
  new UndefinedPayloadConverter(),
  new BinaryPayloadConverter(),
  new JsonPayloadConverter(),
  new RefusedPayloadConverter(),
);
