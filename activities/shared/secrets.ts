// Secret references from the topology, resolved on the worker only when an activity needs
// the value. Values never leave the activity: the step wrapper (./step-activity.ts) removes
// every value resolved here from the activity's result and errors.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { ApplicationFailure } from '@temporalio/common';
import type { SecretRef } from '../../topology';
import { StepFailureTypes } from '../contract';
import { rememberSecret } from './step-activity';

export function expandHome(path: string): string {
  return path.startsWith('~/') ? `${homedir()}/${path.slice(2)}` : path;
}

/** Describes where a secret comes from, for messages: never the value. */
export function describeSecret(ref: SecretRef): string {
  return 'env' in ref ? `environment variable ${ref.env}` : `file ${ref.file}`;
}

function secretFailure(message: string, remedy: string): ApplicationFailure {
  return ApplicationFailure.create({ type: StepFailureTypes.secretMissing, nonRetryable: true, message, details: [{ remedy }] });
}

export interface SecretRules {
  /** May hold line breaks (a PEM key). */
  multiline?: boolean;
  /** Must be printable ASCII; says why, for the error. */
  asciiBecause?: string;
  /** Must hold no space or tab; says why, for the error. */
  noBlanksBecause?: string;
}

/**
 * The value a reference points to, checked: not empty, and one line unless `multiline` (a PEM
 * certificate or key is many lines; a password never is), and within `options`' other rules.
 */
export function resolveSecret(ref: SecretRef, what: string, options: SecretRules = {}): string {
  let raw: string;
  if ('env' in ref) {
    raw = process.env[ref.env] ?? '';
    if (raw === '') {
      throw secretFailure(`${what}: environment variable ${ref.env} is not set on the worker`, `set ${ref.env} in the environment of every haflow worker, then retry`);
    }
  } else {
    try {
      raw = readFileSync(expandHome(ref.file), 'utf8');
    } catch (err) {
      throw secretFailure(
        `${what}: cannot read ${ref.file} on the worker (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        `create ${ref.file} on every haflow worker, readable by the worker's user, then retry`,
      );
    }
  }
  // Line ends at the end are how files (and `echo`) end, not part of a password.
  const value = raw.replace(/[\r\n]+$/, '');
  rememberSecret(raw);
  rememberSecret(value);
  if (value === '') throw secretFailure(`${what}: ${describeSecret(ref)} is empty`, `put the password in ${describeSecret(ref)}, then retry`);
  const bad = (options.multiline ? /\0/ : /[\r\n\0]/).exec(value);
  if (bad) {
    // pgpass, properties and env files hold one value per line: such a password cannot work.
    const line = value.slice(0, bad.index).split('\n').length;
    throw secretFailure(
      `${what}: the value of ${describeSecret(ref)} contains a ${bad[0] === '\0' ? 'NUL byte' : 'line break'} (in its line ${line}); a password must be one line`,
      `write the password on one line in ${describeSecret(ref)}, then retry`,
    );
  }
  if (options.noBlanksBecause && /[ \t]/.test(value)) {
    throw secretFailure(
      `${what}: the value of ${describeSecret(ref)} has a space or a tab: ${options.noBlanksBecause}`,
      `choose a password without spaces or tabs in ${describeSecret(ref)}, then retry`,
    );
  }
  const outside = options.asciiBecause ? /[^\x20-\x7e]/.exec(value) : null;
  if (outside) {
    // The position only: the character is part of the secret.
    throw secretFailure(
      `${what}: the value of ${describeSecret(ref)} has a character outside printable ASCII (its character ${[...value.slice(0, outside.index)].length + 1}): ${options.asciiBecause}`,
      `choose a password of printable ASCII characters (letters, digits, punctuation, space) in ${describeSecret(ref)}, then retry`,
    );
  }
  return value;
}

/** For a component's files as the worker writes them (a SecretText): the password itself. */
export const secretValue = (ref: SecretRef, field: string, options?: SecretRules): string => resolveSecret(ref, field, options);
