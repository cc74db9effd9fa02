// What a change of a secret file shows: the step's summary and diff go to the workflow's history,
// `haflow plan --check` and the CLI, so neither the old nor the new secret may be in them. A file
// that is secret as a whole (HAProxy's PEM: a private key) shows only that it changed, with a
// short hash of each side; a file with passwords in it shows its diff with them redacted, by
// the keys a password is known to be under. Files are read and written by this machine's sh in
// a temporary directory.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setAppConfigFiles } from '../../activities/app/activities';
import { tlsPemFile } from '../../activities/haproxy/component';
import { redactSecrets } from '../../activities/shared/redact';
import { ensureRemoteFile } from '../../activities/shared/remote-files';
import { loadTopology } from '../../topology';
import type { AppConfigFile } from '../../topology/schema';
import { fakeSsh, localShell } from '../support/fake-ssh';

const root = join(__dirname, '../..');
const standalone = loadTopology(join(root, 'lab/topologies/standalone.yaml')).topology;
const short = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);

/** The lines that make up a PEM's body: none of them may be shown. */
const bodyLines = (pem: string) => pem.split('\n').filter((l) => l && !l.startsWith('-----'));

describe('a file secret as a whole (the TLS PEM)', () => {
  test('a rotated key: neither the old nor the new key is in the change, in check mode or when written; it says that it changed, with a short hash of each side', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'haflow-pem-rotation-'));
    try {
      const keyPair = (name: string) => {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`), '-days', '2', '-subj', `/CN=${name}`], { stdio: 'ignore' });
        return { certificate: { file: join(dir, `${name}.crt`) }, key: { file: join(dir, `${name}.key`) } };
      };
      const read = (ref: { file: string } | { env: string }) => readFileSync((ref as { file: string }).file, 'utf8');
      const pemPath = join(dir, 'haproxy.pem');
      const pemFor = (pair: ReturnType<typeof keyPair>) => tlsPemFile({ ...standalone, haproxy: { ...standalone.haproxy, tls: { pem: pemPath, port: 443, ...pair } } }, read)!;
      const before = pemFor(keyPair('old'));
      const after = pemFor(keyPair('new'));
      writeFileSync(pemPath, before.content, { mode: 0o600 });
      const { ssh } = fakeSsh(localShell);
      const me = { owner: execFileSync('id', ['-un'], { encoding: 'utf8' }).trim(), group: execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim() };
      for (const check of [true, false]) {
        const change = await ensureRemoteFile(ssh, { ...after, ...me }, check, { backupDir: join(dir, 'backups') });
        const shown = JSON.stringify(change);
        for (const line of [...bodyLines(before.content), ...bodyLines(after.content)]) assert.ok(!shown.includes(line), `the change shows a line of a key or certificate: ${line}`);
        assert.ok(change.diff, 'a diff says that the content changed');
        assert.ok(change.diff.includes(short(before.content)) && change.diff.includes(short(after.content)), change.diff);
        assert.match(change.diff, /secret/);
      }
      assert.equal(readFileSync(pemPath, 'utf8'), after.content, 'the new PEM is written');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("an application file's old values, under the keys its app.config_files entry names", () => {
  const settings = { url: 'jdbc:postgresql://10.0.0.1:5000/flotomate', password: 'New-pw-3' };
  const OLD = ['Old-secret-1', 'Old-secret-2', 'Old secret 5', 'Old-secret-6', 'Old-secret-7'];

  async function checkDiff(files: { entry: AppConfigFile; text: string }[], password = settings.password): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'haflow-app-diff-'));
    try {
      const entries = files.map(({ entry, text }, i) => {
        const path = join(dir, `file-${i}`);
        writeFileSync(path, text, { mode: 0o640 });
        return { ...entry, path };
      });
      const { ssh } = fakeSsh(localShell);
      const result = await setAppConfigFiles(ssh, entries, { ...settings, password }, true);
      files.forEach(({ text }, i) => assert.equal(readFileSync(entries[i].path, 'utf8'), text, 'check mode changes nothing'));
      return JSON.stringify(result);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  test('a password_key not ending in "password" and credentials in the url_key URL (query or user:password@) are redacted, old and new, and shown as changed', async () => {
    const shown = await checkDiff([
      { entry: { path: '', format: 'env', url_key: 'DB_URL', password_key: 'DB_PASS' }, text: 'DB_PASS=Old-secret-1\nDB_URL=jdbc:postgresql://localhost:5432/flotomate?user=app&password=Old-secret-2&ssl=true\n' },
      { entry: { path: '', format: 'properties', url_key: 'app.db.url', password_key: 'app.db.secret' }, text: 'app.db.url=jdbc:postgresql://app:Old-secret-6@localhost/flotomate\napp.db.secret = Old-secret-7\nother=1\n' },
      {
        entry: { path: '', format: 'shell', url_key: 'app.db.url', password_key: 'app.db.pass' },
        text: `JAVA_OPTS="-Xmx1g -Dapp.db.url=jdbc:postgresql://localhost/flotomate -Dapp.db.pass='Old secret 5' -Dx=1"\n`,
      },
    ]);
    for (const secret of [...OLD, settings.password, 'secret 5']) assert.ok(!shown.includes(secret), `the change shows ${secret}: ${shown}`);
    assert.match(shown, /\+DB_PASS=<redacted, changed>/);
    assert.match(shown, /-DB_URL=jdbc:postgresql:\/\/localhost:5432\/flotomate\?user=app&password=<redacted>&ssl=true/, 'the rest of the old URL is shown');
    assert.match(shown, /\+DB_URL=jdbc:postgresql:\/\/10\.0\.0\.1:5000\/flotomate/);
    assert.match(shown, /-app\.db\.url=jdbc:postgresql:\/\/app:<redacted>@localhost\/flotomate/);
    assert.match(shown, /\+app\.db\.secret = <redacted, changed>/);
    assert.match(shown, /-Dapp\.db\.pass=<redacted>/);
    assert.match(shown, /-Dapp\.db\.pass=<redacted, changed>/);
  });

  test('an unchanged password under a configured key is shown redacted, not as changed', async () => {
    const shown = await checkDiff([{ entry: { path: '', format: 'env', url_key: 'DB_URL', password_key: 'DB_PASS' }, text: 'DB_PASS=New-pw-3\nDB_URL=jdbc:postgresql://localhost/x\n' }]);
    assert.ok(!shown.includes('New-pw-3'), shown);
    assert.doesNotMatch(shown, /changed>/);
  });
});

describe('redactSecrets on -D options and URLs', () => {
  test('a quoted -D password with blanks in it is redacted to its closing quote, on a line of other options', () => {
    const text = `JAVA_OPTS="-Dspring.datasource.password='two words' -Dnext=1"\nEXEC="-Dspring.datasource.password=\\"x y\\" -Dother=2"\n`;
    const redacted = redactSecrets(text);
    assert.doesNotMatch(redacted, /two|words|x y|y\\/);
    assert.match(redacted, / -Dnext=1"$/m);
    assert.match(redacted, / -Dother=2"$/m);
  });

  test('credentials in any URL of a file with passwords are redacted; a URL without them is left as it is', () => {
    const text = 'a=jdbc:postgresql://u:pw1@h:5432/db\nb=jdbc:postgresql://h:5432/db?user=u&sslpassword=pw2\nc=jdbc:postgresql://h:5432/db?user=u\n';
    assert.equal(redactSecrets(text), 'a=jdbc:postgresql://u:<redacted>@h:5432/db\nb=jdbc:postgresql://h:5432/db?user=u&sslpassword=<redacted>\nc=jdbc:postgresql://h:5432/db?user=u\n');
  });
});
