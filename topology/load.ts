// Reads a topology file and reports every problem at once, each at its file:line:column
// with the field path as written and what would be valid. YAML errors, schema errors
// (zod) and semantic errors (./checks.ts) all come out in the same shape.
import { readFileSync, statSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Pair, type YAMLError } from 'yaml';
import { z } from 'zod';
import { checkTopology, type CheckIssue } from './checks';
import { topologyFileSchema, topologySchema, type Topology } from './schema';
import { describeValue, didYouMean, fieldsOf, isSecretPath, plainWords, requiredFieldsOf, schemaAt, type Segment } from './explain';

export interface TopologyIssue {
  file: string;
  /** 1-based */
  line: number;
  /** 1-based */
  column: number;
  /** The field as written in the file: `hosts[1].address`, `patroni.loop_wait`. */
  path: string;
  message: string;
  severity: 'error' | 'warning';
}

export class TopologyError extends Error {
  override readonly name = 'TopologyError';

  constructor(readonly issues: TopologyIssue[]) {
    super(issues.map(formatIssue).join('\n'));
  }
}

/** `file:line:column: path: message`, the shape editors and terminals turn into links. */
export function formatIssue(issue: TopologyIssue): string {
  const severity = issue.severity === 'warning' ? 'warning: ' : '';
  return `${issue.file}:${issue.line}:${issue.column}: ${severity}${issue.path}: ${issue.message}`;
}

/** A topology is a page or two of YAML; anything this big is not one (and would only cost memory to parse). */
export const MAX_TOPOLOGY_BYTES = 1024 * 1024;

/** Reads and validates a topology file; see parseTopology. Synchronous: the file is small and read once. */
export function loadTopology(path: string): { topology: Topology; warnings: TopologyIssue[] } {
  const fileIssue = (message: string) => new TopologyError([{ file: path, line: 1, column: 1, path: '(file)', message, severity: 'error' }]);
  let bytes: Buffer;
  try {
    const stat = statSync(path);
    if (stat.isDirectory()) throw fileIssue('is a directory; give the path of a topology YAML file in it (see topology/examples/)');
    if (!stat.isFile()) throw fileIssue('is not a regular file; give the path of a topology YAML file');
    if (stat.size > MAX_TOPOLOGY_BYTES) {
      throw fileIssue(`is ${stat.size} bytes; a topology is at most ${MAX_TOPOLOGY_BYTES} bytes (1 MiB): is this the right file?`);
    }
    bytes = readFileSync(path);
  } catch (err) {
    if (err instanceof TopologyError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'cannot be read (permission denied)' : (err as Error).message;
    throw fileIssue(`${reason}; give the path of a topology YAML file (see topology/examples/)`);
  }
  return parseTopology(decodeUtf8(bytes, path), path);
}

/** The file's text; a byte that is not UTF-8 is an error at its line and column, not a silent U+FFFD. */
function decodeUtf8(bytes: Buffer, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // Find the first bad byte: the longest prefix that decodes, then its line and column.
    const lenient = new TextDecoder('utf-8').decode(bytes);
    const bad = lenient.indexOf('\uFFFD');
    const before = lenient.slice(0, Math.max(bad, 0));
    const line = before.split('\n').length;
    const column = before.length - before.lastIndexOf('\n');
    const offset = Buffer.byteLength(before, 'utf8');
    const byte = bytes[offset] ?? 0;
    throw new TopologyError([
      {
        file,
        line,
        column,
        path: '(file)',
        message: `byte 0x${byte.toString(16).padStart(2, '0')} is not UTF-8; save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)`,
        severity: 'error',
      },
    ]);
  }
}

/**
 * Parses and validates a topology. Returns it with its warnings, or throws a TopologyError
 * listing every error (and warning) found, sorted by position in the file.
 */
export function parseTopology(text: string, file: string): { topology: Topology; warnings: TopologyIssue[] } {
  const source = new SourceMap(text, file);
  const issues = [...source.yamlIssues(), ...source.duplicateKeyIssues()];
  const fail = (more: TopologyIssue[]) => new TopologyError(sortByPosition([...issues, ...more]));

  if (source.hasSyntaxErrors) throw fail([]);
  const tags = source.tagIssues();
  if (tags.length > 0) throw fail(tags);
  if (source.isEmpty) {
    throw fail([
      source.issueAt([], 'error', `the file is empty; a topology needs at least ${requiredFieldsOf([]).join(', ')} (see topology/examples/)`),
    ]);
  }

  let data: unknown;
  try {
    data = source.toJS();
  } catch (err) {
    throw fail([source.aliasIssue(err as Error)]);
  }

  const parsed = topologyFileSchema.safeParse(data, { error: plainWords });
  if (!parsed.success) {
    throw fail(firstPerField(parsed.error.issues.flatMap((issue) => schemaIssues(issue, data, source))));
  }

  const checked = checkTopology(parsed.data).map((issue) => source.checkIssue(issue));
  const all = [...issues, ...checked];
  if (all.some((i) => i.severity === 'error')) throw fail(checked);
  return { topology: parsed.data, warnings: sortByPosition(all) };
}

// ---------------------------------------------------------------- schema issues

/** One zod issue, in an operator's words, at the right place. Never echoes a secret. */
function schemaIssues(issue: z.core.$ZodIssue, data: unknown, source: SourceMap): TopologyIssue[] {
  const path = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));

  if (issue.code === 'unrecognized_keys') {
    const valid = fieldsOf(path);
    const where = path.length === 0 ? 'at the top level' : `in ${formatPath(path)}`;
    return issue.keys.map((key) =>
      source.issueAt(
        [...path, key],
        'error',
        `unknown field ${key}${didYouMean(key, valid)}; valid fields ${where} are: ${valid.join(', ')}`,
        'key',
      ),
    );
  }

  if (issue.code === 'invalid_key') {
    // A key of a free-form mapping (postgresql.parameters): say what is wrong with the key itself.
    const key = String(path[path.length - 1]);
    return [source.issueAt(path, 'error', `the key ${describeValue(key)} ${issue.issues[0]?.message ?? 'is not valid here'}`, 'key')];
  }

  const value = valueAt(data, path);
  if (value === undefined) {
    // A missing field has no line of its own: point at the object that should contain it.
    const required = requiredFieldsOf(path);
    const message =
      schemaAt(path) instanceof z.ZodObject
        ? `is required but missing: add a ${String(path[path.length - 1])}: section with at least ${required.join(', ')}`
        : `is required but missing: ${issue.message}`;
    return [source.issueAt(path, 'error', message, 'parent')];
  }

  if (path.length === 0) {
    return [
      source.issueAt(path, 'error', `the file must be a mapping of fields (${requiredFieldsOf([]).join(', ')}, ...); found ${describeValue(value)}`),
    ];
  }

  if (isSecretPath(path)) return [source.issueAt(path, 'error', issue.message)];

  const hint = issue.code === 'invalid_value' && typeof value === 'string' ? didYouMean(value, issue.values.map(String)) : '';
  return [source.issueAt(path, 'error', `${issue.message}; found ${describeValue(value)}${hint}`)];
}

/** One problem per field is enough to fix it (a huge port number is both too big and not whole). */
function firstPerField(issues: TopologyIssue[]): TopologyIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = `${issue.path}@${issue.line}:${issue.column}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function valueAt(data: unknown, path: Segment[]): unknown {
  let current = data;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return current;
}

// ---------------------------------------------------------------- paths

/** ['hosts', 1, 'address'] → "hosts[1].address"; the whole file is "(top level)". */
export function formatPath(path: Segment[]): string {
  if (path.length === 0) return '(top level)';
  return path
    .map((segment, i) =>
      typeof segment === 'number'
        ? `[${segment}]`
        : /^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment)
          ? `${i === 0 ? '' : '.'}${segment}`
          : `[${JSON.stringify(segment)}]`,
    )
    .join('');
}

/** "hosts[1].address" → ['hosts', 1, 'address'] (the paths ./checks.ts writes). */
function parsePath(path: string): Segment[] {
  return [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]));
}

function sortByPosition(issues: TopologyIssue[]): TopologyIssue[] {
  return [...issues].sort((a, b) => a.line - b.line || a.column - b.column);
}

// ---------------------------------------------------------------- positions in the YAML text

/** A topology has no use for more; a YAML "billion laughs" needs far more to hurt. */
const MAX_ALIAS_COUNT = 100;

/** Tags that only say what the plain value already is. */
const PLAIN_TAGS = new Set(['tag:yaml.org,2002:str', 'tag:yaml.org,2002:int', 'tag:yaml.org,2002:float', 'tag:yaml.org,2002:bool', 'tag:yaml.org,2002:null', 'tag:yaml.org,2002:map', 'tag:yaml.org,2002:seq']);

/** Where to point for a path: its value, its key (unknown fields) or the object that holds it (missing fields). */
type Target = 'value' | 'key' | 'parent';

class SourceMap {
  private readonly lines = new LineCounter();
  private readonly doc: Document.Parsed;

  constructor(
    text: string,
    private readonly file: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: true, uniqueKeys: true });
  }

  get hasSyntaxErrors(): boolean {
    return this.doc.errors.some((e) => e.code !== 'DUPLICATE_KEY') || this.unknownTags.length > 0;
  }

  /** An unknown tag (`!foo`): the parser keeps the text and only warns. */
  private get unknownTags(): YAMLError[] {
    return this.doc.warnings.filter((w) => w.code === 'TAG_RESOLVE_FAILED');
  }

  /** A known tag that makes a value something a topology never holds (`!!binary`, `!!set`, `!!timestamp`...). */
  tagIssues(): TopologyIssue[] {
    const issues: TopologyIssue[] = [];
    visit(this.doc, {
      Node: (_key, node) => {
        if (node.tag && !PLAIN_TAGS.has(node.tag)) {
          const { line, column } = this.position(node);
          issues.push({ file: this.file, line, column, path: '(yaml)', message: `YAML tag: ${node.tag.replace('tag:yaml.org,2002:', '!!')} is not used in a topology; remove it and write the plain value`, severity: 'error' });
        }
      },
    });
    return issues;
  }

  get isEmpty(): boolean {
    return this.doc.contents === null;
  }

  toJS(): unknown {
    return this.doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  }

  /** Only aliases make toJS fail: one without its anchor, or so many expansions it looks like an alias bomb. */
  aliasIssue(err: Error): TopologyIssue {
    let first: unknown;
    let unresolved: unknown;
    visit(this.doc, {
      Alias: (_key, alias) => {
        first ??= alias;
        if (!unresolved && !alias.resolve(this.doc)) unresolved = alias;
      },
    });
    const at = (node: unknown) => ({ ...this.position(node), path: '(yaml)' });
    if (unresolved) {
      const name = (unresolved as { source: string }).source;
      return { file: this.file, ...at(unresolved), message: `YAML alias *${name} has no anchor &${name} before it; define the anchor first or write the value`, severity: 'error' };
    }
    if (/alias count|resource exhaustion/i.test(err.message)) {
      return {
        file: this.file,
        ...at(first),
        message: `YAML aliases expand too much (more than ${MAX_ALIAS_COUNT} times): an alias bomb? write the values out instead`,
        severity: 'error',
      };
    }
    return { file: this.file, ...at(first), message: `cannot read the YAML: ${err.message}`, severity: 'error' };
  }

  yamlIssues(): TopologyIssue[] {
    // The errors after the first syntax error are mostly its echoes: report the one to fix first.
    const errors = this.doc.errors.filter((e) => e.code !== 'DUPLICATE_KEY').slice(0, 1);
    const toIssue = (e: YAMLError, severity: TopologyIssue['severity']): TopologyIssue => {
      const at = e.linePos?.[0] ?? this.lines.linePos(e.pos[0]);
      // yaml appends " at line L, column C:" and a copy of the offending lines, which may hold a secret: keep the sentence only.
      const sentence = e.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '');
      const hint = e.code === 'TAB_AS_INDENT' ? '; indent with spaces' : '';
      const label = severity === 'error' ? 'YAML syntax error' : 'YAML';
      // The parser recurses once per level: a file nested thousands deep ends its stack.
      const said = /Maximum call stack size/.test(sentence)
        ? 'the YAML is nested too deeply to read; a topology needs a few levels at most'
        : e.code === 'MULTIPLE_DOCS'
          ? 'the file holds more than one YAML document (a second ---); a topology is one document, one file per cluster'
          : sentence;
      return { file: this.file, line: at.line, column: at.col, path: '(yaml)', message: `${label}: ${said}${hint}`, severity };
    };
    const tags = this.unknownTags.map((w) => ({
      ...toIssue(w, 'error'),
      message: `YAML tag: ${w.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '').replace(/^Unresolved tag: /, '')} is not used in a topology; remove it and write the plain value`,
    }));
    const warnings = this.doc.warnings.filter((w) => w.code !== 'TAG_RESOLVE_FAILED').map((w) => toIssue(w, 'warning'));
    return [...errors.map((e) => toIssue(e, 'error')), ...tags, ...warnings];
  }

  /** YAML keeps only the last of two equal keys, silently: always an error, naming both lines. */
  duplicateKeyIssues(): TopologyIssue[] {
    const issues: TopologyIssue[] = [];
    const walk = (node: unknown, path: Segment[]) => {
      if (isSeq(node)) node.items.forEach((item, i) => walk(item, [...path, i]));
      if (!isMap(node)) return;
      const seen = new Map<string, Pair>();
      for (const pair of node.items) {
        if (!isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        const first = seen.get(key);
        if (first) {
          const firstLine = this.position(first.key).line;
          issues.push(
            this.issueAtNode(
              formatPath([...path, key]),
              pair.key,
              `duplicate key: ${key} is already set on line ${firstLine}, and YAML would keep only the last one; remove or merge one of them`,
            ),
          );
        } else seen.set(key, pair);
        walk(pair.value, [...path, key]);
      }
    };
    walk(this.doc.contents, []);
    return issues;
  }

  /** A semantic issue: at its own field if the file writes it, else at the first related field it writes. */
  checkIssue(issue: CheckIssue): TopologyIssue {
    const candidates = [issue.path, ...(issue.related ?? [])].map(parsePath);
    const written = candidates.find((path) => this.resolve(path).complete) ?? candidates[0];
    return this.issueAt(written, issue.severity, issue.message);
  }

  issueAt(path: Segment[], severity: TopologyIssue['severity'], message: string, target: Target = 'value'): TopologyIssue {
    const { line, column } = this.locate(path, target);
    return { file: this.file, line, column, path: formatPath(path), message, severity };
  }

  private issueAtNode(path: string, node: unknown, message: string): TopologyIssue {
    const { line, column } = this.position(node);
    return { file: this.file, line, column, path, message, severity: 'error' };
  }

  private locate(path: Segment[], target: Target): { line: number; column: number } {
    const { key, value, complete } = this.resolve(target === 'parent' ? path.slice(0, -1) : path);
    if (target === 'key' && complete && key) return this.position(key);
    // A scalar value is the thing to fix; for a section (or a field not written), its key line is.
    const pointAtValue = isScalar(value) && value.value !== null;
    return this.position(pointAtValue || !key ? value : key);
  }

  /** Follows a path as far as the file writes it; takes the last of duplicate keys, as YAML does. */
  private resolve(path: Segment[]): { key?: unknown; value: unknown; complete: boolean } {
    let key: unknown;
    let value: unknown = this.doc.contents;
    for (const segment of path) {
      if (isMap(value)) {
        const pair = [...value.items].reverse().find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
        if (!pair) return { key, value, complete: false };
        key = pair.key;
        value = pair.value;
      } else if (isSeq(value) && typeof segment === 'number' && segment < value.items.length) {
        key = undefined;
        value = value.items[segment];
      } else {
        return { key, value, complete: false };
      }
    }
    return { key, value, complete: true };
  }

  private position(node: unknown): { line: number; column: number } {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    if (!range) return { line: 1, column: 1 };
    const { line, col } = this.lines.linePos(range[0]);
    return { line, column: col };
  }
}

/**
 * Re-checks a topology handed in as a value (by a script, or to the worker with a run): the schema
 * guarantees secrets are references, never values. It may have been recorded before a newer rule
 * (see checkTopology's `recorded`): such a rule does not refuse it.
 */
export function assertValidTopology(topology: Topology): Topology {
  const parsed = topologySchema.safeParse(topology);
  const problems = parsed.success
    ? checkTopology(parsed.data, { recorded: true }).filter((i) => i.severity === 'error').map((i) => `${i.path}: ${i.message}`)
    : parsed.error.issues.map((i) => `${formatPath(i.path.filter((p) => typeof p !== 'symbol'))}: ${i.message}`);
  if (!parsed.success || problems.length > 0) throw new Error(`the topology is invalid:\n${problems.join('\n')}`);
  return parsed.data;
}

