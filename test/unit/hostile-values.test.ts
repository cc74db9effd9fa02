// Hostile values, generated: every string field of every example topology (and of
// test/fixtures/every-field.yaml, which writes the optional ones), in turn, carries shell
// metacharacters, $(…), backticks, quotes, a line break, a CR, a NUL, unicode, an option and
// 100 KB. Each is refused by validation naming that field, or it is one of the few fields that
// take any text, and then every file haflow renders keeps its structure and carries the value
// byte-exact where it belongs. Passwords (not topology fields: resolved on the worker) get the
// same values and are followed into the files a reader parses: patroni.yml and the
// application's properties, env and shell files, the last two read by a real sh.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMap, isScalar, isSeq, parse as parseYaml, parseDocument } from 'yaml';
import { hostFiles, secretPlaceholder } from '../../activities/components';
import { AppConfigError, setAppDatabaseSettings } from '../../activities/app/config';
import { driverCommand } from '../../activities/failover/drivers';
import type { SecretText } from '../../activities/shared/component';
import { formatPath, parseTopology, TopologyError, type SecretRef, type Topology } from '../../topology';
import type { AppConfigFile } from '../../topology/schema';

const root = join(__dirname, '../..');
const TOPOLOGIES = [
  ...readdirSync(join(root, 'topology/examples')).map((f) => `topology/examples/${f}`),
  // A Debian 13 lab file has the fields of its Debian 12 twin, with other values.
  ...readdirSync(join(root, 'lab/topologies')).filter((f) => !f.endsWith('-debian13.yaml')).map((f) => `lab/topologies/${f}`),
  'test/fixtures/every-field.yaml',
];

const scratch = mkdtempSync(join(tmpdir(), 'haflow-hostile-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
/** Any value below that a shell runs would create this file. */
const MARKER = join(scratch, 'executed');

const HOSTILE: Record<string, string> = {
  'command substitution': `$(touch ${MARKER})`,
  backticks: `\`touch ${MARKER}\``,
  quotes: `it's "q"; touch ${MARKER}`,
  'shell operators': `a|touch ${MARKER}&b>c<d*?~#!`,
  'line break': 'x\nbootstrap: evil',
  'carriage return': 'x\rX-Evil: 1',
  NUL: 'x\u0000y',
  unicode: 'ünïcødé 名前 🐘',
  option: '--help',
  '100 KB': 'x'.repeat(100_000),
};

type Path = (string | number)[];

/** The paths of every string scalar a file writes. */
function stringFields(text: string): Path[] {
  const paths: Path[] = [];
  const walk = (node: unknown, path: Path) => {
    if (isMap(node)) for (const pair of node.items) walk(pair.value, [...path, String((pair.key as { value: unknown }).value)]);
    else if (isSeq(node)) node.items.forEach((item, i) => walk(item, [...path, i]));
    else if (isScalar(node) && typeof node.value === 'string') paths.push(path);
  };
  walk(parseDocument(text).contents, []);
  return paths;
}

/**
 * The fields that take any text (on one line, bounded), and why that is safe. Any other field
 * that validates with a hostile value fails this test.
 */
const TAKES_ANY_TEXT: { field: RegExp; why: string; renderedInto?: (topology: Topology, path: Path) => { file: string; at: string[] } }[] = [
  { field: /\.file$|^ssh\.(private_key|known_hosts)$/, why: 'a path on the worker, read by the worker with no shell; never sent to a host' },
  { field: /^faults\./, why: "the operator's own command, run on the worker; its placeholders are substituted quoted (tested below)" },
  { field: /^notify\.command$/, why: "the operator's own command, run on the worker with the notification on its standard input" },
  {
    field: /^postgresql\.parameters\./,
    why: "a PostgreSQL setting: written as a YAML string into patroni.yml's bootstrap settings, which Patroni quotes into postgresql.conf",
    renderedInto: (_t, path) => ({ file: '/etc/patroni/config.yml', at: ['bootstrap', 'dcs', 'postgresql', 'parameters', String(path[path.length - 1])] }),
  },
];

function withValue(text: string, path: Path, value: string): string {
  const doc = parseDocument(text);
  doc.setIn(path, value);
  return doc.toString({ lineWidth: 0 });
}

interface Rendered {
  host: string;
  path: string;
  meta: string;
  content: string;
}

function renderAll(topology: Topology, secret: SecretText = secretPlaceholder): Rendered[] {
  return topology.hosts.flatMap((host) =>
    hostFiles(topology, host, secret).map((f) => ({ host: host.name, path: f.path, meta: `${f.owner}:${f.group} ${f.mode.toString(8)} ${f.validate ?? ''}`, content: f.content })),
  );
}

const isYamlFile = (path: string) => /\.ya?ml$/.test(path);

function getIn(value: unknown, at: string[]): unknown {
  return at.reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], value);
}

/** The rendered files are the baseline's, except `value` at `at` in `file` (parsed as YAML). */
function assertSameStructure(baseline: Rendered[], rendered: Rendered[], value: string, expected: { file: string; at: string[] } | undefined, label: string): void {
  assert.deepEqual(
    rendered.map((r) => `${r.host}:${r.path} ${r.meta}`),
    baseline.map((r) => `${r.host}:${r.path} ${r.meta}`),
    `${label}: the same files, owners and modes`,
  );
  rendered.forEach((file, i) => {
    const before = baseline[i];
    if (expected && file.path === expected.file) {
      assert.ok(isYamlFile(file.path));
      const parsed = parseYaml(file.content);
      assert.equal(getIn(parsed, expected.at), value, `${label}: ${file.host}:${file.path} carries the value byte-exact at ${expected.at.join('.')}`);
      const original = parseYaml(before.content);
      let target = parsed as Record<string, unknown>;
      for (const key of expected.at.slice(0, -1)) target = target[key] as Record<string, unknown>;
      target[expected.at[expected.at.length - 1]] = getIn(original, expected.at);
      assert.deepEqual(parsed, original, `${label}: ${file.host}:${file.path} is otherwise unchanged`);
    } else {
      assert.equal(file.content, before.content, `${label}: ${file.host}:${file.path} is unchanged`);
    }
  });
}

describe('every string field of every example topology, with hostile values', () => {
  for (const file of TOPOLOGIES) {
    test(file, () => {
      const text = readFileSync(join(root, file), 'utf8');
      const baseline = renderAll(parseTopology(text, file).topology);
      const fields = stringFields(text);
      assert.ok(fields.length >= 5, `${file}: ${fields.length} string fields`);
      let refused = 0;
      let taken = 0;
      for (const path of fields) {
        const field = formatPath(path);
        for (const [kind, value] of Object.entries(HOSTILE)) {
          const label = `${file}: ${field} = ${kind}`;
          let topology: Topology;
          try {
            topology = parseTopology(withValue(text, path, value), file).topology;
          } catch (err) {
            assert.ok(err instanceof TopologyError, `${label}: ${(err as Error).message.slice(0, 300)}`);
            const issue = err.issues.find((i) => i.path === field || i.path.startsWith(`${field}.`));
            assert.ok(issue, `${label}: refused, naming the field (issues: ${err.issues.map((i) => i.path).join(', ')})`);
            assert.ok(!/[\n\r\0]/.test(issue.message) && issue.message.length < 600, `${label}: one bounded line (${issue.message.length} characters)`);
            refused += 1;
            continue;
          }
          const rule = TAKES_ANY_TEXT.find((r) => r.field.test(field));
          assert.ok(rule, `${label}: validated, but this field is not one that takes any text`);
          assert.ok(!/[\n\r\0]/.test(value) && value.length <= 4096, `${label}: even a field that takes any text takes one bounded line`);
          assertSameStructure(baseline, renderAll(topology), value, rule.renderedInto?.(topology, path), label);
          taken += 1;
        }
      }
      assert.ok(refused > 0);
      // Nothing a renderer writes ran: the renderers only build text, and no hostile value was executed while testing.
      assert.ok(!existsSync(MARKER));
      assert.ok(refused + taken === fields.length * Object.keys(HOSTILE).length);
    });
  }
});

describe('passwords with hostile values', () => {
  const topology = parseTopology(readFileSync(join(root, 'test/fixtures/every-field.yaml'), 'utf8'), 'every-field.yaml').topology;
  const baseline = renderAll(topology);
  const oneLine = Object.entries(HOSTILE).filter(([, v]) => !/[\n\r\0]/.test(v));
  const refs: { ref: SecretRef; at: string[] }[] = [
    { ref: topology.postgresql.superuser.password, at: ['postgresql', 'authentication', 'superuser', 'password'] },
    { ref: topology.postgresql.replication.password, at: ['postgresql', 'authentication', 'replication', 'password'] },
    { ref: topology.postgresql.rewind.password, at: ['postgresql', 'authentication', 'rewind', 'password'] },
  ];

  test('reach patroni.yml byte-exact, as YAML strings, and change nothing else', () => {
    for (const { ref, at } of refs) {
      for (const [kind, value] of oneLine) {
        const secret: SecretText = (r, what) => (JSON.stringify(r) === JSON.stringify(ref) ? value : secretPlaceholder(r, what));
        assertSameStructure(baseline, renderAll(topology, secret), value, { file: '/etc/patroni/config.yml', at }, `${at.join('.')} = ${kind}`);
      }
    }
  });

  const settingsFor = (password: string) => ({ url: 'jdbc:postgresql://10.0.0.1:5000/flotomate', password });
  const sh = (script: string) => spawnSync('sh', ['-c', script], { encoding: 'utf8', cwd: scratch, env: { PATH: process.env.PATH } });

  test("reach the application's env file as sh reads it, or are refused naming the file; sh runs nothing", () => {
    const file: AppConfigFile = { path: '/etc/flotomate_env', format: 'env', url_key: 'DB_URL', password_key: 'DB_PASSWORD' };
    const envFile = join(scratch, 'flotomate_env');
    let written = 0;
    for (const [kind, value] of [...oneLine, ['plain', 'Plain-pass_w0rd.1']]) {
      let content: string;
      try {
        content = setAppDatabaseSettings(file, 'DB_URL=old\nDB_PASSWORD=old\nOTHER=1\n', settingsFor(value));
      } catch (err) {
        assert.ok(err instanceof AppConfigError, `${kind}: ${(err as Error).message}`);
        assert.match(err.message, /^\/etc\/flotomate_env: the value for DB_PASSWORD has a character sh would read as syntax/);
        assert.ok(!err.message.includes(value), `${kind}: the refusal does not show the password`);
        continue;
      }
      writeFileSync(envFile, content);
      const read = sh(`. ./flotomate_env && printf %s "$DB_PASSWORD"`);
      assert.equal(read.status, 0, `${kind}: ${read.stderr}`);
      assert.equal(read.stdout, value, `${kind}: sh reads back the password byte-exact`);
      written += 1;
    }
    assert.ok(written >= 2, 'plain and unicode passwords are written');
    assert.ok(!existsSync(MARKER), 'sh executed nothing');
  });

  test("reach the application's properties files as a properties reader takes them, or are refused", () => {
    const file: AppConfigFile = { path: '/opt/app.properties', format: 'properties', url_key: 'spring.datasource.url', password_key: 'spring.datasource.password' };
    for (const [kind, value] of oneLine) {
      let content: string;
      try {
        content = setAppDatabaseSettings(file, 'spring.datasource.password=old\nother=1\n', settingsFor(value));
      } catch (err) {
        assert.ok(err instanceof AppConfigError, `${kind}: ${(err as Error).message}`);
        continue;
      }
      const lines = content.split('\n').filter(Boolean);
      assert.deepEqual(lines, ['spring.datasource.password=' + value, 'other=1', 'spring.datasource.url=jdbc:postgresql://10.0.0.1:5000/flotomate'], kind);
      // A properties reader's only escape is the backslash, and no value that reached the file has one.
      assert.ok(!value.includes('\\'));
    }
    assert.throws(() => setAppDatabaseSettings(file, '', settingsFor('a\\tb')), /has a backslash/);
  });

  test("reach the application's shell-format files as sh reads the -D option, or are refused", () => {
    const file: AppConfigFile = { path: '/opt/boot-hosted-exec.conf', format: 'shell', url_key: 'spring.datasource.url', password_key: 'spring.datasource.password' };
    const conf = join(scratch, 'boot.conf');
    for (const [kind, value] of oneLine) {
      let content: string;
      try {
        content = setAppDatabaseSettings(file, 'JAVA_OPTS="-Xmx1g -Dspring.datasource.url=old -Dspring.datasource.password=old"\n', settingsFor(value));
      } catch (err) {
        assert.ok(err instanceof AppConfigError, `${kind}: ${(err as Error).message}`);
        continue;
      }
      writeFileSync(conf, content);
      const read = sh(`. ./boot.conf && printf '%s\\n' $JAVA_OPTS`);
      assert.equal(read.status, 0, `${kind}: ${read.stderr}`);
      assert.ok(read.stdout.split('\n').includes(`-Dspring.datasource.password=${value}`), `${kind}: ${read.stdout}`);
    }
    assert.ok(!existsSync(MARKER), 'sh executed nothing');
  });
});

describe("fault drivers' templates", () => {
  const text = readFileSync(join(root, 'test/fixtures/every-field.yaml'), 'utf8');
  const { topology } = parseTopology(text, 'every-field.yaml');
  const logArgs = join(scratch, 'log-args');
  writeFileSync(logArgs, '#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done\n', { mode: 0o755 });

  test('substitute a hostile host name and address as one quoted word each: the program receives them byte-exact, nothing runs', () => {
    for (const [kind, value] of Object.entries(HOSTILE).filter(([, v]) => !v.includes('\0'))) {
      const host = { ...topology.hosts[1], name: value, address: value };
      for (const template of [`${logArgs} -H {host}-ipmi power off`, `${logArgs} {address}:623 {host}`]) {
        // Through a script file: two 100 KB values are more than one argument of sh -c may hold.
        writeFileSync(join(scratch, 'driver.sh'), driverCommand(template, host));
        const run = spawnSync('/bin/sh', [join(scratch, 'driver.sh')], { encoding: 'utf8' });
        assert.equal(run.status, 0, `${kind}: ${run.stderr}`);
        const args = run.stdout.split('\0').slice(0, -1);
        const expected = template.startsWith(`${logArgs} -H`) ? ['-H', `${value}-ipmi`, 'power', 'off'] : [`${value}:623`, value];
        assert.deepEqual(args, expected, `${kind}: ${template}`);
      }
    }
    assert.ok(!existsSync(MARKER), 'the shell executed nothing');
  });

  test('a template that puts a placeholder inside quotes is refused, since a quoted value would close the quote', () => {
    for (const template of ["ipmitool -H '{host}' power off", 'cut-network "{address}"', "ssh bmc 'poweroff {host}'"]) {
      const doc = parseDocument(text);
      doc.setIn(['faults', 'power_off'], template);
      assert.throws(
        () => parseTopology(doc.toString(), 'every-field.yaml'),
        (err: unknown) => err instanceof TopologyError && err.issues.some((i) => i.path === 'faults.power_off' && /placeholder inside quotes; write \{host\} and \{address\} bare/.test(i.message)),
        template,
      );
    }
  });
});
