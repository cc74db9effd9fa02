// `haflow bundle <topology> <out>`: an offline bundle of the topology's Debian/Ubuntu packages,
// built on a machine that has the package mirror, for hosts that have none. apt resolves the
// packages against an empty package database, so the bundle holds every dependency down to libc
// and installs on a minimal host of the same release. dpkg-scanpackages (dpkg-dev) writes the
// index that makes the directory a flat apt repository; the manifest and SHA256SUMS carry every
// file's checksum. The bundle is built beside <out> and renamed into place when whole.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { bundlePackagesFor } from '../activities/components';
import { BUNDLE_FORMAT, INDEX_FILE, MANIFEST_FILE, SUMS_FILE, sumsFileText, type BundleManifest } from '../activities/packages/bundle';
import { osSupported, type Topology } from '../topology';

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
  const os = thisMachineOs();
  if (!osSupported(os, topology.supported_os)) {
    throw new BundleBuildError(
      `this machine runs ${os}, which is not in the topology's supported_os (${topology.supported_os.join(', ')}): a bundle holds the packages of the release it is built on; build it on a machine of the hosts' release`,
    );
  }
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
    say(`reading this machine's package sources (${os} ${architecture})`);
    await must('apt-get', [...apt, 'update'], "reading this machine's package sources (apt-get update)");
    say(`downloading ${wanted.join(' ')} with every dependency`);
    const download = await run('apt-get', [...apt, 'install', '--download-only', '-y', '--no-install-recommends', ...wanted]);
    if (download.code !== 0) {
      const absent = packagesAptCannotFind(download.stdout + download.stderr);
      throw new BundleBuildError(
        absent.length > 0
          ? `this machine's package sources have no ${absent.join(', ')} (${os}); add the source that has them (for another PostgreSQL version: the PGDG repository) or change the topology`
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
