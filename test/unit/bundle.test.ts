// Offline bundles without a network or a host: the manifest's checks, the worker's check of a
// bundle directory (damaged, incomplete, for another release), what is read from apt, and the
// release a bundle is built for with the package sources it is read from.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundlePackagesFor } from '../../activities/components';
import { BundleError, bundleGaps, packagesAptWouldUnpack, parseManifest, sumsFileText, verifyBundle, type BundleManifest } from '../../activities/packages/bundle';
import { BundleBuildError, bundleRelease, debianSourcesFor, packageSourcesFor, packagesAptCannotFind, parseAptSources, thisMachineOs } from '../../client/bundle';
import { loadTopology, parseTopology } from '../../topology';
import { requires } from '../support/requires';
import { findExecutable, topologies } from '../support/topologies';

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

describe('the release a bundle is built for', () => {
  const pg17 = topologies(17);
  const debian13 = pg17.generic({ supported_os: ['debian 13', 'debian 12'], os: 'debian 13' });

  test('the OS the topology names; none named: this machine\'s', () => {
    assert.deepEqual(bundleRelease(debian13, 'debian 12'), { os: 'debian 13', named: true });
    assert.deepEqual(bundleRelease(pg15.generic(), 'debian 12'), { os: 'debian 12', named: false });
    const { topology } = loadTopology(join(__dirname, '../../lab/topologies/generic-debian13.yaml'));
    assert.deepEqual(bundleRelease(topology, 'debian 12'), { os: 'debian 13', named: true });
  });

  test('hosts that get no packages (application hosts) do not count; hosts naming several releases are refused, by name', () => {
    const appOnUbuntu = pg17.distributed({ os: 'debian 13', supported_os: ['debian 13', 'ubuntu 24.04'] });
    appOnUbuntu.hosts[1].os = 'ubuntu 24.04';
    assert.deepEqual(bundleRelease(appOnUbuntu, 'debian 12'), { os: 'debian 13', named: true });
    const mixed = pg17.generic({ os: 'debian 13', supported_os: ['debian 13', 'debian 12'] });
    mixed.hosts[3].os = 'debian 12';
    assert.throws(
      () => bundleRelease(mixed, 'debian 12'),
      (err: Error) => {
        assert.ok(err instanceof BundleBuildError);
        assert.match(err.message, /several releases \(node-1, node-2, node-3: debian 13; node-5: debian 12\), and a bundle holds one release's packages/);
        return true;
      },
    );
  });

  test('a Debian 13 bundle with postgresql-17 fits a topology of PostgreSQL 17 on Debian 13; a Debian 12 bundle does not', () => {
    const wanted = bundlePackagesFor(debian13);
    assert.ok(wanted.includes('postgresql-17'));
    const manifest = (os: string, packages: string[]) => ({ ...fakeBundle(`fits-${os.replace(' ', '')}-${packages.length}`, packages).manifest, os });
    assert.deepEqual(bundleGaps(manifest('debian 13', wanted), debian13, wanted), []);
    assert.deepEqual(bundleGaps(manifest('debian 12', bundlePackagesFor(pg15.generic())), debian13, wanted), [
      "it lacks postgresql-17, which the topology's roles need",
      'it is for debian 12, but the topology says node-1, node-2, node-3, node-5 run debian 13',
    ]);
  });
});

describe("this machine's Debian sources for another Debian release", () => {
  // This machine's own file (bookworm), as Debian's installer and images write it.
  const deb822 = [
    'Types: deb',
    '# http://snapshot.debian.org/archive/debian/20250520T000000Z',
    'URIs: http://deb.debian.org/debian',
    'Suites: bookworm bookworm-updates',
    'Components: main',
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    '',
    'Types: deb',
    'URIs: http://deb.debian.org/debian-security',
    'Suites: bookworm-security',
    'Components: main',
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    '',
  ].join('\n');
  const trixie = [
    '# from /etc/apt/sources.list.d/debian.sources',
    'Types: deb',
    'URIs: http://deb.debian.org/debian',
    'Suites: trixie trixie-updates',
    'Components: main',
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    '',
    '# from /etc/apt/sources.list.d/debian.sources',
    'Types: deb',
    'URIs: http://deb.debian.org/debian-security',
    'Suites: trixie-security',
    'Components: main',
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    '',
  ].join('\n');

  test('deb822: the same URIs, components and keyring, each suite renamed', () => {
    const { text, sources } = debianSourcesFor([{ path: '/etc/apt/sources.list.d/debian.sources', text: deb822 }], 'bookworm', 'trixie');
    assert.equal(text, trixie);
    assert.deepEqual(sources.map((s) => s.suites), [['trixie', 'trixie-updates'], ['trixie-security']]);
  });

  test('one-line entries: options, comments and deb-src read as apt reads them', () => {
    const list = [
      '# deb http://deb.debian.org/debian bookworm main',
      'deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example.net/debian bookworm main contrib non-free-firmware',
      'deb-src http://mirror.example.net/debian bookworm main',
      'deb http://security.debian.org/debian-security bookworm-security main   # security updates',
      '',
    ].join('\n');
    assert.deepEqual(parseAptSources(list, 'sources.list'), [
      { file: 'sources.list', types: ['deb'], uris: ['http://mirror.example.net/debian'], suites: ['bookworm'], components: ['main', 'contrib', 'non-free-firmware'], signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg' },
      { file: 'sources.list', types: ['deb-src'], uris: ['http://mirror.example.net/debian'], suites: ['bookworm'], components: ['main'], signedBy: undefined },
      { file: 'sources.list', types: ['deb'], uris: ['http://security.debian.org/debian-security'], suites: ['bookworm-security'], components: ['main'], signedBy: undefined },
    ]);
    assert.equal(
      debianSourcesFor([{ path: '/etc/apt/sources.list', text: list }], 'bookworm', 'trixie').text,
      [
        '# from /etc/apt/sources.list',
        'Types: deb',
        'URIs: http://mirror.example.net/debian',
        'Suites: trixie',
        'Components: main contrib non-free-firmware',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
        '# from /etc/apt/sources.list',
        'Types: deb',
        'URIs: http://security.debian.org/debian-security',
        'Suites: trixie-security',
        'Components: main',
        '',
      ].join('\n'),
    );
  });

  test('an inline Signed-By key keeps its lines; a disabled stanza is left out', () => {
    const inline = 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBGPL\n -----END PGP PUBLIC KEY BLOCK-----\n\nEnabled: no\nTypes: deb\nURIs: http://old.example.net/debian\nSuites: bookworm\nComponents: main\n';
    const { text } = debianSourcesFor([{ path: 'k.sources', text: inline }], 'bookworm', 'trixie');
    assert.match(text, /\nSuites: trixie\n/);
    assert.match(text, /\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n \.\n mQINBGPL\n -----END PGP PUBLIC KEY BLOCK-----\n$/);
    assert.doesNotMatch(text, /old\.example\.net/);
  });

  test("other repositories' and other releases' entries are left out", () => {
    const others = [
      { path: '/etc/apt/sources.list.d/pgdg.list', text: 'deb [signed-by=/usr/share/keyrings/pgdg.gpg] http://apt.postgresql.org/pub/repos/apt bookworm-pgdg main\n' },
      { path: '/etc/apt/sources.list.d/nodesource.sources', text: 'Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\nComponents: main\n' },
      { path: '/etc/apt/sources.list.d/docker.list', text: 'deb https://download.docker.com/linux/debian bookworm stable\n' },
      { path: '/etc/apt/sources.list.d/ubuntu.list', text: 'deb http://archive.ubuntu.com/ubuntu jammy main universe\n' },
      { path: '/etc/apt/sources.list.d/bullseye.list', text: 'deb http://deb.debian.org/debian bullseye main\n' },
    ];
    const { sources } = debianSourcesFor([...others, { path: '/etc/apt/sources.list.d/debian.sources', text: deb822 }], 'bookworm', 'trixie');
    assert.deepEqual(sources.map((s) => `${s.uris.join()} ${s.suites.join()}`), ['http://deb.debian.org/debian trixie,trixie-updates', 'http://deb.debian.org/debian-security trixie-security']);
  });

  test('no Debian entry: names the files read and what to add', () => {
    const files = [
      { path: '/etc/apt/sources.list', text: '# nothing here\n' },
      { path: '/etc/apt/sources.list.d/pgdg.list', text: 'deb http://apt.postgresql.org/pub/repos/apt bookworm-pgdg main\n' },
      { path: '/etc/apt/sources.list.d/stable.sources', text: 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: stable\nComponents: main\n' },
    ];
    assert.throws(
      () => debianSourcesFor(files, 'bookworm', 'trixie'),
      (err: Error) => {
        assert.ok(err instanceof BundleBuildError);
        assert.match(err.message, /found no entry of Debian's archive for bookworm in this machine's package sources \(read: \/etc\/apt\/sources\.list, \/etc\/apt\/sources\.list\.d\/pgdg\.list, \/etc\/apt\/sources\.list\.d\/stable\.sources\)/);
        assert.match(err.message, /add one, such as `deb http:\/\/deb\.debian\.org\/debian bookworm main` in \/etc\/apt\/sources\.list \(a suite by its codename: bookworm, bookworm-updates, bookworm-security\)/);
        return true;
      },
    );
    assert.throws(() => debianSourcesFor([], 'bookworm', 'trixie'), /\(read: none found\)/);
  });

  test('which sources apt reads: its own for its own release, renamed ones for another Debian release, and nothing else', () => {
    const files = [{ path: '/etc/apt/sources.list.d/debian.sources', text: deb822 }];
    assert.equal(packageSourcesFor('debian 12', 'debian 12', files).debianSources, undefined);
    const other = packageSourcesFor('debian 13', 'debian 12', files);
    assert.equal(other.debianSources, trixie);
    assert.equal(other.description, "debian 13's packages (trixie, trixie-updates, trixie-security) from http://deb.debian.org/debian, http://deb.debian.org/debian-security (this machine's Debian mirrors, suites renamed)");
    assert.equal(
      packageSourcesFor('debian 12', 'debian 12', files).lacking(['postgresql-16']),
      "this machine's package sources have no postgresql-16 (debian 12); add the source that has them (for another PostgreSQL version: the PGDG repository) or change the topology",
    );
    assert.match(other.lacking(['postgresql-16']), /^debian 13's archive \(http:\/\/deb\.debian\.org\/debian, http:\/\/deb\.debian\.org\/debian-security\) has no postgresql-16; only Debian's archive is read for another release than this machine's: change the topology, or build the bundle on a machine of debian 13/);
    assert.match(packageSourcesFor('debian 12', 'debian 13', files.map((f) => ({ ...f, text: f.text.replaceAll('bookworm', 'trixie') }))).debianSources!, /Suites: bookworm bookworm-updates\n/);
    for (const [release, machine] of [['ubuntu 24.04', 'debian 12'], ['rhel 9.6', 'debian 12'], ['debian 13', 'ubuntu 24.04']]) {
      assert.throws(() => packageSourcesFor(release, machine, files), new RegExp(`hosts run ${release} and this machine ${machine}: .*built only from Debian for Debian.*build it on a machine of ${release}`), `${release} on ${machine}`);
    }
    assert.throws(() => packageSourcesFor('debian 14', 'debian 12', files), /the topology's hosts run debian 14, which is not a Debian release whose suites haflow knows; it knows debian 12 \(bookworm\), debian 13 \(trixie\)/);
  });

  const aptGet = findExecutable('apt-get');
  test('apt reads the written file as the only source list', { skip: requires(aptGet ? false : 'apt-get is not installed (Debian package apt)') }, () => {
    const dir = join(work, 'apt-reads');
    mkdirSync(join(dir, 'lists', 'partial'), { recursive: true });
    mkdirSync(join(dir, 'no-source-parts'));
    writeFileSync(join(dir, 'release.sources'), trixie);
    // --print-uris: what apt would fetch, without a network.
    const printed = spawnSync(
      aptGet!,
      ['-o', `Dir::Etc::SourceList=${join(dir, 'release.sources')}`, '-o', `Dir::Etc::SourceParts=${join(dir, 'no-source-parts')}`, '-o', `Dir::State::Lists=${join(dir, 'lists')}`, '-o', 'Debug::NoLocking=1', '--print-uris', 'update'],
      { encoding: 'utf8' },
    );
    assert.equal(printed.status, 0, printed.stderr);
    const releases = [...printed.stdout.matchAll(/^'([^']+\/InRelease)'/gm)].map((m) => m[1]);
    assert.deepEqual(releases, ['http://deb.debian.org/debian/dists/trixie/InRelease', 'http://deb.debian.org/debian/dists/trixie-updates/InRelease', 'http://deb.debian.org/debian-security/dists/trixie-security/InRelease']);
  });
});
