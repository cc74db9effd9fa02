// Redaction of passwords from text that is shown to an operator or stored in a workflow's
// history (diffs, summaries, errors). Two ways, both always applied where they fit:
// - by value: every secret the activity resolved is replaced wherever it appears, whole and
//   line by line (a multi-line value leaves no line behind), also in its escaped forms;
// - by key: the value of any key ending in "password" is replaced, for values haflow does not
//   know (the old password in a file on the host), including YAML's multi-line values.
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

const PASSWORD_KEY = /^([ \t]*(?:-[ \t]+)?(?:export[ \t]+)?[\w.-]*password[ \t]*[:=][ \t]*)(\S.*)$/i;

/**
 * Replaces the values of password keys (YAML, properties, env files, -D options on a command
 * line). With `comparedWith` (the other side of a diff), a value that is not the same there is
 * shown as changed, so a diff still says that a password changed without saying what it is.
 */
export function redactSecrets(text: string, options: { comparedWith?: string } = {}): string {
  const lines = text.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const match = PASSWORD_KEY.exec(lines[i]);
    if (!match) {
      out.push(lines[i].replace(/(-D[\w.-]*password=)("[^"]*"|[^\s"]+)/gi, `$1${REDACTED}`));
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
    const label = options.comparedWith !== undefined && !options.comparedWith.includes(raw) ? REDACTED_CHANGED : REDACTED;
    out.push(`${match[1]}${label}`);
    for (const line of lines.slice(first + 1, i + 1)) out.push(line.trim() === '' ? line : `${' '.repeat(keyIndent + 2)}${label}`);
  }
  return out.join('\n');
}

const REDACTED_CHANGED = '<redacted, changed>';
