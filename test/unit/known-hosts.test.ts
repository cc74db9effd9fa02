// known_hosts parsing and host-key verdicts, checked against OpenSSH's rules (sshd(8)
// "SSH_KNOWN_HOSTS FILE FORMAT") and, where ssh-keygen is installed, against ssh-keygen itself:
// its fingerprints (-l), its hashing (-H) and its lookups (-F).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkHostKey, fingerprint, knownHostsName, parseKnownHosts } from '../../activities/shared/known-hosts';
import { findExecutable } from '../support/topologies';
import { requires } from '../support/requires';

// ---- keys, built in-process (no ssh-keygen needed) ----

function sshString(data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

/** A fresh ed25519 public key blob, as a server presents it and known_hosts stores it (base64). */
function ed25519Blob(): Buffer {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
  return Buffer.concat([sshString('ssh-ed25519'), sshString(raw)]);
}

/** A fresh ecdsa-sha2-nistp256 public key blob. */
function ecdsaBlob(): Buffer {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x as string, 'base64url'), Buffer.from(jwk.y as string, 'base64url')]);
  return Buffer.concat([sshString('ecdsa-sha2-nistp256'), sshString('nistp256'), sshString(point)]);
}

const b64 = (blob: Buffer) => blob.toString('base64');

/** A `|1|salt|hash` name as `ssh-keygen -H` writes it: HMAC-SHA1 of the name keyed by a random 20-byte salt. */
function hashedName(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

const hostKey = ed25519Blob();
const otherKey = ed25519Blob();
const ecdsaKey = ecdsaBlob();

const sshKeygen = findExecutable('ssh-keygen');
const noSshKeygen = requires(sshKeygen ? false : 'ssh-keygen not found (Debian package openssh-client)');

function withTempDir<T>(body: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'haflow-known-hosts-'));
  try {
    return body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- parsing ----

test('comments, blank lines, indented comments and CRLF line ends are skipped; the comment field is ignored', () => {
  const text = [
    '# a comment',
    '',
    '   ',
    '   # an indented comment',
    `db1 ssh-ed25519 ${b64(hostKey)} root@db1\r`,
    `db2 ssh-ed25519 ${b64(otherKey)}`,
    'too-short ssh-ed25519',
    '',
  ].join('\n');
  const entries = parseKnownHosts(text);
  assert.deepEqual(
    entries.map((e) => ({ patterns: e.patterns, keyType: e.keyType, key: e.key, marker: e.marker })),
    [
      { patterns: ['db1'], keyType: 'ssh-ed25519', key: b64(hostKey), marker: undefined },
      { patterns: ['db2'], keyType: 'ssh-ed25519', key: b64(otherKey), marker: undefined },
    ],
  );
});

test('an empty file has no entries, so every host is unknown', () => {
  assert.deepEqual(parseKnownHosts(''), []);
  assert.equal(checkHostKey(parseKnownHosts('# nothing\n\n'), 'db1', 22, hostKey).ok, false);
});

test('comma-separated names are one entry whose key is valid for each name', () => {
  const entries = parseKnownHosts(`db1,10.0.0.11 ssh-ed25519 ${b64(hostKey)}\n`);
  assert.equal(entries.length, 1);
  assert.deepEqual(entries[0].patterns, ['db1', '10.0.0.11']);
  assert.deepEqual(checkHostKey(entries, 'db1', 22, hostKey), { ok: true });
  assert.deepEqual(checkHostKey(entries, '10.0.0.11', 22, hostKey), { ok: true });
  assert.equal(checkHostKey(entries, '10.0.0.12', 22, hostKey).ok, false);
});

test('markers are read off the front of the line', () => {
  const entries = parseKnownHosts(
    [`@revoked db1 ssh-ed25519 ${b64(otherKey)}`, `@cert-authority *.lab ssh-ed25519 ${b64(hostKey)}`, `db1 ssh-ed25519 ${b64(hostKey)}`].join('\n'),
  );
  assert.deepEqual(
    entries.map((e) => [e.marker, e.patterns]),
    [
      ['@revoked', ['db1']],
      ['@cert-authority', ['*.lab']],
      [undefined, ['db1']],
    ],
  );
});

test('a hashed name is parsed into its salt and hash, with no readable patterns', () => {
  const salt = randomBytes(20);
  const hash = createHmac('sha1', salt).update('db1').digest();
  const [entry] = parseKnownHosts(`|1|${salt.toString('base64')}|${hash.toString('base64')} ssh-ed25519 ${b64(hostKey)}\n`);
  assert.deepEqual(entry.patterns, []);
  assert.ok(entry.hashed);
  assert.ok(entry.hashed.salt.equals(salt));
  assert.ok(entry.hashed.hash.equals(hash));
});

// ---- the name a host is looked up by ----

test('port 22 is looked up by the bare address, any other port as [address]:port', () => {
  assert.equal(knownHostsName('10.0.0.11', 22), '10.0.0.11');
  assert.equal(knownHostsName('10.0.0.11', 2222), '[10.0.0.11]:2222');
  assert.equal(knownHostsName('db1', 2022), '[db1]:2022');
});

test('a bare-address entry covers port 22 only, not the same address on another port', () => {
  const entries = parseKnownHosts(`10.0.0.11 ssh-ed25519 ${b64(hostKey)}\n`);
  assert.deepEqual(checkHostKey(entries, '10.0.0.11', 22, hostKey), { ok: true });
  const other = checkHostKey(entries, '10.0.0.11', 2222, hostKey);
  assert.equal(other.ok, false);
  assert.equal(!other.ok && other.reason, 'unknown');
});

test('an [address]:port entry is accepted on that port (as ssh-keyscan -p and the lab write it)', () => {
  const entries = parseKnownHosts(`[10.0.0.11]:2222 ssh-ed25519 ${b64(hostKey)}\n`);
  assert.deepEqual(checkHostKey(entries, '10.0.0.11', 2222, hostKey), { ok: true });
});

test('an [address]:port entry covers neither port 22 nor another port', () => {
  const entries = parseKnownHosts(`[10.0.0.11]:2222 ssh-ed25519 ${b64(hostKey)}\n`);
  for (const port of [22, 2223]) {
    const verdict = checkHostKey(entries, '10.0.0.11', port, hostKey);
    assert.equal(!verdict.ok && verdict.reason, 'unknown', `port ${port}`);
  }
});

// ---- hashed names ----

test('a hashed entry (HMAC-SHA1 of the name under a random salt) matches that name and no other', () => {
  const entries = parseKnownHosts(`${hashedName('10.0.0.11')} ssh-ed25519 ${b64(hostKey)}\n`);
  assert.deepEqual(checkHostKey(entries, '10.0.0.11', 22, hostKey), { ok: true });
  assert.equal(checkHostKey(entries, '10.0.0.12', 22, hostKey).ok, false);
  assert.equal(checkHostKey(entries, '10.0.0.11', 2222, hostKey).ok, false);
});

test('a hashed [address]:port entry matches that address on that port', () => {
  const entries = parseKnownHosts(`${hashedName('[10.0.0.11]:2222')} ssh-ed25519 ${b64(hostKey)}\n`);
  assert.deepEqual(checkHostKey(entries, '10.0.0.11', 2222, hostKey), { ok: true });
  assert.equal(checkHostKey(entries, '10.0.0.11', 22, hostKey).ok, false);
});

test('a hashed entry with another key reports the host key as changed', () => {
  const entries = parseKnownHosts(`${hashedName('db1')} ssh-ed25519 ${b64(otherKey)}\n`);
  const verdict = checkHostKey(entries, 'db1', 22, hostKey);
  assert.deepEqual(verdict, { ok: false, reason: 'changed', presented: fingerprint(hostKey), expected: [`ssh-ed25519 ${fingerprint(otherKey)}`] });
});

test('names hashed by ssh-keygen -H are matched', { skip: noSshKeygen }, () => {
  withTempDir((dir) => {
    const file = join(dir, 'known_hosts');
    writeFileSync(file, `10.0.0.11 ssh-ed25519 ${b64(hostKey)}\n[10.0.0.12]:2222 ssh-ed25519 ${b64(otherKey)}\n`);
    const hashing = spawnSync(sshKeygen!, ['-H', '-f', file], { encoding: 'utf8' });
    assert.equal(hashing.status, 0, hashing.stderr);
    const text = readFileSync(file, 'utf8');
    assert.doesNotMatch(text, /10\.0\.0\./, 'ssh-keygen -H left a readable name');
    const entries = parseKnownHosts(text);
    assert.equal(entries.length, 2);
    assert.ok(entries.every((e) => e.hashed));
    assert.deepEqual(checkHostKey(entries, '10.0.0.11', 22, hostKey), { ok: true });
    assert.deepEqual(checkHostKey(entries, '10.0.0.12', 2222, otherKey), { ok: true });
    assert.equal(checkHostKey(entries, '10.0.0.12', 22, otherKey).ok, false);
  });
});

// ---- verdicts ----

test('the known key is ok', () => {
  const entries = parseKnownHosts(`db1 ssh-ed25519 ${b64(hostKey)}\n`);
  assert.deepEqual(checkHostKey(entries, 'db1', 22, hostKey), { ok: true });
});

test('a host with no entry is unknown, with its fingerprint and nothing expected', () => {
  const entries = parseKnownHosts(`db2 ssh-ed25519 ${b64(otherKey)}\n`);
  assert.deepEqual(checkHostKey(entries, 'db1', 22, hostKey), { ok: false, reason: 'unknown', presented: fingerprint(hostKey), expected: [] });
});

test('a host whose entries hold other keys has changed, and every expected key is listed by type and fingerprint', () => {
  const entries = parseKnownHosts(
    [`db1 ssh-ed25519 ${b64(otherKey)}`, `db1 ecdsa-sha2-nistp256 ${b64(ecdsaKey)}`, `db2 ssh-ed25519 ${b64(hostKey)}`].join('\n'),
  );
  assert.deepEqual(checkHostKey(entries, 'db1', 22, hostKey), {
    ok: false,
    reason: 'changed',
    presented: fingerprint(hostKey),
    expected: [`ssh-ed25519 ${fingerprint(otherKey)}`, `ecdsa-sha2-nistp256 ${fingerprint(ecdsaKey)}`],
  });
});

test('any one of several keys listed for a host is accepted', () => {
  const entries = parseKnownHosts([`db1 ssh-ed25519 ${b64(otherKey)}`, `db1 ecdsa-sha2-nistp256 ${b64(ecdsaKey)}`].join('\n'));
  assert.deepEqual(checkHostKey(entries, 'db1', 22, ecdsaKey), { ok: true });
  assert.deepEqual(checkHostKey(entries, 'db1', 22, otherKey), { ok: true });
});

test('a revoked key is refused even when it is also listed as the host key', () => {
  const entries = parseKnownHosts([`db1 ssh-ed25519 ${b64(hostKey)}`, `@revoked db1 ssh-ed25519 ${b64(hostKey)}`].join('\n'));
  assert.deepEqual(checkHostKey(entries, 'db1', 22, hostKey), { ok: false, reason: 'revoked', presented: fingerprint(hostKey), expected: [] });
});

test('revoking one key leaves the host\'s other keys accepted', () => {
  const entries = parseKnownHosts([`db1 ssh-ed25519 ${b64(hostKey)}`, `@revoked db1 ssh-ed25519 ${b64(otherKey)}`].join('\n'));
  assert.deepEqual(checkHostKey(entries, 'db1', 22, hostKey), { ok: true });
  const revoked = checkHostKey(entries, 'db1', 22, otherKey);
  assert.equal(!revoked.ok && revoked.reason, 'revoked');
});

test('a revoked line is not an expected key: a host with only a revoked entry is unknown for other keys', () => {
  const entries = parseKnownHosts(`@revoked db1 ssh-ed25519 ${b64(otherKey)}\n`);
  assert.deepEqual(checkHostKey(entries, 'db1', 22, hostKey), { ok: false, reason: 'unknown', presented: fingerprint(hostKey), expected: [] });
});

test('a @cert-authority key presented as a plain host key is not accepted, and is not listed as expected', () => {
  const entries = parseKnownHosts(`@cert-authority * ssh-ed25519 ${b64(hostKey)}\n`);
  assert.deepEqual(checkHostKey(entries, 'db1', 22, hostKey), { ok: false, reason: 'unknown', presented: fingerprint(hostKey), expected: [] });
});

// ---- patterns ----

test('a negated pattern excludes a name that the other patterns match', () => {
  const entries = parseKnownHosts(`*.lab,!db3.lab ssh-ed25519 ${b64(hostKey)}\n`);
  assert.deepEqual(checkHostKey(entries, 'db1.lab', 22, hostKey), { ok: true });
  const excluded = checkHostKey(entries, 'db3.lab', 22, hostKey);
  assert.equal(!excluded.ok && excluded.reason, 'unknown');
});

test('a negated pattern alone matches nothing', () => {
  const entries = parseKnownHosts(`!db3.lab ssh-ed25519 ${b64(hostKey)}\n`);
  assert.equal(checkHostKey(entries, 'db1.lab', 22, hostKey).ok, false);
  assert.equal(checkHostKey(entries, 'db3.lab', 22, hostKey).ok, false);
});

test('* matches any run of characters and ? exactly one', () => {
  const star = parseKnownHosts(`10.0.0.* ssh-ed25519 ${b64(hostKey)}\n`);
  for (const host of ['10.0.0.1', '10.0.0.123']) assert.deepEqual(checkHostKey(star, host, 22, hostKey), { ok: true }, host);
  assert.equal(checkHostKey(star, '10.0.1.1', 22, hostKey).ok, false);
  const one = parseKnownHosts(`10.0.0.? ssh-ed25519 ${b64(hostKey)}\n`);
  assert.deepEqual(checkHostKey(one, '10.0.0.5', 22, hostKey), { ok: true });
  assert.equal(checkHostKey(one, '10.0.0.15', 22, hostKey).ok, false);
  assert.equal(checkHostKey(one, '10.0.0.', 22, hostKey).ok, false);
});

test('a wildcard entry with another key makes a matching host changed', () => {
  const entries = parseKnownHosts(`*.lab ssh-ed25519 ${b64(otherKey)}\n`);
  const verdict = checkHostKey(entries, 'db1.lab', 22, hostKey);
  assert.equal(!verdict.ok && verdict.reason, 'changed');
});

test('dots and other regex characters in a pattern are literal', () => {
  const entries = parseKnownHosts(`10.0.0.1,db+1,db(2) ssh-ed25519 ${b64(hostKey)}\n`);
  for (const host of ['10a0b0c1', 'dbb1', 'db2']) assert.equal(checkHostKey(entries, host, 22, hostKey).ok, false, host);
  for (const host of ['10.0.0.1', 'db+1', 'db(2)']) assert.deepEqual(checkHostKey(entries, host, 22, hostKey), { ok: true }, host);
});

test('a pattern must match the whole name, not a part of it', () => {
  const entries = parseKnownHosts(`db1 ssh-ed25519 ${b64(hostKey)}\n`);
  for (const host of ['db10', 'xdb1', 'db1.lab']) assert.equal(checkHostKey(entries, host, 22, hostKey).ok, false, host);
});

// ---- fingerprints, against ssh-keygen ----

test('fingerprint() is SHA256 of the key blob, base64 without padding', () => {
  assert.match(fingerprint(hostKey), /^SHA256:[A-Za-z0-9+/]{43}$/);
  assert.notEqual(fingerprint(hostKey), fingerprint(otherKey));
});

test('fingerprint() equals what ssh-keygen -lf prints for ed25519 and ecdsa keys', { skip: noSshKeygen }, () => {
  withTempDir((dir) => {
    for (const type of ['ed25519', 'ecdsa']) {
      const keyFile = join(dir, `k_${type}`);
      const gen = spawnSync(sshKeygen!, ['-q', '-t', type, '-N', '', '-f', keyFile], { encoding: 'utf8' });
      assert.equal(gen.status, 0, gen.stderr);
      const listed = spawnSync(sshKeygen!, ['-lf', `${keyFile}.pub`], { encoding: 'utf8' });
      assert.equal(listed.status, 0, listed.stderr);
      const printed = listed.stdout.trim().split(/\s+/)[1];
      const blob = Buffer.from(readFileSync(`${keyFile}.pub`, 'utf8').trim().split(/\s+/)[1], 'base64');
      assert.equal(fingerprint(blob), printed, type);
    }
  });
});

test('fingerprint() equals ssh-keygen -lf for the in-process keys these tests use', { skip: noSshKeygen }, () => {
  withTempDir((dir) => {
    for (const [type, blob] of [['ssh-ed25519', hostKey], ['ecdsa-sha2-nistp256', ecdsaKey]] as const) {
      const file = join(dir, 'key.pub');
      writeFileSync(file, `${type} ${b64(blob)}\n`);
      const listed = spawnSync(sshKeygen!, ['-lf', file], { encoding: 'utf8' });
      assert.equal(listed.status, 0, listed.stderr);
      assert.equal(fingerprint(blob), listed.stdout.trim().split(/\s+/)[1], type);
    }
  });
});

// ---- lookups, against ssh-keygen -F ----

test('the entries ssh-keygen -F finds for a host are the ones checkHostKey accepts', { skip: noSshKeygen }, () => {
  withTempDir((dir) => {
    const file = join(dir, 'known_hosts');
    const lines = [
      `10.0.0.11 ssh-ed25519 ${b64(hostKey)}`,
      `[10.0.0.12]:2222 ssh-ed25519 ${b64(hostKey)}`,
      `${hashedName('[10.0.0.13]:2022')} ssh-ed25519 ${b64(hostKey)}`,
      `*.lab,!db3.lab ssh-ed25519 ${b64(hostKey)}`,
    ];
    writeFileSync(file, lines.join('\n') + '\n');
    const entries = parseKnownHosts(readFileSync(file, 'utf8'));
    const cases: [string, number][] = [
      ['10.0.0.11', 22],
      ['10.0.0.11', 2222],
      ['10.0.0.12', 2222],
      ['10.0.0.12', 22],
      ['10.0.0.13', 2022],
      ['10.0.0.13', 22],
      ['db1.lab', 22],
      ['db3.lab', 22],
    ];
    for (const [host, port] of cases) {
      const found = spawnSync(sshKeygen!, ['-F', knownHostsName(host, port), '-f', file], { encoding: 'utf8' });
      const opensshFinds = found.status === 0 && found.stdout.includes(b64(hostKey));
      assert.equal(checkHostKey(entries, host, port, hostKey).ok, opensshFinds, `${knownHostsName(host, port)}: ssh-keygen -F ${opensshFinds ? 'finds' : 'does not find'} it`);
    }
  });
});
