// Offline bundles without a network or a host: the manifest's checks, the worker's check of a
// bundle directory (damaged, incomplete, for another release), and what is read from apt.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundlePackagesFor } from '../../activities/components';
import { BundleError, packagesAptWouldUnpack, parseManifest, sumsFileText, verifyBundle, type BundleManifest } from '../../activities/packages/bundle';
import { packagesAptCannotFind, thisMachineOs } from '../../client/bundle';
import { parseTopology } from '../../topology';
import { topologies } from '../support/topologies';

const work = mkdtempSync(join(tmpdir(), 'haflow-bundle-unit-'));
after(() => rmSync(work, { recursive: true, force: true }));

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/** A bundle directory with one small file per package of the topology (the content does not matter here). */
function fakeBundle(name: string, packages: string[], change: (m: BundleManifest) => void = () => {}): { dir: string; manifest: BundleManifest } {
  const dir = join(work, name);
  mkdirSync(dir);
  const files = packages.map((p) => {
    const content = `package ${p}\n`;
    const file = `${p}_1.0-1_amd64.deb`;
    writeFileSync(join(dir, file), content);
    return { name: file, package: p, version: '1.0-1', architecture: 'amd64', size: content.length, sha256: sha(content) };
  });
  writeFileSync(join(dir, 'Packages'), 'index\n');
  const manifest: BundleManifest = {
    format: 1,
    cluster: 'test',
    created: new Date().toISOString(),
    os: 'debian 12',
    architecture: 'amd64',
    packages: Object.fromEntries(packages.map((p) => [p, '1.0-1'])),
    files,
    index: { name: 'Packages', size: 6, sha256: sha('index\n') },
  };
  change(manifest);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return { dir, manifest };
}

const pg15 = topologies(15);
const debian = pg15.standalone({ supported_os: ['debian 12'] });

describe('verifyBundle (on the worker, before any host changes)', () => {
  test('a whole bundle with every package of the topology passes, named by its manifest checksum', async () => {
    const { dir } = fakeBundle('whole', bundlePackagesFor(debian));
    const bundle = await verifyBundle(dir, debian, bundlePackagesFor(debian));
    assert.match(bundle.id, /^[0-9a-f]{16}$/);
    assert.equal(bundle.manifest.files.length, bundlePackagesFor(debian).length);
  });

  test('a damaged or missing file is named, with the way to find and fix it', async () => {
    const { dir, manifest } = fakeBundle('damaged', bundlePackagesFor(debian));
    writeFileSync(join(dir, manifest.files[0].name), `${'x'.repeat(manifest.files[0].size - 1)}\n`); // same size, other bytes
    rmSync(join(dir, manifest.files[1].name));
    await assert.rejects(verifyBundle(dir, debian, bundlePackagesFor(debian)), (err: BundleError) => {
      assert.match(err.message, new RegExp(`is damaged: ${manifest.files[0].name} does not match its checksum; ${manifest.files[1].name} is missing`));
      assert.match(err.remedy, /sha256sum -c SHA256SUMS/);
      return true;
    });
  });

  test('a bundle without a package the topology needs, or for an OS it does not accept, does not fit', async () => {
    const { dir } = fakeBundle('partial', ['haproxy', 'socat'], (m) => (m.os = 'ubuntu 24.04'));
    await assert.rejects(verifyBundle(dir, debian, bundlePackagesFor(debian)), (err: BundleError) => {
      assert.match(err.message, /does not fit the topology: it lacks etcd-client, etcd-server, patroni, postgresql-15, python3-etcd, python3-idna, python3-psycopg2, which the topology's roles need; it is for ubuntu 24\.04, which is not in supported_os \(debian 12\)/);
      return true;
    });
  });

  test('no manifest: names the path and how to build one', async () => {
    await assert.rejects(verifyBundle(join(work, 'nowhere'), debian, []), (err: BundleError) => {
      assert.match(err.message, /packages\.bundle: .*nowhere\/manifest\.json does not exist on the worker's machine/);
      assert.match(err.remedy, /haflow bundle <topology>/);
      return true;
    });
  });

  test("a bundle holds every role's packages, each once", () => {
    assert.deepEqual(bundlePackagesFor(pg15.generic()), ['etcd-client', 'etcd-server', 'haproxy', 'patroni', 'postgresql-15', 'python3-etcd', 'python3-idna', 'python3-psycopg2', 'socat']);
  });
});

describe('parseManifest', () => {
  const good = fakeBundle('for-parse', ['haproxy']).manifest;

  test('every wrong field is named with what would be valid', () => {
    const bad = { ...good, format: 2, os: 'Debian', files: [{ ...good.files[0], name: '../../etc/passwd', sha256: 'abc' }] };
    assert.throws(
      () => parseManifest(JSON.stringify(bad), 'b/manifest.json'),
      (err: BundleError) => {
        assert.match(err.message, /^b\/manifest\.json: format: must be 1 \(this haflow reads bundle format 1; rebuild the bundle with it\)/);
        assert.match(err.message, /os: must be "<id> <version>" such as "debian 12"/);
        assert.match(err.message, /files\.0\.name: must be a \.deb file name/);
        assert.match(err.message, /files\.0\.sha256: must be a SHA-256 checksum/);
        return true;
      },
    );
  });

  test('not JSON at all', () => {
    assert.throws(() => parseManifest('{"format": 1,', 'm.json'), /^BundleError: m\.json: not JSON/);
  });

  test('SHA256SUMS lists every file, index last, in sha256sum -c format', () => {
    assert.equal(sumsFileText(good), `${good.files[0].sha256}  haproxy_1.0-1_amd64.deb\n${good.index.sha256}  Packages\n`);
  });
});

describe("what haflow reads from apt's output", () => {
  test('a simulated install: the packages it would unpack, upgrades and multi-arch names included', () => {
    const simulation = [
      'NOTE: This is only a simulation!',
      'Inst libpq5 (15.20-0+deb12u1 bundle [amd64])',
      'Inst postgresql-client-common [248] (248+deb12u1 bundle [all])',
      'Inst libllvm14:amd64 (1:14.0.6-12 bundle [amd64])',
      'Conf libpq5 (15.20-0+deb12u1 bundle [amd64])',
    ].join('\n');
    assert.deepEqual(packagesAptWouldUnpack(simulation), [
      { name: 'libpq5', version: '15.20-0+deb12u1' },
      { name: 'postgresql-client-common', version: '248+deb12u1' },
      { name: 'libllvm14', version: '1:14.0.6-12' },
    ]);
  });

  test('packages the sources do not have, in both of apt-get\'s words', () => {
    const out = "E: Unable to locate package postgresql-16\nE: Package 'patroni' has no installation candidate\n";
    assert.deepEqual(packagesAptCannotFind(out), ['postgresql-16', 'patroni']);
  });

  test("this machine's release as /etc/os-release says it", () => {
    assert.equal(thisMachineOs('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'), 'debian 12');
    assert.equal(thisMachineOs('ID=ubuntu\nVERSION_ID="24.04"\nID_LIKE=debian\n'), 'ubuntu 24.04');
  });
});

describe('packages.bundle in a topology file', () => {
  const base = readFileSync(join(__dirname, '../../lab/topologies/generic.yaml'), 'utf8');
  const line = base.split('\n').length + 1; // of `bundle:` below

  test('an absolute path is taken', () => {
    const { topology } = parseTopology(`${base}packages:\n  bundle: /srv/bundles/pg\n`, 't.yaml');
    assert.deepEqual(topology.packages, { bundle: '/srv/bundles/pg' });
  });

  test('a relative path or an unknown key is an error at its line', () => {
    assert.throws(() => parseTopology(`${base}packages:\n  bundle: bundles/pg\n`, 't.yaml'), new RegExp(`t\\.yaml:${line}:\\d+: packages\\.bundle: must be an absolute path or one starting with ~/`));
    assert.throws(() => parseTopology(`${base}packages:\n  mirror: http://x\n`, 't.yaml'), new RegExp(`t\\.yaml:${line}:\\d+: packages\\.mirror: `));
  });
});
