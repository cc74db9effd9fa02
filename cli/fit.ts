// Fitting what the CLI prints to the terminal's width: lines are wrapped between words, and
// the wrapped part is indented under the line's text, instead of the terminal cutting words
// in two. wrap-ansi (the wrapper log-update itself uses) is an ES module: loaded once, on demand.
type Wrap = (text: string, columns: number, options?: { hard?: boolean; trim?: boolean; wordWrap?: boolean }) => string;

let wrapAnsi: Wrap | undefined;

export async function loadWrapper(): Promise<void> {
  wrapAnsi ??= ((await import('wrap-ansi')) as { default: Wrap }).default;
}

/**
 * Each line of `text` fitted to `width` columns. A continuation starts under the line's text:
 * `hang(line)` columns in (default: the line's own indentation plus 2). Only a word longer than a
 * whole line is cut. Needs loadWrapper() first.
 */
export function fitToWidth(text: string, width: number, hang: (line: string) => number = (line) => /^ */.exec(line)![0].length + 2): string {
  if (!wrapAnsi) throw new Error('fitToWidth: call loadWrapper() first');
  const wrap = wrapAnsi;
  return text
    .split('\n')
    .map((line) => {
      if (line.length <= width) return line;
      // At least 30 columns stay for the text, however deep the indent.
      const indent = Math.max(0, Math.min(hang(line), width - 30));
      const [first, ...rest] = wrap(line, width, { hard: true, trim: false, wordWrap: true }).split('\n');
      if (rest.length === 0) return first;
      // The rest, re-wrapped to the narrower width under the indent.
      const tail = wrap(rest.map((l) => l.trim()).join(' '), width - indent, { hard: true, trim: true });
      return [first.trimEnd(), ...tail.split('\n').map((l) => `${' '.repeat(indent)}${l}`)].join('\n');
    })
    .join('\n');
}

/** A fitter for a stream: the identity when it is not a terminal (pipes and logs keep whole lines). */
export async function fitterFor(out: NodeJS.WriteStream): Promise<(text: string, hang?: (line: string) => number) => string> {
  if (!out.isTTY || !out.columns) return (text) => text;
  await loadWrapper();
  return (text, hang) => fitToWidth(text, Math.max(40, (out.columns ?? 80) - 1), hang);
}
