// The failure converter of an encrypting haflow (./codec.ts): a failure's message and stack
// trace go into an encoded attribute, which the payload codec then encrypts. Loaded by path,
// in the workflow sandbox too, so it is a module of its own.
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
