// Words for schema errors: what the schema expects at a path, in an operator's terms,
// and what was found instead, never repeating a secret.
import { z } from 'zod';
import { secretRef, topologyObject } from './schema';

/** One step of a field path: a key, or an index in a list. */
export type Segment = string | number;

/**
 * Default wording for fields whose schema carries no message of its own (zod's defaults
 * read "Invalid input: expected int, received number"). Schema messages take precedence.
 */
export const plainWords: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      return `must be ${EXPECTED[issue.expected] ?? `a ${issue.expected}`}`;
    case 'too_small':
      if (issue.origin === 'string') return Number(issue.minimum) === 1 ? 'must not be empty' : `must have at least ${issue.minimum} characters`;
      if (issue.origin === 'array') return `needs at least ${issue.minimum} ${Number(issue.minimum) === 1 ? 'entry' : 'entries'}`;
      return issue.inclusive ? `must be at least ${issue.minimum}` : `must be greater than ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'string') return `must have at most ${issue.maximum} characters`;
      if (issue.origin === 'array') return `can have at most ${issue.maximum} entries`;
      return issue.inclusive ? `must be at most ${issue.maximum}` : `must be less than ${issue.maximum}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'invalid_format':
      return 'does not have the expected format';
    default:
      return undefined;
  }
};

const EXPECTED: Record<string, string> = {
  number: 'a number',
  int: 'a whole number',
  string: 'text',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping of fields (key: value)',
  record: 'a mapping of fields (key: value)',
};

/** How a found value is shown: text quoted (so "5432" reads as text), collections by kind. */
export function describeValue(value: unknown): string {
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (typeof value === 'object') return Object.keys(value).length === 0 ? 'an empty mapping' : 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return String(value);
}

/** " (did you mean loop_wait?)" when one candidate is a typo away, else "". */
export function didYouMean(word: string, candidates: string[]): string {
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance <= limit && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best ? ` (did you mean ${best.candidate}?)` : '';
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

// ---------------------------------------------------------------- the schema at a path

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  while (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodType;
  return s;
}

/** The objects a schema may be: itself, or each object of a union (a secret is { env } or { file }). */
function objectsOf(schema: z.ZodType): z.ZodObject[] {
  const s = unwrap(schema);
  if (s instanceof z.ZodObject) return [s];
  if (s instanceof z.ZodUnion) return (s.options as z.ZodType[]).flatMap(objectsOf);
  return [];
}

/** The schema for a path in the file, or undefined where the schema does not go (unknown fields). */
export function schemaAt(path: Segment[]): z.ZodType | undefined {
  let s: z.ZodType = topologyObject;
  for (const segment of path) {
    const inner = unwrap(s);
    if (inner instanceof z.ZodArray && typeof segment === 'number') s = inner.element as z.ZodType;
    else if (inner instanceof z.ZodRecord) s = inner.valueType as z.ZodType;
    else {
      const owner = objectsOf(inner).find((o) => String(segment) in o.shape);
      if (!owner) return undefined;
      s = owner.shape[String(segment)] as z.ZodType;
    }
  }
  return unwrap(s);
}

/** The fields an object at this path accepts, in schema order. */
export function fieldsOf(path: Segment[]): string[] {
  const s = schemaAt(path);
  return s ? [...new Set(objectsOf(s).flatMap((o) => Object.keys(o.shape)))] : [];
}

/** The fields an object at this path must have (no default, not optional). */
export function requiredFieldsOf(path: Segment[]): string[] {
  const s = schemaAt(path);
  if (!(s instanceof z.ZodObject)) return [];
  return Object.entries(s.shape as Record<string, z.ZodType>)
    .filter(([, field]) => !(field instanceof z.ZodOptional || field instanceof z.ZodDefault))
    .map(([key]) => key);
}

/** True inside a secret reference, or under a field whose name says it holds a secret. */
export function isSecretPath(path: Segment[]): boolean {
  if (path.some((segment) => typeof segment === 'string' && /pass(word|phrase)|secret/i.test(segment))) return true;
  // A webhook URL may carry a token: its value is never echoed back.
  if (path.join('.') === 'notify.webhook.url') return true;
  return path.some((_, i) => schemaAt(path.slice(0, i + 1)) === secretRef);
}
