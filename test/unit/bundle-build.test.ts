// A real offline bundle for Debian 13, built on this machine (Debian 12 in the lab's box) from its
// own Debian mirror with the suites renamed, then read as the install reads it. It downloads the
// packages (about 100 MB), so it runs only where that mirror answers, and says why when it skips.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundlePackagesFor } from '../../activities/components';
import { INDEX_FILE, MANIFEST_FILE, parseManifest, SUMS_FILE, sumsFileText, verifyBundle } from '../../activities/packages/bundle';
import { aptSourceFiles, buildBundle, debianCodename, debianSourcesFor, thisMachineOs } from '../../client/bundle';
import { loadTopology } from '../../topology';
import { requires } from '../support/requires';
import { findExecutable } from '../support/topologies';

const TOPOLOGY = join(__dirname, '../../lab/topologies/generic-debian13.yaml');
const work = mkdtempSync(join(tmpdir(), 'haflow-bundle-build-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Whether a URL answers within 10 seconds, asked from a child process so the skip is known when the test is declared. */
function answers(url: string): boolean {
  const probe = `fetch(${JSON.stringify(url)}, { method: 'HEAD', signal: AbortSignal.timeout(10000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`;
  return spawnSync(process.execPath, ['-e', probe], { timeout: 15_000 }).status === 0;
}

/** Why the bundle cannot be built here, or false. */
function cannotBuild(): string | false {
  const machineOs = thisMachineOs();
  if (!machineOs.startsWith('debian ')) return `this machine runs ${machineOs || 'an OS without /etc/os-release'}, and a bundle for Debian 13 is built on Debian`;
  for (const [tool, debianPackage] of [['apt-get', 'apt'], ['dpkg-deb', 'dpkg'], ['dpkg-scanpackages', 'dpkg-dev']]) {
    if (!findExecutable(tool)) return `${tool} is not installed (Debian package ${debianPackage})`;
  }
  let release: string;
  try {
    const [first] = debianSourcesFor(aptSourceFiles(), debianCodename(machineOs, 'this machine runs'), debianCodename('debian 13', 'the bundle is for')).sources;
    release = `${first.uris[0].replace(/\/+$/, '')}/dists/${first.suites[0]}/InRelease`;
  } catch (err) {
    return `this machine's package sources name no Debian mirror to read Debian 13 from (${(err as Error).message})`;
  }
  return answers(release) ? false : `Debian's mirror does not answer here (${release} within 10 s), and the bundle downloads Debian 13's packages from it`;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

test(
  "a real bundle for the lab's generic Debian 13 cluster: Debian 13's packages, every checksum right, all in the index",
  { skip: requires(cannotBuild()), timeout: 30 * 60_000 },
  async (t) => {
    const { topology } = loadTopology(TOPOLOGY);
    const out = join(work, 'bundle');
    const progress: string[] = [];
    const started = Date.now();
    const built = await buildBundle(topology, out, (line) => progress.push(line));
    const seconds = (Date.now() - started) / 1000;

    const manifest = parseManifest(readFileSync(join(out, MANIFEST_FILE), 'utf8'), MANIFEST_FILE);
    t.diagnostic(
      `built in ${seconds.toFixed(0)} s: ${manifest.files.length} packages, ${(built.bytes / 1024 ** 2).toFixed(1)} MB; ` +
        `postgresql-17 ${manifest.packages['postgresql-17']}, patroni ${manifest.packages.patroni}`,
    );
    assert.match(progress[0], /^reading debian 13's packages \(trixie, .*trixie-security.*\) from http.* \(this machine's Debian mirrors?, suites renamed\), for /);
    assert.equal(manifest.os, 'debian 13');
    assert.deepEqual(Object.keys(manifest.packages), bundlePackagesFor(topology));
    assert.match(manifest.packages['postgresql-17'], /^17\./);
    assert.match(manifest.packages.patroni, /^4\./);

    // Every file as the manifest says, and SHA256SUMS the same.
    for (const file of [...manifest.files, manifest.index]) {
      const bytes = readFileSync(join(out, file.name));
      assert.equal(bytes.length, file.size, file.name);
      assert.equal(sha256(bytes), file.sha256, file.name);
    }
    assert.equal(readFileSync(join(out, SUMS_FILE), 'utf8'), sumsFileText(manifest));

    // The index lists every package file with its version and checksum: apt on a host finds them all.
    const index = readFileSync(join(out, INDEX_FILE), 'utf8')
      .split(/\n\n+/)
      .filter(Boolean)
      .map((stanza) => Object.fromEntries([...stanza.matchAll(/^([A-Za-z0-9-]+): (.*)$/gm)].map((m) => [m[1], m[2]])));
    assert.equal(index.length, manifest.files.length);
    for (const file of manifest.files) {
      const entry = index.find((e) => e.Filename === `./${file.name}`);
      assert.ok(entry, `${file.name} is not in the index`);
      assert.deepEqual([entry.Package, entry.Version, entry.SHA256], [file.package, file.version, file.sha256], file.name);
    }

    // The install's own check (preflight, the packages step) takes it for this topology.
    const verified = await verifyBundle(out, topology, bundlePackagesFor(topology));
    assert.equal(verified.manifest.os, 'debian 13');
  },
);
