// The sshd_config of a lab machine, read back by keyword and, where OpenSSH's sshd is
// installed, checked by `sshd -t` (test mode only: nothing listens, no sshd is started).
// lab/disk.ts builds images with root commands, so loading it must do nothing by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { findExecutable } from '../support/topologies';
import { requires } from '../support/requires';

// ---- loading lab/disk.ts, watched ----

/** Calls into fs and child_process that would change the box or start something. */
const effects: string[] = [];
const repoRoot = resolve(__dirname, '..', '..');

function watch(moduleName: string, names: string[]): () => void {
  const mod = require(moduleName) as Record<string, unknown>;
  const originals = new Map<string, unknown>();
  for (const name of names) {
    const original = mod[name];
    if (typeof original !== 'function') continue;
    originals.set(name, original);
    mod[name] = function (this: unknown, ...args: unknown[]) {
      // Only calls made by the project's own code count (tsx may write its cache meanwhile).
      const frames = (new Error().stack ?? '').split('\n').slice(2);
      const fromProject = frames.some((f) => f.includes(repoRoot + '/') && !f.includes('/node_modules/') && !f.includes(__filename));
      if (fromProject) effects.push(`${moduleName}.${name}(${args.map((a) => JSON.stringify(a) ?? String(a)).join(', ').slice(0, 200)})`);
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    };
  }
  return () => {
    for (const [name, original] of originals) mod[name] = original;
  };
}

const fsWrites = [
  'writeFileSync', 'writeFile', 'appendFileSync', 'appendFile', 'mkdirSync', 'mkdir', 'mkdtempSync', 'mkdtemp',
  'rmSync', 'rm', 'rmdirSync', 'rmdir', 'unlinkSync', 'unlink', 'copyFileSync', 'copyFile', 'cpSync', 'cp',
  'renameSync', 'rename', 'symlinkSync', 'symlink', 'linkSync', 'link', 'chmodSync', 'chmod', 'chownSync', 'chown',
  'openSync', 'open', 'createWriteStream', 'truncateSync', 'truncate',
];
const processStarts = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'];

const labRootExisted = existsSync('/var/lib/haflow-lab');
const unwatch = [watch('node:fs', fsWrites), watch('node:child_process', processStarts)];
let disk: typeof import('../../lab/disk');
let labRootAfterLoad: boolean;
try {
  disk = require('../../lab/disk') as typeof import('../../lab/disk');
} finally {
  for (const restore of unwatch) restore();
  // Read at once: the machines' tests, running beside these, may create the lab root later.
  labRootAfterLoad = existsSync('/var/lib/haflow-lab');
}

test('loading lab/disk.ts writes no file and starts no process', () => {
  assert.deepEqual(effects, []);
  assert.equal(labRootAfterLoad, labRootExisted, 'loading lab/disk.ts created or removed the lab root');
  assert.equal(typeof disk.sshdConfig, 'function');
});

// ---- reading sshd_config back ----

/** Keyword (lower case, as sshd compares them) -> the values of each line with that keyword. */
function readConfig(text: string): Map<string, string[]> {
  const config = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const match = /^(\S+)\s+(.*)$/.exec(line);
    assert.ok(match, `not a "Keyword value" line: ${line}`);
    const keyword = match[1].toLowerCase();
    config.set(keyword, [...(config.get(keyword) ?? []), match[2]]);
  }
  return config;
}

/** The one value of a keyword that may appear once (sshd would silently ignore a second). */
function single(config: Map<string, string[]>, keyword: string): string | undefined {
  const values = config.get(keyword.toLowerCase());
  if (values === undefined) return undefined;
  assert.equal(values.length, 1, `${keyword} appears ${values.length} times: sshd uses the first only`);
  return values[0];
}

test('sshd listens on the machine\'s own address and SSH port only', () => {
  const config = readConfig(disk.sshdConfig('127.0.10.1', 2222));
  assert.deepEqual(config.get('listenaddress'), ['127.0.10.1:2222']);
  assert.equal(config.get('port'), undefined, 'a Port line would add a listener on every address');
  assert.deepEqual(readConfig(disk.sshdConfig('127.0.10.2', 22)).get('listenaddress'), ['127.0.10.2:22']);
});

test('root logs in with a key only', () => {
  const config = readConfig(disk.sshdConfig('127.0.10.1', 2222));
  assert.equal(single(config, 'PermitRootLogin'), 'prohibit-password');
  assert.equal(single(config, 'PubkeyAuthentication'), 'yes');
});

test('no password or keyboard-interactive login for anyone', () => {
  const config = readConfig(disk.sshdConfig('127.0.10.1', 2222));
  assert.equal(single(config, 'PasswordAuthentication'), 'no');
  assert.equal(single(config, 'KbdInteractiveAuthentication'), 'no');
  assert.notEqual(single(config, 'ChallengeResponseAuthentication'), 'yes');
  assert.notEqual(single(config, 'PermitEmptyPasswords'), 'yes');
});

test('authorized keys are read from /etc/ssh/authorized_keys/<user> only, not from home directories', () => {
  const config = readConfig(disk.sshdConfig('127.0.10.1', 2222));
  assert.equal(single(config, 'AuthorizedKeysFile'), '/etc/ssh/authorized_keys/%u');
});

test('the host keys are the ed25519 and ecdsa keys createMachineDisk generates', () => {
  const config = readConfig(disk.sshdConfig('127.0.10.1', 2222));
  assert.deepEqual(config.get('hostkey'), ['/etc/ssh/ssh_host_ed25519_key', '/etc/ssh/ssh_host_ecdsa_key']);
});

test('no keyword that sshd takes once appears twice', () => {
  const repeatable = new Set(['hostkey', 'listenaddress', 'acceptenv', 'subsystem']);
  for (const [keyword, values] of readConfig(disk.sshdConfig('127.0.10.1', 2222))) {
    if (!repeatable.has(keyword)) assert.equal(values.length, 1, `${keyword} appears ${values.length} times`);
  }
});

test('the file ends with a newline', () => {
  assert.ok(disk.sshdConfig('127.0.10.1', 2222).endsWith('\n'));
});

// ---- sshd -t ----

const sshd = existsSync('/usr/sbin/sshd') ? '/usr/sbin/sshd' : undefined;
const sshKeygen = findExecutable('ssh-keygen');
const sshdSkip = requires(
  !sshd ? '/usr/sbin/sshd not found (openssh-server): sshd -t cannot check the config' : !sshKeygen ? 'ssh-keygen not found (openssh-client): no host keys for sshd -t' : false,
);

/** An unprivileged uid for sshd -t when running as root (root's sshd -t insists on /run/sshd, which this box may not have). */
const NOBODY = 65534;

/**
 * Runs `sshd -t` on the config with its HostKey paths moved into a temp dir holding freshly
 * generated keys. Test mode parses the file and loads the keys; nothing listens.
 */
function sshdTest(configText: string): { status: number | null; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'haflow-sshd-t-'));
  try {
    for (const type of ['ed25519', 'ecdsa']) {
      const gen = spawnSync(sshKeygen!, ['-q', '-t', type, '-N', '', '-f', join(dir, `ssh_host_${type}_key`)], { encoding: 'utf8' });
      assert.equal(gen.status, 0, gen.stderr);
    }
    const moved = configText.replace(/^HostKey \/etc\/ssh\//gm, `HostKey ${dir}/`);
    assert.notEqual(moved, configText, 'no HostKey line was moved into the temp dir');
    const file = join(dir, 'sshd_config');
    writeFileSync(file, moved);
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      // sshd refuses host keys not owned by the user it runs as.
      chmodSync(dir, 0o755);
      for (const entry of ['.', ...readdirSync(dir)]) chownSync(join(dir, entry), NOBODY, NOBODY);
    }
    const result = spawnSync(sshd!, ['-t', '-f', file], {
      encoding: 'utf8',
      timeout: 10_000,
      ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
    });
    return { status: result.status, stderr: `${result.stderr}${result.error ? String(result.error) : ''}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('sshd -t accepts the config (host keys generated in a temp dir)', { skip: sshdSkip }, () => {
  for (const [address, port] of [['127.0.10.1', 2222], ['127.0.10.2', 22]] as const) {
    const result = sshdTest(disk.sshdConfig(address, port));
    assert.equal(result.status, 0, `sshd -t rejected the config for ${address}:${port}: ${result.stderr}`);
  }
});

test('sshd -t, run the same way, rejects a broken config (so the acceptance above means something)', { skip: sshdSkip }, () => {
  const result = sshdTest(disk.sshdConfig('127.0.10.1', 2222) + 'NoSuchOption yes\n');
  assert.notEqual(result.status, 0);
  assert.match(result.stderr, /NoSuchOption/);
});

// ---- the OS a machine runs ----

test('a machine runs the OS its topology names, else the box\'s; one the lab cannot build is refused by host and OS', () => {
  const topology = { os: undefined, hosts: [] } as unknown as Parameters<typeof disk.machineOs>[0];
  assert.equal(disk.machineOs(topology, { name: 'node1', os: undefined } as never), 'debian 12');
  assert.equal(disk.machineOs({ ...topology, os: 'debian 13' }, { name: 'node1' } as never), 'debian 13');
  assert.equal(disk.machineOs({ ...topology, os: 'debian 13' }, { name: 'node1', os: 'debian 12' } as never), 'debian 12');
  assert.throws(() => disk.machineOs(topology, { name: 'node3', os: 'ubuntu 24.04' } as never), /host node3 runs ubuntu 24\.04, which the lab cannot build: its machines run debian 12 or debian 13/);
});

test("the box's OS boots from the box's image; another from its own root file system", () => {
  assert.deepEqual(disk.imageOf('debian 12'), { path: '/var/lib/haflow-lab/image', rootfs: false });
  assert.deepEqual(disk.imageOf('debian 13'), { path: '/var/lib/haflow-lab/images/debian-13', rootfs: true });
});
