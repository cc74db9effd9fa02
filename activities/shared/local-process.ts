// Commands haflow runs on the worker itself: the topology's notify command and fault drivers.
// They are the operator's own programs, but the worker holds what they must not see: the codec
// key (which reads and writes everything in Temporal), the passwords of the topology's secret
// references, Temporal's API key. So a command gets a minimal environment, and what it prints is
// cleaned of every secret value the worker knows before it reaches a result or an error (which
// end up in the workflow history, and on the operator's screen).
import { readFileSync } from 'node:fs';
import type { Topology } from '../../topology';
import { redactSecrets, redactValues } from './redact';
import { expandHome } from './secrets';

/** The variable naming more variables of the worker to pass on to its commands, comma-separated. */
export const COMMAND_ENV_VARIABLE = 'HAFLOW_COMMAND_ENV';

/** What every command gets from the worker's environment, when the worker has it. */
const BASE_VARIABLES = ['PATH', 'HOME', 'LANG', 'TZ'];
const LOCALE_VARIABLE = /^LC_[A-Z_]+$/;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Never passed on, even when named: they open everything haflow keeps in Temporal, or Temporal itself. */
const NEVER_PASSED = /^(HAFLOW_CODEC_\w*|TEMPORAL_API_KEY|TEMPORAL_TLS_CLIENT_KEY\w*)$/;

/** HAFLOW_COMMAND_ENV is malformed, or names a variable that is never passed on: said when the worker starts. */
export class CommandEnvironmentError extends Error {
  override readonly name = 'CommandEnvironmentError';
}

/** The variables HAFLOW_COMMAND_ENV names; throws CommandEnvironmentError naming the entry that cannot be. */
export function passedVariableNames(env: NodeJS.ProcessEnv = process.env): string[] {
  const names = (env[COMMAND_ENV_VARIABLE] ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  for (const name of names) {
    if (!VARIABLE_NAME.test(name)) {
      throw new CommandEnvironmentError(`${COMMAND_ENV_VARIABLE} must be variable names separated by commas, such as IPMI_PASSWORD,SSH_AUTH_SOCK; ${JSON.stringify(name.slice(0, 70))} is not one`);
    }
    if (NEVER_PASSED.test(name)) {
      throw new CommandEnvironmentError(`${COMMAND_ENV_VARIABLE} names ${name}: the codec keys, the codec server's token and Temporal's credentials are never passed to a command; remove it from ${COMMAND_ENV_VARIABLE}`);
    }
  }
  return names;
}

/**
 * The environment of a command run on the worker: PATH (with `pathFirst` before it), HOME, LANG,
 * LC_* and TZ from the worker's, the variables HAFLOW_COMMAND_ENV names, then `extra`.
 */
export function commandEnvironment(extra: Record<string, string> = {}, options: { pathFirst?: string } = {}, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const names = [...BASE_VARIABLES, ...Object.keys(env).filter((name) => LOCALE_VARIABLE.test(name)), ...passedVariableNames(env)];
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = env[name];
    if (value !== undefined) out[name] = value;
  }
  if (options.pathFirst) out.PATH = out.PATH ? `${options.pathFirst}:${out.PATH}` : options.pathFirst;
  return { ...out, ...extra };
}

/** Every secret reference in a topology ({ env: NAME } or { file: PATH }), wherever it is. */
function secretReferences(value: unknown, found: ({ env: string } | { file: string })[] = []): ({ env: string } | { file: string })[] {
  if (Array.isArray(value)) for (const item of value) secretReferences(item, found);
  else if (value && typeof value === 'object') {
    const keys = Object.keys(value);
    const only = keys.length === 1 ? (value as Record<string, unknown>)[keys[0]] : undefined;
    if ((keys[0] === 'env' || keys[0] === 'file') && typeof only === 'string') found.push(value as { env: string } | { file: string });
    else for (const item of Object.values(value)) secretReferences(item, found);
  }
  return found;
}

/** A value as a file or a variable holds it, and without the line ends a file ends with. */
const forms = (raw: string) => [raw, raw.replace(/[\r\n]+$/, '')];

/**
 * Every secret value this worker knows: those of the topology's references that resolve here,
 * the codec keys, Temporal's API key and TLS key, and the variables HAFLOW_COMMAND_ENV passes on.
 */
export function workerSecretValues(topology: Topology | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
  const values: string[] = [];
  for (const ref of secretReferences(topology)) {
    if ('env' in ref) {
      const value = env[ref.env];
      if (value) values.push(...forms(value));
    } else {
      try {
        values.push(...forms(readFileSync(expandHome(ref.file), 'utf8')));
      } catch {
        // not on this worker: nothing to keep out
      }
    }
  }
  for (const name of ['HAFLOW_CODEC_KEY', 'HAFLOW_CODEC_PREVIOUS_KEYS', 'HAFLOW_CODEC_SERVER_TOKEN', 'TEMPORAL_API_KEY', 'TEMPORAL_TLS_CLIENT_KEY_DATA']) {
    const value = env[name];
    if (value) values.push(...forms(value));
  }
  // Each earlier key on its own, as `id:key` entries hold them.
  for (const entry of (env.HAFLOW_CODEC_PREVIOUS_KEYS ?? '').split(',')) {
    const key = entry.slice(entry.indexOf(':') + 1).trim();
    if (key) values.push(key);
  }
  let passed: string[] = [];
  try {
    passed = passedVariableNames(env);
  } catch {
    // refused when the worker starts; nothing was passed on
  }
  for (const name of passed) {
    const value = env[name];
    if (value) values.push(...forms(value));
  }
  return values.filter((value) => value.trim() !== '');
}

/** A command's output as it may be kept: without any secret the worker knows, nor the value of a password key. */
export function redactCommandOutput(text: string, topology: Topology | undefined): string {
  return redactSecrets(redactValues(text, workerSecretValues(topology)));
}
