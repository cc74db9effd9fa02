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
import { tlsPemFile } from '../../activities/haproxy/component';
import { ensureRemoteFile } from '../../activities/shared/remote-files';
import { loadTopology } from '../../topology';
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
