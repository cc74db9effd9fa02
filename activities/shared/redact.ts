// Redaction of passwords from text that is shown to an operator or stored in a workflow's
// history (diffs, summaries, errors). Two ways, both always applied where they fit:
// - by value: every secret the activity resolved is replaced wherever it appears, whole and
//   line by line (a multi-line value leaves no line behind), also in its escaped forms;
// - by key: the value of any key ending in "password" (or named as a password key for that
//   file), and the credentials in a URL, are replaced, for values haflow does not know (the old
//   password in a file on the host), including YAML's multi-line values.
const REDACTED = '<redacted>';

/** Replaces every known secret value in `text`. */
export function redactValues(text: string, secrets: Iterable<string>): string {
  const needles = new Set<string>();
  for (const secret of secrets) {
    if (!secret) continue;
    needles.add(secret);
    // As JSON, YAML double quotes and most config formats escape it.
    needles.add(JSON.stringify(secret).slice(1, -1));
    for (const line of secret.split(/\r?\n|\r/)) if (line.trim()) needles.add(line);
  }
  let out = text;
  // Longest first, so a line of a value never splits the value itself.
  for (const needle of [...needles].sort((a, b) => b.length - a.length)) out = out.split(needle).join(REDACTED);
  return out;
}

const REDACTED_CHANGED = '<redacted, changed>';

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export interface RedactOptions {
  /** The other side of a diff: a value that is not the same there is shown as changed. */
  comparedWith?: string;
  /** Keys whose values are passwords whatever their name (an application file's password_key). */
  passwordKeys?: string[];
}

/** The names of password keys: any ending in "password", and the ones given. */
const passwordKeyNames = (keys: string[] = []) => ['[\\w.-]*password', ...keys.map(escapeRegExp)].join('|');

/** A line `key: value` / `key=value` (YAML, properties, env files, `export KEY=…`) whose key is a password key. */
const passwordLine = (names: string) => new RegExp(`^([ \\t]*(?:-[ \\t]+)?(?:export[ \\t]+)?(?:${names})[ \\t]*[:=][ \\t]*)(\\S.*)$`, 'i');

/**
 * Secrets inside a line, each as (what comes before it)(the secret)(what comes after it):
 * a -D option of a password key on a command line (its value a shell word: quoted parts and
 * bare characters up to a blank), the credentials of a URL (user:password@, or a query
 * parameter whose name ends in "password", as a JDBC URL's ?password=), and HAProxy's
 * `stats auth user:password` (the rest of its line).
 */
const inlineSecrets = (names: string) => [
  /^([ \t]*stats[ \t]+auth[ \t]+)(\S.*)()$/gim,
  new RegExp(`(-D(?:${names})=)((?:'[^'\\n]*'|"[^"\\n]*"|[^\\s"'])+)()`, 'gi'),
  /(\/\/[^/\s:@'"]*:)([^/\s'"]*)(@)/g,
  /([?&;][\w.-]*password=)([^&;#\s'"]*)()/gi,
];

/** Every inline secret of `text` as found (which pattern, what precedes it, the value): to tell whether a value is the same on the other side. */
function inlineSecretsOf(text: string, patterns: RegExp[]): Set<string> {
  const found = new Set<string>();
  patterns.forEach((pattern, i) => {
    for (const m of text.matchAll(pattern)) found.add(`${i}\0${m[1].toLowerCase()}\0${m[2]}`);
  });
  return found;
}

/**
 * Replaces the values of password keys (YAML, properties, env files, -D options on a command
 * line; any key ending in "password", and `passwordKeys`) and the credentials in URLs. With
 * `comparedWith` (the other side of a diff), a value that is not the same there is shown as
 * changed, so a diff still says that a password changed without saying what it is.
 */
export function redactSecrets(text: string, options: RedactOptions = {}): string {
  const names = passwordKeyNames(options.passwordKeys);
  const keyLine = passwordLine(names);
  const inline = inlineSecrets(names);
  const other = options.comparedWith;
  const otherLines = other === undefined ? undefined : `\n${other}\n`;
  const otherInline = other === undefined ? undefined : inlineSecretsOf(other, inline);
  const lines = text.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const match = keyLine.exec(lines[i]);
    if (!match) {
      let line = lines[i];
      inline.forEach((pattern, p) => {
        line = line.replace(pattern, (_m, before: string, value: string, after: string) => {
          const same = otherInline === undefined || otherInline.has(`${p}\0${before.toLowerCase()}\0${value}`);
          return `${before}${same ? REDACTED : REDACTED_CHANGED}${after}`;
        });
      });
      out.push(line);
      continue;
    }
    const first = i;
    // A YAML value that goes on below its key: a block scalar (| or >), or a quoted string
    // left open. Its lines are more indented than the key: they are part of the value.
    const value = match[2].trim();
    const opensBlock = /^[|>][-+0-9]*(\s+#.*)?$/.test(value) || /^"(?:[^"\\]|\\.)*$/.test(value) || /^'(?:[^']|'')*$/.test(value);
    const keyIndent = /^[ \t]*(?:-[ \t]+)?/.exec(lines[i])![0].length;
    if (opensBlock) {
      while (i + 1 < lines.length && (lines[i + 1].trim() === '' || /^[ \t]*/.exec(lines[i + 1])![0].length > keyIndent)) i += 1;
    }
    const raw = lines.slice(first, i + 1).join('\n');
    const label = otherLines !== undefined && !otherLines.includes(`\n${raw}\n`) ? REDACTED_CHANGED : REDACTED;
    out.push(`${match[1]}${label}`);
    for (const line of lines.slice(first + 1, i + 1)) out.push(line.trim() === '' ? line : `${' '.repeat(keyIndent + 2)}${label}`);
  }
  return out.join('\n');
}
