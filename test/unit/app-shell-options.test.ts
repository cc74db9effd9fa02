// The application's shell-format files (boot-hosted-exec.conf and the like): -Dkey=value options
// on a command line, often inside a quoted variable that a start script sources and then expands
// (split at blanks, or through eval when the options carry their own quotes). haflow sets a value
// where it is written and keeps its quoting; a password the place cannot carry is refused, naming
// the file and the option, never the password. Each edited file is sourced by this machine's sh.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppConfigError, refuseUnreadablePassword, setAppDatabaseSettings } from '../../activities/app/config';
import { loadTopology } from '../../topology';
import type { AppConfigFile } from '../../topology/schema';

const root = join(__dirname, '../..');
const scratch = mkdtempSync(join(tmpdir(), 'haflow-shell-options-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
const MARKER = join(scratch, 'executed');

const file: AppConfigFile = { path: '/opt/flotomate/main-server/lib/boot-hosted-exec.conf', format: 'shell', url_key: 'app.url', password_key: 'app.pw' };
const URL = 'jdbc:postgresql://10.0.0.1:5000/flotomate';

/**
 * Runs `content` as a start script is run, by sh, with `java` a function that prints the words
 * it is given; then prints `variable` (the options as the script holds them), if any.
 */
function runStartScript(content: string, variable?: string): { words: string[]; value?: string } {
  writeFileSync(join(scratch, 'exec.conf'), content);
  const script = `java() { for a; do printf '%s\\0' "$a"; done; }; . ./exec.conf${variable ? ` && printf '\\001%s' "$${variable}"` : ''}`;
  const run = spawnSync('sh', ['-c', script], { encoding: 'utf8', cwd: scratch, env: { PATH: process.env.PATH } });
  assert.equal(run.status, 0, run.stderr);
  const [words, value] = run.stdout.split('\u0001');
  return { words: words.split('\0').slice(0, -1), value };
}

/** Where an option may sit: the start script with it there (its value `old`), and what the options variable then holds. */
const PLACES: { name: string; text: string; variable?: string; holds?: (password: string) => string }[] = [
  { name: 'bare, on the command line', text: 'java -Xmx1g -Dapp.url=old -Dapp.pw=old -jar app.jar\n' },
  { name: 'single-quoted, on the command line', text: "java -Xmx1g -Dapp.url=old -Dapp.pw='old' -jar app.jar\n" },
  { name: 'double-quoted, on the command line', text: 'java -Xmx1g -Dapp.url=old -Dapp.pw="old" -jar app.jar\n' },
  {
    name: 'bare and single-quoted, as the values of assignments',
    text: `URL_OPT=-Dapp.url=old\nPW_OPT=-Dapp.pw='old'\njava -Xmx1g $URL_OPT "$PW_OPT" -jar app.jar\n`,
    variable: 'PW_OPT',
    holds: (v) => `-Dapp.pw=${v}`,
  },
  {
    name: 'bare, inside double-quoted options expanded unquoted',
    text: 'JAVA_OPTS="-Xmx1g -Dapp.url=old -Dapp.pw=old"\njava $JAVA_OPTS -jar app.jar\n',
    variable: 'JAVA_OPTS',
    holds: (v) => `-Xmx1g -Dapp.url=${URL} -Dapp.pw=${v}`,
  },
  {
    name: 'bare, inside single-quoted options expanded unquoted',
    text: "JAVA_OPTS='-Xmx1g -Dapp.url=old -Dapp.pw=old'\njava $JAVA_OPTS -jar app.jar\n",
    variable: 'JAVA_OPTS',
    holds: (v) => `-Xmx1g -Dapp.url=${URL} -Dapp.pw=${v}`,
  },
  {
    name: 'single-quoted inside double-quoted options run through eval',
    text: `EXEC_OPTS="-Xmx1g -Dapp.url=old -Dapp.pw='old'"\neval "java $EXEC_OPTS -jar app.jar"\n`,
    variable: 'EXEC_OPTS',
    holds: (v) => `-Xmx1g -Dapp.url=${URL} -Dapp.pw='${v}'`,
  },
  {
    name: 'double-quoted inside single-quoted options run through eval',
    text: `EXEC_OPTS='-Xmx1g -Dapp.url=old -Dapp.pw="old"'\neval "java $EXEC_OPTS -jar app.jar"\n`,
    variable: 'EXEC_OPTS',
    holds: (v) => `-Xmx1g -Dapp.url=${URL} -Dapp.pw="${v}"`,
  },
  {
    name: 'escaped double quotes inside double-quoted options run through eval',
    text: 'EXEC_OPTS="-Xmx1g -Dapp.url=old -Dapp.pw=\\"old\\""\neval "java $EXEC_OPTS -jar app.jar"\n',
    variable: 'EXEC_OPTS',
    holds: (v) => `-Xmx1g -Dapp.url=${URL} -Dapp.pw="${v}"`,
  },
];

const HOSTILE: Record<string, string> = {
  plain: 'Plain-pass_w0rd.1',
  unicode: 'ünïcødé-名前',
  'command substitution': `$(touch ${MARKER})`,
  backticks: `\`touch ${MARKER}\``,
  redirection: `x>${MARKER}`,
  'semicolon and blank': `a; touch ${MARKER}`,
  'single quote': `it's'; touch ${MARKER}; '`,
  'double quote': `say "hi"; touch ${MARKER}`,
  'operators and globs': 'a|b&c<d>e(f)g#h*i?j~k{l,m}n[o]',
  backslash: 'back\\slash',
  'variable and bang': 'a$HOME!b',
};

describe('a shell-format file: the value is set where it is written, in its quoting, or refused', () => {
  for (const place of PLACES) {
    test(place.name, () => {
      let written = 0;
      for (const [kind, password] of Object.entries(HOSTILE)) {
        let content: string;
        try {
          content = setAppDatabaseSettings(file, `# start script\n${place.text}`, { url: URL, password });
        } catch (err) {
          assert.ok(err instanceof AppConfigError, `${kind}: ${(err as Error).message}`);
          assert.ok(err.message.startsWith(`${file.path}: the value for -Dapp.pw has `), err.message);
          assert.ok(!err.message.includes(password), `${kind}: the refusal does not show the password`);
          continue;
        }
        const run = runStartScript(content, place.variable);
        assert.deepEqual(run.words, ['-Xmx1g', `-Dapp.url=${URL}`, `-Dapp.pw=${password}`, '-jar', 'app.jar'], `${kind}: the program is given exactly these words`);
        if (place.holds) assert.equal(run.value, place.holds(password), `${kind}: the options hold the value in the file's quoting`);
        written += 1;
      }
      assert.ok(written >= 2, 'plain and unicode passwords are written');
      assert.ok(!existsSync(MARKER), 'sh executed nothing');
    });
  }

  test('single quotes carry shell syntax; inside double-quoted options they carry blanks and operators but not $, backticks or quotes', () => {
    const set = (text: string, password: string) => setAppDatabaseSettings(file, text, { url: URL, password });
    const p = `$(touch ${MARKER}); \`x\` "q" a|b`;
    assert.equal(set("OPT=-Dapp.pw='old' -Dapp.url=u\n", p), `OPT=-Dapp.pw='${p}' -Dapp.url=${URL}\n`);
    assert.equal(set(`EXEC_OPTS="-Dapp.pw='old' -Dapp.url=u"\n`, 'two words; a|b&c'), `EXEC_OPTS="-Dapp.pw='two words; a|b&c' -Dapp.url=${URL}"\n`);
    assert.throws(() => set(`EXEC_OPTS="-Dapp.pw='old' -Dapp.url=u"\n`, '$(id)'), /-Dapp\.pw has .*\$.*in single quotes inside a double-quoted string/);
    assert.throws(() => set("OPT=-Dapp.pw='old' -Dapp.url=u\n", "it's"), /-Dapp\.pw has a single quote/);
  });

  test('a commented-out option is not an option; a value whose quoting is mixed is refused rather than half replaced', () => {
    assert.throws(() => setAppDatabaseSettings(file, '# JAVA_OPTS="-Dapp.url=u -Dapp.pw=old"\n', { url: URL, password: 'p' }), /has no -Dapp\.url=… option/);
    assert.throws(() => setAppDatabaseSettings(file, "OPT='-Dapp.url=u' -Dapp.pw=ab'cd'\n", { url: URL, password: 'p' }), /-Dapp\.pw.*quoting haflow does not edit/);
  });
});

describe('preflight, before any host is read', () => {
  const lab = loadTopology(join(root, 'lab/topologies/standalone.yaml')).topology;
  const onlyShell = { ...lab, app: { ...lab.app!, config_files: [file] } };

  test('a password a shell-format file could not carry as a bare -D value is refused, naming the file and the option', () => {
    for (const password of ['a;b', `$(touch ${MARKER})`, 'two words', "it's", 'a>b']) {
      assert.throws(
        () => refuseUnreadablePassword(onlyShell, password),
        (err: Error) => err instanceof AppConfigError && err.message.startsWith(`${file.path}: the value for -Dapp.pw has a character sh would read as syntax`) && !err.message.includes(password),
        password,
      );
    }
    refuseUnreadablePassword(onlyShell, 'Plain-pass_w0rd.1:%+=,./^@');
  });
});
