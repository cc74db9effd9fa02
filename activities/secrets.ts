// Secret references from the topology, resolved on the worker only when an activity needs
// the value. Values never leave the activity: not in results, errors or logs.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { ApplicationFailure } from '@temporalio/common';
import type { SecretRef } from '../topology';

export function expandHome(path: string): string {
  return path.startsWith('~/') ? `${homedir()}/${path.slice(2)}` : path;
}

/** Describes where a secret comes from, for messages: never the value. */
export function describeSecret(ref: SecretRef): string {
  return 'env' in ref ? `environment variable ${ref.env}` : `file ${ref.file}`;
}

export function resolveSecret(ref: SecretRef, what: string): string {
  if ('env' in ref) {
    const value = process.env[ref.env];
    if (value === undefined || value === '') {
      throw ApplicationFailure.create({
        type: 'SecretMissing',
        nonRetryable: true,
        message: `${what}: environment variable ${ref.env} is not set on the worker`,
        details: [{ remedy: `set ${ref.env} in the environment of every haflow worker, then retry` }],
      });
    }
    return value;
  }
  try {
    return readFileSync(expandHome(ref.file), 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw ApplicationFailure.create({
      type: 'SecretMissing',
      nonRetryable: true,
      message: `${what}: cannot read ${ref.file} on the worker (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      details: [{ remedy: `create ${ref.file} on every haflow worker, readable by the worker's user, then retry` }],
    });
  }
}
