// The application's database settings, as the guide's MotadataPatroniHAMasterSlaveAppConfig
// leaves them: every configuration file the classic guide lists points at the observer's
// HAProxy (port 5000) and carries the one DB password. haflow edits only those keys, in
// place, and keeps every other line of the file. Pure: file text in, file text out.
import type { AppConfigFile, Host, Topology } from '../../topology/schema';
import { appDatabaseProxy, requireApp } from '../../topology/derive';

/** What the application needs to reach its database. */
export interface AppDatabaseSettings {
  url: string;
  password: string;
}


/**
 * The JDBC URL the files of `host` carry: the observer's HAProxy, its PostgreSQL port, the
 * application's database; in the classic layout the host's own PostgreSQL, as the application's
 * installer set it up (the slave's is a standby until a failover promotes it).
 */
export function appDatabaseUrl(topology: Topology, host: Host): string {
  const app = requireApp(topology);
  if (topology.layout === 'classic') return `jdbc:postgresql://${host.address}:${topology.postgresql.port}/${app.db_name}`;
  return `jdbc:postgresql://${appDatabaseProxy(topology).address}:${topology.haproxy.postgres_port}/${app.db_name}`;
}





/** The file haflow keeps in the HA directory: which role this node has. */
export function roleFilePath(topology: Topology): string {
  return `${requireApp(topology).ha_dir}/role`;
}

/** The marker that tells haflow's HA directory from an earlier, hand-made one (preflight reads it too). */
export function haDirMarkerPath(topology: Topology): string {
  return `${requireApp(topology).ha_dir}/.haflow`;
}

export class AppConfigError extends Error {}

/**
 * The file with its URL and password keys set. Other lines stay as they are. A key the file
 * does not have is added (properties and env files) or is an error (a shell file whose
 * -D options must be edited where they are, inside a quoted command line).
 */
export function setAppDatabaseSettings(file: AppConfigFile, text: string, settings: AppDatabaseSettings): string {
  const values: [string, string][] = [
    ...(file.url_key ? [[file.url_key, settings.url] as [string, string]] : []),
    [file.password_key, settings.password],
  ];
  if (file.format === 'shell') return setShellOptions(file, text, values);
  for (const [key, value] of values) refuseUnreadable(file, key, value);
  return setKeyValues(text, values);
}

/**
 * Characters the file's reader would not take as written: a Java properties reader turns a
 * backslash into an escape; an env file is often sourced by sh, which would expand $, backticks
 * and quotes, or split at a space. The value is written unquoted, as the application's
 * installer writes it, so such a value is refused rather than written to mean something else.
 * A shell-format file's -D value may sit bare on a command line or in options a script expands
 * unquoted (split at blanks, globbed): what a bare word cannot carry is refused up front, before
 * the file's own quoting is known (setShellOptions then checks each place as it is written).
 */
const SH_BARE = { pattern: /[^A-Za-z0-9_@%+=:,./^\u0080-\uffff-]/, says: 'a character sh would read as syntax (space, quote, $, backtick, backslash, ;, &, |, <, >, (, ), *, ?, [, ], {, }, ~, #, !)' };
const UNREADABLE: Record<AppConfigFile['format'], { pattern: RegExp; says: string }> = {
  properties: { pattern: /[\\\0-\x1f\x7f]|^\s/, says: 'a backslash, a control character or a leading space' },
  env: SH_BARE,
  shell: SH_BARE,
};

/** Throws AppConfigError when a file of app.config_files could not carry `password` as written: known before any host is read. */
export function refuseUnreadablePassword(topology: Topology, password: string): void {
  for (const file of requireApp(topology).config_files) refuseUnreadable(file, file.password_key, password);
}

function refuseUnreadable(file: AppConfigFile, key: string, value: string): void {
  const { pattern, says } = UNREADABLE[file.format];
  if (pattern.test(value)) {
    const name = file.format === 'shell' ? `-D${key}` : key;
    const where = file.format === 'shell' ? 'a shell-format file cannot carry in every place a -D option may be written (bare, or in options a script expands)' : `this ${file.format} file cannot carry as written`;
    throw new AppConfigError(`${file.path}: the value for ${name} has ${says}, which ${where}; choose a password without them`);
  }
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** key=value lines (Java properties, env files; `export KEY=…` too): the first line of a key is set, later ones removed. */
function setKeyValues(text: string, values: [string, string][]): string {
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  for (const [key, value] of values) {
    const pattern = new RegExp(`^(\\s*(?:export\\s+)?${escapeRegExp(key)}\\s*[=:]\\s*)`);
    const at = lines.findIndex((l) => pattern.test(l));
    if (at < 0) {
      lines.push(`${key}=${value}`);
      continue;
    }
    lines[at] = `${pattern.exec(lines[at])![1]}${value}`;
    for (let i = lines.length - 1; i > at; i--) if (pattern.test(lines[i])) lines.splice(i, 1);
  }
  return `${lines.join('\n')}\n`;
}

/** Where sh is at each character of a file it sources: outside quotes, inside '…' or "…", or in a comment. */
type ShellContext = 'top' | 'single' | 'double' | 'comment';

function shellContexts(text: string): ShellContext[] {
  const at: ShellContext[] = new Array(text.length);
  let context: ShellContext = 'top';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    at[i] = context;
    if (context === 'top') {
      if (c === '\\') at[++i] = 'top';
      else if (c === "'") context = 'single';
      else if (c === '"') context = 'double';
      else if (c === '#' && (i === 0 || /[\s;&|()<>]/.test(text[i - 1]))) at[i] = context = 'comment';
    } else if (context === 'double') {
      if (c === '\\') at[++i] = 'double';
      else if (c === '"') context = 'top';
    } else if ((context === 'single' && c === "'") || (context === 'comment' && c === '\n')) context = 'top';
  }
  return at;
}

/**
 * How a -D value is written, and what it cannot carry there. Bare values (a word of the command
 * line, or in options a script expands unquoted, split at blanks and globbed) take only what no
 * shell reads as syntax. Quoted ones take what their quotes protect, at each level of reading:
 * sh sourcing the file, then (when the options carry quotes of their own) the eval that reads them.
 */
interface Quoting {
  where: string;
  open: string;
  close: string;
  refused: RegExp;
  says: string;
}
const CONTROL = '\\0-\\x1f\\x7f';
const QUOTINGS = {
  bare: { where: 'a bare word', open: '', close: '', refused: SH_BARE.pattern, says: SH_BARE.says },
  single: { where: 'in single quotes', open: "'", close: "'", refused: new RegExp(`['${CONTROL}]`), says: 'a single quote or a control character' },
  double: { where: 'in double quotes', open: '"', close: '"', refused: new RegExp(`["$\`\\\\!${CONTROL}]`), says: 'a double quote, $, backtick, backslash, ! or a control character' },
  singleInDouble: {
    where: 'in single quotes inside a double-quoted string',
    open: "'",
    close: "'",
    refused: new RegExp(`['"$\`\\\\!${CONTROL}]`),
    says: 'a quote, $, backtick, backslash, ! or a control character',
  },
  doubleInSingle: {
    where: 'in double quotes inside a single-quoted string',
    open: '"',
    close: '"',
    refused: new RegExp(`['"$\`\\\\!${CONTROL}]`),
    says: 'a quote, $, backtick, backslash, ! or a control character',
  },
  escapedInDouble: {
    where: 'in escaped double quotes inside a double-quoted string',
    open: '\\"',
    close: '\\"',
    refused: new RegExp(`["$\`\\\\!${CONTROL}]`),
    says: 'a double quote, $, backtick, backslash, ! or a control character',
  },
} satisfies Record<string, Quoting>;

/** The value written after `-Dkey=` at `from`, sh being in `context` there: where it ends and its quoting; undefined when its quoting is mixed. */
function shellValueAt(text: string, from: number, context: ShellContext): { end: number; quoting: Quoting } | undefined {
  // What may follow a value: the end of its word (and of the string the options are in).
  const wordEnd = { top: /[\s;&|()<>]/, double: /[\s"]/, single: /[\s']/ }[context as 'top' | 'double' | 'single'];
  const bareRun = { top: /[\s;&|()<>'"]/, double: /[\s"']/, single: /[\s'"]/ }[context as 'top' | 'double' | 'single'];
  let quoting: Quoting;
  let end: number;
  const closing = (close: string, start: number, stopAt?: string) => {
    const at = text.indexOf(close, start);
    if (at < 0 || (stopAt !== undefined && text.slice(start, at).includes(stopAt))) return -1;
    return at + close.length;
  };
  if (context === 'top' && text[from] === "'") [quoting, end] = [QUOTINGS.single, closing("'", from + 1)];
  else if (context === 'top' && text[from] === '"') {
    quoting = QUOTINGS.double;
    end = -1;
    for (let i = from + 1; i < text.length; i++) {
      if (text[i] === '\\') i++;
      else if (text[i] === '"') {
        end = i + 1;
        break;
      }
    }
  } else if (context === 'double' && text[from] === "'") [quoting, end] = [QUOTINGS.singleInDouble, closing("'", from + 1, '"')];
  else if (context === 'double' && text.startsWith('\\"', from)) [quoting, end] = [QUOTINGS.escapedInDouble, closing('\\"', from + 2)];
  else if (context === 'single' && text[from] === '"') [quoting, end] = [QUOTINGS.doubleInSingle, closing('"', from + 1, "'")];
  else {
    const where = context === 'top' ? 'a bare word' : `bare inside ${context === 'double' ? 'double' : 'single'}-quoted options, which a script splits at blanks`;
    quoting = { ...QUOTINGS.bare, where };
    end = from;
    while (end < text.length && !bareRun.test(text[end])) end += text[end] === '\\' ? 2 : 1;
  }
  if (end < 0 || (end < text.length && !wordEnd.test(text[end]))) return undefined;
  return { end: Math.min(end, text.length), quoting };
}

/**
 * -Dkey=value options on a command line (boot-hosted-exec.conf): each occurrence gets the value,
 * in the quoting it has there (bare stays bare, '…' stays '…', "…" stays "…"); a value that
 * quoting cannot carry is refused, naming the file, the option and what it cannot carry.
 */
function setShellOptions(file: AppConfigFile, text: string, values: [string, string][]): string {
  let out = text;
  for (const [key, value] of values) {
    const contexts = shellContexts(out);
    const option = `-D${key}=`;
    const edits: { start: number; end: number; replacement: string }[] = [];
    for (let at = out.indexOf(option); at >= 0; at = out.indexOf(option, at + 1)) {
      const context = contexts[at];
      if (context === 'comment') continue;
      // An option starts a word: of the command line, of an assignment's value (OPTS=-D…), or of the options in their string.
      const before = at === 0 ? '\n' : out[at - 1];
      const startsWord =
        /\s/.test(before) ||
        (context === 'top'
          ? /[;&|()<>]/.test(before) || /(?:^|[\s;&|()])[A-Za-z_][A-Za-z0-9_]*=$/.test(out.slice(Math.max(0, at - 200), at))
          : contexts[at - 1] === 'top' && before === (context === 'double' ? '"' : "'"));
      if (!startsWord) continue;
      const start = at + option.length;
      const found = shellValueAt(out, start, context);
      if (!found) {
        throw new AppConfigError(`${file.path}: the value of -D${key} is written with a quoting haflow does not edit (quoted and unquoted parts together); write it as -D${key}='…' (or bare), then retry`);
      }
      const { quoting } = found;
      if (quoting.refused.test(value)) {
        throw new AppConfigError(`${file.path}: the value for -D${key} has ${quoting.says}, which this shell-format file cannot carry where the option is written (${quoting.where}); choose a password without them`);
      }
      edits.push({ start, end: found.end, replacement: `${quoting.open}${value}${quoting.close}` });
    }
    if (edits.length === 0) {
      throw new AppConfigError(`${file.path} has no -D${key}=… option to set; the application's installer writes it: install the application first, or fix password_key/url_key for this file`);
    }
    for (const edit of edits.reverse()) out = `${out.slice(0, edit.start)}${edit.replacement}${out.slice(edit.end)}`;
  }
  return out;
}
