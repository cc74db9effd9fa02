// The documentation points at the repository: relative links, anchors into headings, and file
// paths in backticks. Files move and sections are renamed; a reader who follows a link or opens a
// named file must find it. Checked for README.md, every Markdown file in docs/ and bench/README.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = join(__dirname, '../..');
const README_MAX_LINES = 300;

function markdownFilesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return markdownFilesUnder(path);
    return entry.name.endsWith('.md') ? [path] : [];
  });
}

const documents = [join(root, 'README.md'), ...markdownFilesUnder(join(root, 'docs')), join(root, 'bench/README.md')];

/** The text outside fenced code blocks, line by line (fenced lines become empty, so line numbers hold). */
function proseLines(text: string): string[] {
  let fence: string | undefined;
  return text.split('\n').map((line) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
      return '';
    }
    if (marker) {
      fence = marker;
      return '';
    }
    return line;
  });
}

/** The paragraphs of the prose (runs of non-blank lines), each with the number of its first line. */
function paragraphs(text: string): { line: number; text: string }[] {
  const blocks: { line: number; text: string }[] = [];
  proseLines(text).forEach((line, index) => {
    const last = blocks.at(-1);
    if (line.trim() === '') return;
    if (last && last.line + last.text.split('\n').length === index + 1) last.text += `\n${line}`;
    else blocks.push({ line: index + 1, text: line });
  });
  return blocks;
}

/** Inline code spans of a paragraph (they may run over a line end), with their line numbers, and the
 * paragraph with them blanked out (links inside code are not links); line ends are kept. */
function codeSpans(block: { line: number; text: string }): { spans: { line: number; code: string }[]; rest: string } {
  const spans: { line: number; code: string }[] = [];
  const rest = block.text.replace(/(?<!`)(`+)(?!`)([^]*?[^`])\1(?!`)/g, (match: string, _ticks: string, code: string, offset: number) => {
    spans.push({ line: block.line + block.text.slice(0, offset).split('\n').length - 1, code: code.replace(/\n/g, ' ').trim() });
    return match.replace(/[^\n]/g, ' ');
  });
  return { spans, rest };
}

/** GitHub's anchor for a heading: lower case, punctuation dropped (not `-` or `_`), spaces to hyphens. */
function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link keeps its text
    .replace(/`/g, '')
    .replace(/<[^>]+>/g, '');
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a Markdown file's headings get on GitHub, repeats numbered as GitHub numbers them. */
function anchorsOf(file: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(readFileSync(file, 'utf8'))) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const slug = githubSlug(heading);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

interface Mention {
  file: string;
  line: number;
  text: string;
}

/** Every link target of a document: inline links and images, and reference definitions. */
function linksOf(file: string): Mention[] {
  const links: Mention[] = [];
  for (const block of paragraphs(readFileSync(file, 'utf8'))) {
    const { rest } = codeSpans(block);
    const lineOf = (offset: number) => block.line + rest.slice(0, offset).split('\n').length - 1;
    for (const match of rest.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+["'(][^)]*)?\)/g)) links.push({ file, line: lineOf(match.index), text: match[1] });
    for (const match of rest.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/gm)) links.push({ file, line: lineOf(match.index), text: match[1] });
  }
  return links;
}

/** Why a link does not resolve, or undefined when it does. */
function brokenLink(from: string, target: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined; // https:, mailto:: not a file here
  const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
  const path = pathPart === '' ? from : resolve(dirname(from), decodeURI(pathPart));
  if (!path.startsWith(root)) return `${target} leaves the repository`;
  if (!existsSync(path)) return `${relative(root, path)} does not exist`;
  if (anchor !== undefined && path.endsWith('.md') && !anchorsOf(path).has(decodeURIComponent(anchor))) {
    return `${relative(root, path)} has no heading with the anchor #${anchor}`;
  }
  return undefined;
}

/** The repository's top-level folders: a code span token that starts with one names a repository path. */
const topFolders = readdirSync(root, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && entry.name !== '.git' && entry.name !== 'node_modules')
  .map((entry) => entry.name);

/** Every TypeScript file of the repository by its bare name, for code spans that name one without its folder. */
function typescriptNames(dir: string, names = new Set<string>()): Set<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === '.git' || entry.name === 'node_modules') continue;
    if (entry.isDirectory()) typescriptNames(join(dir, entry.name), names);
    else if (entry.name.endsWith('.ts')) names.add(entry.name);
  }
  return names;
}
const tsNames = typescriptNames(root);

/** A token that stands for more than one file or for a value to fill in: not checkable as a path. */
const placeholder = /[<>*{}[\]…$]|\.\.\./;

/** The repository paths a document names in code spans (words of a command count one by one). */
function pathsOf(file: string): Mention[] {
  const paths: Mention[] = [];
  for (const block of paragraphs(readFileSync(file, 'utf8'))) {
    for (const { line, code } of codeSpans(block).spans) {
      for (const word of code.split(/\s+/)) {
        const token = word.replace(/^['"(]+|['"),;:.]+$/g, '').replace(/^[A-Z_]+=/, '');
        if (!token || placeholder.test(token) || token.includes('://')) continue;
        const first = token.split('/')[0];
        if (token.includes('/') && topFolders.includes(first)) paths.push({ file, line, text: token });
        else if (!token.includes('/') && /^[\w.-]+\.ts$/.test(token)) paths.push({ file, line, text: token });
      }
    }
  }
  return paths;
}

function where(mention: Mention): string {
  return `${relative(root, mention.file)}:${mention.line}`;
}

test('the documents checked here exist: README.md, docs/ with its index, bench/README.md', () => {
  for (const file of ['README.md', 'docs/README.md', 'docs/glossary.md', 'bench/README.md']) {
    assert.ok(existsSync(join(root, file)), `${file} is missing`);
  }
});

test(`README.md has at most ${README_MAX_LINES} lines; the rest belongs in docs/`, () => {
  const lines = readFileSync(join(root, 'README.md'), 'utf8').replace(/\n$/, '').split('\n').length;
  assert.ok(lines <= README_MAX_LINES, `README.md has ${lines} lines (at most ${README_MAX_LINES}): move sections into docs/ and link them`);
});

test('every relative link in the docs resolves to a file, and every #anchor to a heading in it', () => {
  const problems = documents
    .filter((file) => existsSync(file))
    .flatMap((file) => linksOf(file).map((link) => ({ link, why: brokenLink(file, link.text) })))
    .filter(({ why }) => why !== undefined)
    .map(({ link, why }) => `${where(link)}: (${link.text}): ${why}`);
  assert.deepEqual(problems, []);
});

test('every repository path the docs name in backticks exists', () => {
  const problems = documents
    .filter((file) => existsSync(file))
    .flatMap(pathsOf)
    .filter(({ text }) => (text.includes('/') ? !existsSync(join(root, text)) : !tsNames.has(text)))
    .map((mention) => `${where(mention)}: \`${mention.text}\` ${mention.text.includes('/') ? 'does not exist' : 'is no file of the repository'}`);
  assert.deepEqual(problems, []);
});

test('the link checker itself: anchors follow GitHub, and a broken link or path is caught', () => {
  assert.equal(githubSlug('Failover: health, switchover, drills'), 'failover-health-switchover-drills');
  assert.equal(githubSlug('The application monitor (`haflow observer`)'), 'the-application-monitor-haflow-observer');
  assert.equal(githubSlug('Scale and cost'), 'scale-and-cost');
  assert.equal(brokenLink(join(root, 'README.md'), 'docs/no-such-file.md'), 'docs/no-such-file.md does not exist');
  assert.match(brokenLink(join(root, 'README.md'), '#no-such-heading') ?? '', /no heading with the anchor #no-such-heading/);
  assert.equal(brokenLink(join(root, 'README.md'), 'https://temporal.io'), undefined);
});
