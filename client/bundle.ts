// `haflow bundle <topology> <out>`: an offline bundle of the topology's Debian/Ubuntu packages,
// built on a machine that has the package mirror, for hosts that have none. apt resolves the
// packages against an empty package database, so the bundle holds every dependency down to libc
// and installs on a minimal host of the same release. dpkg-scanpackages (dpkg-dev) writes the
// index that makes the directory a flat apt repository; the manifest and SHA256SUMS carry every
// file's checksum. The bundle is built beside <out> and renamed into place when whole.
//
// The release is the one the topology names for its hosts (`os`, `hosts[].os`), else this
// machine's. A Debian machine builds for another Debian release from its own Debian mirrors, with
// the suites renamed to that release's (bookworm-security → trixie-security): one archive serves
// every release, signed by keys debian-archive-keyring already holds.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { bundlePackagesFor, osNamedForPackageHosts } from '../activities/components';
import { BUNDLE_FORMAT, INDEX_FILE, MANIFEST_FILE, SUMS_FILE, sumsFileText, type BundleManifest } from '../activities/packages/bundle';
import { osSupported, PLATFORMS, platformOf, type Topology } from '../topology';

export class BundleBuildError extends Error {
  override readonly name = 'BundleBuildError';
}

function run(command: string, args: string[], options: { cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => reject(new BundleBuildError(`cannot run ${command}: ${e.message}`)));
    child.on('close', (code) => resolvePromise({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

async function must(command: string, args: string[], what: string, options: { cwd?: string } = {}): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) throw new BundleBuildError(`${what} failed (${command} exited with ${result.code}): ${(result.stderr || result.stdout).trim().split('\n').slice(-5).join(' | ')}`);
  return result.stdout;
}

/** This machine's release as /etc/os-release says it: "debian 12". */
export function thisMachineOs(osRelease = readFileSync('/etc/os-release', 'utf8')): string {
  const field = (name: string) => osRelease.match(new RegExp(`^${name}="?([^"\\n]*)"?$`, 'm'))?.[1] ?? '';
  return `${field('ID')} ${field('VERSION_ID')}`.trim();
}

/** apt's errors about packages its sources do not have, as the names. */
export function packagesAptCannotFind(aptOutput: string): string[] {
  return [...aptOutput.matchAll(/^E: (?:Unable to locate package (\S+)|Package '([^']+)' has no installation candidate)/gm)].map((m) => m[1] ?? m[2]);
}

/**
 * The release a bundle is built for: the one the topology names for the hosts that get packages,
 * else this machine's. Hosts that name no OS take the named one (the packages step checks each
 * host's release against the bundle's). Several named releases cannot share one bundle.
 */
export function bundleRelease(topology: Topology, machineOs: string): { os: string; named: boolean } {
  const named = osNamedForPackageHosts(topology);
  if (named.length === 0) return { os: machineOs, named: false };
  if (named.length > 1) {
    throw new BundleBuildError(
      `the topology's hosts run several releases (${named.map((n) => `${n.hosts.join(', ')}: ${n.os}`).join('; ')}), and a bundle holds one release's packages: ` +
        `build one bundle per release (a topology per release), or correct os / hosts[].os`,
    );
  }
  return { os: named[0].os, named: true };
}

/** One entry of apt's package sources, as far as a bundle needs it. */
export interface AptSource {
  /** The file it was read from. */
  file: string;
  /** deb (binary packages) and/or deb-src. */
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
  /** A keyring's path or an inline key, as written (a multi-line key keeps its lines). */
  signedBy?: string;
}

/**
 * The entries of one sources file: deb822 stanzas in a `.sources` file, one-line `deb …` entries
 * otherwise (as apt reads them). Disabled stanzas (`Enabled: no`) and comments are left out.
 */
export function parseAptSources(text: string, file: string): AptSource[] {
  return file.endsWith('.sources') ? parseDeb822Sources(text, file) : parseOneLineSources(text, file);
}

function parseDeb822Sources(text: string, file: string): AptSource[] {
  const stanzas: Map<string, string>[] = [];
  let fields = new Map<string, string>();
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    if (line.trim() === '') {
      if (fields.size > 0) stanzas.push(fields);
      fields = new Map();
      last = undefined;
    } else if (/^[ \t]/.test(line) && last) {
      // A continuation line (an inline Signed-By key): kept without its leading space.
      fields.set(last, `${fields.get(last)}\n${line.slice(1)}`);
    } else {
      const match = /^([A-Za-z0-9-]+):[ \t]*(.*)$/.exec(line);
      if (!match) continue;
      last = match[1].toLowerCase();
      fields.set(last, match[2].trimEnd());
    }
  }
  if (fields.size > 0) stanzas.push(fields);
  const words = (value: string | undefined) => (value ?? '').split(/\s+/).filter(Boolean);
  return stanzas
    .filter((f) => f.get('enabled')?.trim().toLowerCase() !== 'no')
    .map((f) => ({
      file,
      types: words(f.get('types')),
      uris: words(f.get('uris')),
      suites: words(f.get('suites')),
      components: words(f.get('components')),
      signedBy: f.get('signed-by')?.trimEnd() || undefined,
    }));
}

function parseOneLineSources(text: string, file: string): AptSource[] {
  const sources: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const match = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(line);
    if (!match) continue;
    const [, type, options = '', uri, suite, components = ''] = match;
    const signedBy = /(?:^|\s)signed-by=(\S+)/.exec(options)?.[1];
    sources.push({ file, types: [type], uris: [uri], suites: [suite], components: components.split(/\s+/).filter(Boolean), signedBy });
  }
  return sources;
}

/** Debian's own suites of a release: the release, its updates, its security updates, backports. */
const DEBIAN_SUITE_SUFFIXES = ['', '-updates', '-security', '-backports', '-proposed-updates'];
/** The archive areas of Debian's archive; another repository (PGDG, Docker) has its own. */
const DEBIAN_COMPONENTS = ['main', 'contrib', 'non-free', 'non-free-firmware'];

/** The codename of a Debian release haflow knows ("debian 13" → trixie), or a BundleBuildError saying which it knows. */
export function debianCodename(os: string, whose: string): string {
  const platform = platformOf(os);
  if (platform?.os.startsWith('debian ') && platform.codename) return platform.codename;
  const known = PLATFORMS.filter((p) => p.os.startsWith('debian ') && p.codename).map((p) => `${p.os} (${p.codename})`);
  throw new BundleBuildError(`${whose} ${os}, which is not a Debian release whose suites haflow knows; it knows ${known.join(', ')} (topology/platforms.ts)`);
}

/**
 * This machine's Debian sources for another Debian release: every binary (`deb`) entry of
 * Debian's archive for `machineCodename` (bookworm, bookworm-updates, bookworm-security…), with
 * the same URIs, components and Signed-By, and each suite renamed to `targetCodename`'s. Entries
 * of other repositories or releases are left out. Returns the deb822 text for apt, and the entries.
 */
export function debianSourcesFor(
  files: { path: string; text: string }[],
  machineCodename: string,
  targetCodename: string,
): { text: string; sources: AptSource[] } {
  const debianSuites = new Map(DEBIAN_SUITE_SUFFIXES.map((suffix) => [`${machineCodename}${suffix}`, `${targetCodename}${suffix}`]));
  const sources: AptSource[] = [];
  for (const source of files.flatMap((f) => parseAptSources(f.text, f.path))) {
    const suites = source.suites.filter((s) => debianSuites.has(s));
    if (!source.types.includes('deb') || suites.length === 0 || source.uris.length === 0) continue;
    if (!source.components.every((c) => DEBIAN_COMPONENTS.includes(c))) continue;
    sources.push({ ...source, types: ['deb'], suites: suites.map((s) => debianSuites.get(s)!) });
  }
  if (sources.length === 0) {
    const read = files.length > 0 ? files.map((f) => f.path).join(', ') : 'none found';
    throw new BundleBuildError(
      `found no entry of Debian's archive for ${machineCodename} in this machine's package sources (read: ${read}); a bundle for ${targetCodename} is read from this machine's Debian mirror with the suites renamed: ` +
        `add one, such as \`deb http://deb.debian.org/debian ${machineCodename} main\` in /etc/apt/sources.list (a suite by its codename: ${[...debianSuites.keys()].slice(0, 3).join(', ')}), or build the bundle on a machine of the hosts' release`,
    );
  }
  const stanza = (s: AptSource) =>
    [
      `# from ${s.file}`,
      'Types: deb',
      `URIs: ${s.uris.join(' ')}`,
      `Suites: ${s.suites.join(' ')}`,
      `Components: ${s.components.join(' ')}`,
      // An inline key starts on the next line: no value after the colon, each line indented.
      ...(s.signedBy ? [`Signed-By:${s.signedBy.startsWith('\n') ? '' : ' '}${s.signedBy.split('\n').join('\n ')}`] : []),
    ].join('\n');
  return { text: `${sources.map(stanza).join('\n\n')}\n`, sources };
}

/** apt's sources files on this machine, as apt reads them: sources.list, then sources.list.d's *.list and *.sources. */
export function aptSourceFiles(etcApt = '/etc/apt'): { path: string; text: string }[] {
  const parts = join(etcApt, 'sources.list.d');
  const paths = [
    join(etcApt, 'sources.list'),
    ...(existsSync(parts) ? readdirSync(parts).sort().filter((f) => f.endsWith('.list') || f.endsWith('.sources')).map((f) => join(parts, f)) : []),
  ];
  return paths.filter((p) => existsSync(p)).map((path) => ({ path, text: readFileSync(path, 'utf8') }));
}

/**
 * Where apt reads the release's packages: this machine's own sources for its own release; for
 * another Debian release, a sources file made from this machine's Debian sources (`debianSources`,
 * deb822 text for apt to read instead of its own). Any other case is refused: the bundle must be
 * built on a machine of the hosts' release. `files` are this machine's sources files.
 */
export function packageSourcesFor(
  release: string,
  machineOs: string,
  files: { path: string; text: string }[],
): { debianSources?: string; description: string; lacking: (packages: string[]) => string } {
  if (osSupported(release, [machineOs]) || osSupported(machineOs, [release])) {
    return {
      description: `this machine's package sources (${machineOs})`,
      lacking: (packages) =>
        `this machine's package sources have no ${packages.join(', ')} (${machineOs}); add the source that has them (for another PostgreSQL version: the PGDG repository) or change the topology`,
    };
  }
  if (!machineOs.startsWith('debian ') || !release.startsWith('debian ')) {
    throw new BundleBuildError(
      `the topology's hosts run ${release} and this machine ${machineOs}: a bundle for another release than this machine's is built only from Debian for Debian (from this machine's Debian mirror, with the suites renamed); ` +
        `build it on a machine of ${release} that has its package mirror`,
    );
  }
  const { text, sources } = debianSourcesFor(files, debianCodename(machineOs, 'this machine runs'), debianCodename(release, "the topology's hosts run"));
  const uris = [...new Set(sources.flatMap((s) => s.uris))];
  const suites = [...new Set(sources.flatMap((s) => s.suites))];
  return {
    debianSources: text,
    description: `${release}'s packages (${suites.join(', ')}) from ${uris.join(', ')} (this machine's Debian mirror${uris.length > 1 ? 's' : ''}, suites renamed)`,
    lacking: (packages) =>
      `${release}'s archive (${uris.join(', ')}) has no ${packages.join(', ')}; only Debian's archive is read for another release than this machine's: ` +
      `change the topology, or build the bundle on a machine of ${release} with the source that has them (for another PostgreSQL version: the PGDG repository)`,
  };
}

export interface BuiltBundle {
  dir: string;
  manifest: BundleManifest;
  bytes: number;
}

/**
 * Downloads every package the topology's hosts need, with all their dependencies, into a new
 * directory `out`, and writes its index, manifest and checksums. `say` gets one line per phase.
 */
export async function buildBundle(topology: Topology, out: string, say: (line: string) => void = () => {}): Promise<BuiltBundle> {
  const target = resolve(out);
  if (existsSync(target) && (!statSync(target).isDirectory() || readdirSync(target).length > 0)) {
    throw new BundleBuildError(`${out} already exists${statSync(target).isDirectory() ? ' and is not empty' : ''}; give a new directory for the bundle`);
  }
  for (const tool of ['apt-get', 'dpkg-deb', 'dpkg-scanpackages']) {
    if ((await run('sh', ['-c', `command -v ${tool}`])).code !== 0) {
      throw new BundleBuildError(
        tool === 'dpkg-scanpackages'
          ? 'dpkg-scanpackages is not installed on this machine (it writes the bundle\'s apt index): apt-get install dpkg-dev'
          : `${tool} is not on this machine: build the bundle on a Debian or Ubuntu machine of the hosts' release that has its package mirror`,
      );
    }
  }
  const machineOs = thisMachineOs();
  const release = bundleRelease(topology, machineOs);
  if (!release.named && !osSupported(machineOs, topology.supported_os)) {
    throw new BundleBuildError(
      `this machine runs ${machineOs}, which is not in the topology's supported_os (${topology.supported_os.join(', ')}), and the topology names no OS for its hosts: ` +
        `set os: to the hosts' release (a Debian machine builds for another Debian release), or build the bundle on a machine of the hosts' release`,
    );
  }
  if (release.named && !osSupported(release.os, topology.supported_os)) {
    throw new BundleBuildError(`the topology's hosts run ${release.os}, which is not in its supported_os (${topology.supported_os.join(', ')}): add it there, or correct os / hosts[].os`);
  }
  const sources = packageSourcesFor(release.os, machineOs, aptSourceFiles());
  // A Debian host reports its major release only ("debian 13"), and the packages step compares it with the manifest's.
  const os = sources.debianSources ? (platformOf(release.os)?.os ?? release.os) : machineOs;
  const architecture = (await must('dpkg', ['--print-architecture'], 'asking dpkg for the architecture')).trim();
  const wanted = bundlePackagesFor(topology);
  const work = mkdtempSync(join(tmpdir(), 'haflow-bundle-'));
  const staging = join(dirname(target), `.${basename(target)}.partial-${process.pid}`);
  try {
    mkdirSync(join(work, 'lists', 'partial'), { recursive: true });
    writeFileSync(join(work, 'status'), '');
    mkdirSync(join(staging, 'partial'), { recursive: true });
    // Its own package lists and an empty package database: this machine's installed packages do
    // not shorten the dependency list, and its apt state is not touched.
    const apt = [
      '-q',
      '-o', `Dir::State::Lists=${join(work, 'lists')}`,
      '-o', `Dir::State::status=${join(work, 'status')}`,
      '-o', `Dir::Cache=${work}`,
      '-o', `Dir::Cache::archives=${staging}`,
      '-o', 'Debug::NoLocking=1',
    ];
    if (sources.debianSources) {
      // Another release: apt reads only this list (deb822, hence .sources), not this machine's sources.
      const list = join(work, 'release.sources');
      writeFileSync(list, sources.debianSources);
      mkdirSync(join(work, 'no-source-parts'));
      apt.push('-o', `Dir::Etc::SourceList=${list}`, '-o', `Dir::Etc::SourceParts=${join(work, 'no-source-parts')}`);
    }
    say(`reading ${sources.description}, for ${architecture}`);
    await must('apt-get', [...apt, 'update'], `reading ${sources.description} (apt-get update)`);
    say(`downloading ${wanted.join(' ')} with every dependency`);
    const download = await run('apt-get', [...apt, 'install', '--download-only', '-y', '--no-install-recommends', ...wanted]);
    if (download.code !== 0) {
      const absent = packagesAptCannotFind(download.stdout + download.stderr);
      throw new BundleBuildError(
        absent.length > 0
          ? sources.lacking(absent)
          : `apt-get could not download the packages: ${(download.stderr || download.stdout).trim().split('\n').slice(-5).join(' | ')}`,
      );
    }
    rmSync(join(staging, 'partial'), { recursive: true, force: true });
    for (const stray of readdirSync(staging).filter((f) => !f.endsWith('.deb'))) rmSync(join(staging, stray), { force: true });
    say('checksumming the packages and writing the index');
    const files: BundleManifest['files'] = [];
    for (const name of readdirSync(staging).sort()) {
      const fields = await must('dpkg-deb', ['--show', '--showformat=${Package}\\t${Version}\\t${Architecture}', join(staging, name)], `reading ${name}`);
      const [pkg, version, arch] = fields.trim().split('\t');
      const bytes = readFileSync(join(staging, name));
      files.push({ name, package: pkg, version, architecture: arch, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    }
    const index = await must('dpkg-scanpackages', ['--multiversion', '.', '/dev/null'], 'writing the index (dpkg-scanpackages)', { cwd: staging });
    writeFileSync(join(staging, INDEX_FILE), index);
    const packages: Record<string, string> = {};
    for (const name of wanted) {
      const file = files.find((f) => f.package === name);
      if (!file) throw new BundleBuildError(`apt downloaded no file for ${name}; is it a virtual package on ${os}?`);
      packages[name] = file.version;
    }
    const manifest: BundleManifest = {
      format: BUNDLE_FORMAT,
      cluster: topology.cluster,
      created: new Date().toISOString(),
      os,
      architecture,
      packages,
      files,
      index: { name: INDEX_FILE, size: Buffer.byteLength(index), sha256: createHash('sha256').update(index).digest('hex') },
    };
    writeFileSync(join(staging, SUMS_FILE), sumsFileText(manifest));
    writeFileSync(join(staging, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    if (existsSync(target)) rmSync(target, { recursive: true });
    renameSync(staging, target);
    return { dir: target, manifest, bytes: files.reduce((sum, f) => sum + f.size, 0) };
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(staging, { recursive: true, force: true });
  }
}
