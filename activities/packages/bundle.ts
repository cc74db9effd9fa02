// Offline package bundles for hosts without internet access. `haflow bundle` (client/bundle.ts)
// downloads the topology's Debian/Ubuntu packages with every dependency on a machine that has
// the package mirror and writes them beside a manifest with their checksums. The install takes
// the bundle's directory (`packages: { bundle: <dir> }`): the worker checks it against its
// manifest, uploads it to each host, the host checks the checksums again, and apt installs from
// those local files alone: the host's own package sources are never asked.
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { osSupported, type Topology } from '../../topology';
import { osNamedForPackageHosts } from '../components';
import { StepFailureTypes } from '../contract';
import { expandHome } from '../shared/secrets';
import type { SshSession } from '../shared/ssh';
import { shellQuote } from '../shared/shell';
import { heartbeat } from '../shared/step-activity';

export const BUNDLE_FORMAT = 1;
export const MANIFEST_FILE = 'manifest.json';
/** The flat repository's index, written by dpkg-scanpackages. */
export const INDEX_FILE = 'Packages';
/** The same checksums as the manifest, in sha256sum's format: `sha256sum -c SHA256SUMS` checks a copy by hand. */
export const SUMS_FILE = 'SHA256SUMS';
/** Where a host keeps the bundles it was given, one directory per bundle id. */
export const HOST_BUNDLE_DIR = '/var/cache/haflow/bundles';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be a SHA-256 checksum (64 lower-case hex digits)' });
const debName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.+~_:%-]*\.deb$/, { error: 'must be a .deb file name (letters, digits and . + ~ _ : % -)' });
const packageName = z.string().regex(/^[a-z0-9][a-z0-9.+-]+$/, { error: 'must be a Debian package name' });
const version = z.string().regex(/^[A-Za-z0-9.+~:-]+$/, { error: 'must be a Debian package version' });

export const bundleManifest = z.strictObject({
  format: z.literal(BUNDLE_FORMAT, { error: `must be ${BUNDLE_FORMAT} (this haflow reads bundle format ${BUNDLE_FORMAT}; rebuild the bundle with it)` }),
  /** The topology's cluster it was built for; another topology of the same packages may use it too. */
  cluster: z.string(),
  created: z.string(),
  /** As in /etc/os-release: "<ID> <VERSION_ID>", such as "debian 12". */
  os: z.string().regex(/^[a-z]+ [0-9.]+$/, { error: 'must be "<id> <version>" such as "debian 12"' }),
  architecture: z.string().regex(/^[a-z0-9-]+$/, { error: 'must be a Debian architecture such as amd64' }),
  /** Every package the topology's roles need, with the version in the bundle. */
  packages: z.record(packageName, version),
  files: z
    .array(
      z.strictObject({
        name: debName,
        package: packageName,
        version,
        architecture: z.string(),
        size: z.number().int().nonnegative(),
        sha256,
      }),
    )
    .min(1, { error: 'lists no package file' }),
  index: z.strictObject({ name: z.literal(INDEX_FILE), size: z.number().int().nonnegative(), sha256 }),
});
export type BundleManifest = z.infer<typeof bundleManifest>;

export interface VerifiedBundle {
  dir: string;
  /** The manifest's own checksum, shortened: names the bundle on the hosts. */
  id: string;
  manifest: BundleManifest;
  bytes: number;
}

export class BundleError extends Error {
  override readonly name = 'BundleError';
  constructor(
    message: string,
    readonly remedy: string,
  ) {
    super(message);
  }
}

/** Every file of the bundle with its checksum, the index last. */
export function bundleFiles(manifest: BundleManifest): { name: string; size: number; sha256: string }[] {
  return [...manifest.files, manifest.index];
}

/** sha256sum's format for `files` (by default every file of the bundle). */
export function sumsFileText(manifest: BundleManifest, files = bundleFiles(manifest)): string {
  return files.map((f) => `${f.sha256}  ${f.name}\n`).join('');
}

/** The manifest's text, parsed and checked: an error names the file, the field and what would be valid. */
export function parseManifest(text: string, file: string): BundleManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BundleError(`${file}: not JSON (${(err as Error).message})`, 'copy the bundle again from the machine that built it, or rebuild it with haflow bundle');
  }
  const parsed = bundleManifest.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(manifest)'}: ${i.message}`);
    throw new BundleError(`${file}: ${issues.slice(0, 5).join('; ')}${issues.length > 5 ? `; and ${issues.length - 5} more` : ''}`, 'rebuild the bundle with haflow bundle <topology> <dir>');
  }
  return parsed.data;
}

/**
 * What the bundle lacks for the topology: packages the hosts' roles need that are not in it (the
 * PostgreSQL package is named by the topology's major: postgresql-17), an OS the topology does not
 * accept, and another release than the one the topology says its hosts run. Pure: `wanted` comes
 * from the components.
 */
export function bundleGaps(manifest: BundleManifest, topology: Topology, wanted: string[]): string[] {
  const gaps: string[] = [];
  const absent = wanted.filter((p) => !(p in manifest.packages));
  if (absent.length > 0) gaps.push(`it lacks ${absent.join(', ')}, which the topology's roles need`);
  if (!osSupported(manifest.os, topology.supported_os)) gaps.push(`it is for ${manifest.os}, which is not in supported_os (${topology.supported_os.join(', ')})`);
  // "debian 13.1" named in the topology is the release of a "debian 13" bundle.
  const otherRelease = osNamedForPackageHosts(topology).filter((n) => !osSupported(n.os, [manifest.os]));
  if (otherRelease.length > 0) {
    gaps.push(`it is for ${manifest.os}, but the topology says ${otherRelease.map((n) => `${n.hosts.join(', ')} run${n.hosts.length === 1 ? 's' : ''} ${n.os}`).join('; ')}`);
  }
  return gaps;
}

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    heartbeat();
  }
  return hash.digest('hex');
}

/**
 * Reads the bundle on the worker's machine and checks it whole: its manifest, that it has what
 * the topology needs, and every file's size and checksum. Throws a BundleError naming what is wrong.
 */
export async function verifyBundle(dir: string, topology: Topology, wanted: string[]): Promise<VerifiedBundle> {
  const root = expandHome(dir);
  const manifestPath = `${root}/${MANIFEST_FILE}`;
  let text: string;
  try {
    text = readFileSync(manifestPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new BundleError(
      `packages.bundle: ${manifestPath} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? (err as Error).message})`} on the worker's machine`,
      `build the bundle there (haflow bundle <topology> ${dir}), or set packages.bundle to the directory that holds its ${MANIFEST_FILE}`,
    );
  }
  const manifest = parseManifest(text, manifestPath);
  const gaps = bundleGaps(manifest, topology, wanted);
  if (gaps.length > 0) throw new BundleError(`packages.bundle ${dir} does not fit the topology: ${gaps.join('; ')}`, `rebuild it for this topology: haflow bundle <topology> <new dir>`);
  const damaged: string[] = [];
  let bytes = 0;
  for (const file of bundleFiles(manifest)) {
    const path = `${root}/${file.name}`;
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      damaged.push(`${file.name} is missing`);
      continue;
    }
    bytes += size;
    if (size !== file.size) damaged.push(`${file.name} has ${size} bytes, the manifest says ${file.size}`);
    else if ((await fileSha256(path)) !== file.sha256) damaged.push(`${file.name} does not match its checksum`);
  }
  if (damaged.length > 0) {
    throw new BundleError(
      `packages.bundle ${dir} is damaged: ${damaged.slice(0, 5).join('; ')}${damaged.length > 5 ? `; and ${damaged.length - 5} more` : ''}`,
      'copy the bundle again from the machine that built it (sha256sum -c SHA256SUMS in its directory shows which files differ), or rebuild it',
    );
  }
  return { dir: root, id: createHash('sha256').update(text).digest('hex').slice(0, 16), manifest, bytes };
}

/** A BundleError as the step's failure: the operator must act, retrying cannot help. */
export function bundleFailure(err: BundleError): ApplicationFailure {
  return ApplicationFailure.create({ type: StepFailureTypes.invalidConfig, nonRetryable: true, message: err.message, details: [{ remedy: err.remedy }] });
}

export const hostBundleDir = (bundle: VerifiedBundle) => `${HOST_BUNDLE_DIR}/${bundle.id}`;

/** Files of the bundle already on the host with their checksums, by name. */
async function filesOnHost(ssh: SshSession, dir: string): Promise<Map<string, string>> {
  const out = await ssh.exec(`cd ${shellQuote(dir)} 2>/dev/null && find . -maxdepth 1 -type f \\( -name '*.deb' -o -name ${INDEX_FILE} \\) -print0 | xargs -0 -r sha256sum`, {
    sudo: true,
    timeoutMs: 10 * 60_000,
  });
  const sums = new Map<string, string>();
  for (const line of out.stdout.split('\n')) {
    const m = line.match(/^([0-9a-f]{64}) {2}\.\/(.+)$/);
    if (m) sums.set(m[2], m[1]);
  }
  return sums;
}

/** apt with the bundle as its only source, and its own lists: the host's sources are not read. */
function aptFromBundle(dir: string): string {
  return [
    'apt-get -q',
    `-o Dir::Etc::SourceList=${shellQuote(`${dir}/bundle.list`)}`,
    `-o Dir::Etc::SourceParts=${shellQuote(`${dir}/no-parts`)}`,
    `-o Dir::State::Lists=${shellQuote(`${dir}/lists`)}`,
    '-o APT::Get::List-Cleanup=false',
  ].join(' ');
}

/** The packages and versions an `apt-get -s install` would unpack: its "Inst name [old] (version …)" lines. */
export function packagesAptWouldUnpack(simulation: string): { name: string; version: string }[] {
  return [...simulation.matchAll(/^Inst (\S+) (?:\[[^\]]*\] )?\((\S+)/gm)].map((m) => ({ name: m[1].replace(/:[a-z0-9]+$/, ''), version: m[2] }));
}

/**
 * Puts on the host what installing `names` from the bundle needs, and no more: first the index,
 * which apt reads to work out the packages the host lacks (a host of the same release already
 * has most of the dependencies), then those package files. Each file goes through a temp file and
 * a rename (a crash leaves no half file under a real name) and is skipped when the host already
 * holds it intact. The host then checks every file it holds against the manifest's checksums.
 */
export async function uploadBundle(ssh: SshSession, bundle: VerifiedBundle, names: string[]): Promise<{ files: number; bytes: number }> {
  const dir = hostBundleDir(bundle);
  const present = await filesOnHost(ssh, dir);
  let sent = 0;
  let bytes = 0;
  const put = async (file: { name: string; size: number; sha256: string }, detail: string) => {
    if (present.get(file.name) === file.sha256) return;
    heartbeat(detail);
    const target = `${dir}/${file.name}`;
    await ssh.check(`umask 022 && cat > ${shellQuote(`${target}.part`)} && mv -f ${shellQuote(`${target}.part`)} ${shellQuote(target)}`, {
      sudo: true,
      stdin: readFileSync(`${bundle.dir}/${file.name}`),
      timeoutMs: 10 * 60_000,
    });
    sent++;
    bytes += file.size;
  };
  await ssh.check(`install -d -m 755 ${shellQuote(HOST_BUNDLE_DIR)} ${shellQuote(dir)} ${shellQuote(`${dir}/no-parts`)} && mkdir -p ${shellQuote(`${dir}/lists/partial`)}`, { sudo: true });
  await put(bundle.manifest.index, 'uploading the index');
  // Trusted without a signature: the index was just checked against the manifest the operator
  // gave, and every package file is checked against it before apt reads it.
  const source = `deb [trusted=yes] file:${dir} ./\n`;
  await ssh.check(`umask 022 && printf %s ${shellQuote(source)} > ${shellQuote(`${dir}/bundle.list`)} && ${aptFromBundle(dir)} update`, { sudo: true, timeoutMs: 5 * 60_000 });
  const simulation = await ssh.check(`${aptFromBundle(dir)} -s install --no-install-recommends ${names.map(shellQuote).join(' ')}`, { sudo: true });
  const needed = packagesAptWouldUnpack(simulation).map(({ name, version }) => {
    const file = bundle.manifest.files.find((f) => f.package === name && f.version === version);
    if (!file) throw new Error(`${ssh.target.name}: apt wants ${name} ${version}, which the bundle's index lists but its manifest does not`);
    return file;
  });
  for (const [i, file] of needed.entries()) await put(file, `uploading ${file.name} (${i + 1}/${needed.length})`);
  const onHost = [bundle.manifest.index, ...needed, ...bundle.manifest.files.filter((f) => present.get(f.name) === f.sha256 && !needed.includes(f))];
  await ssh.check(`umask 022 && cat > ${shellQuote(`${dir}/${SUMS_FILE}`)} && rm -f ${shellQuote(dir)}/*.part`, {
    sudo: true,
    stdin: sumsFileText(bundle.manifest, onHost),
  });
  return { files: sent, bytes };
}

/** Checks the files on the host against the manifest's checksums, then installs `names` from them. */
export async function installFromBundle(ssh: SshSession, bundle: VerifiedBundle, names: string[]): Promise<void> {
  const dir = hostBundleDir(bundle);
  const checked = await ssh.exec(`cd ${shellQuote(dir)} && sha256sum --quiet --strict -c ${SUMS_FILE}`, { sudo: true, timeoutMs: 10 * 60_000 });
  if (checked.code !== 0) {
    throw ApplicationFailure.create({
      type: StepFailureTypes.commandFailed,
      message: `${ssh.target.name}: the bundle's files in ${dir} do not match their checksums after the upload: ${(checked.stdout + checked.stderr).trim().split('\n').slice(0, 5).join('; ')}`,
      details: [{ remedy: `retry the step (it uploads the damaged files again); if it fails again, check ${ssh.target.name}'s disk (df -h ${HOST_BUNDLE_DIR}, dmesg)` }],
    });
  }
  await ssh.check(`DEBIAN_FRONTEND=noninteractive ${aptFromBundle(dir)} install -y --no-install-recommends ${names.map(shellQuote).join(' ')}`, { sudo: true, timeoutMs: 30 * 60_000 });
}

/** The installed version of each package (absent when not installed). */
export async function installedVersions(ssh: SshSession, names: string[]): Promise<Map<string, string>> {
  const out = await ssh.exec(`dpkg-query -W -f='\${db:Status-Abbrev}\\t\${Package}\\t\${Version}\\n' ${names.map(shellQuote).join(' ')} 2>/dev/null`);
  const versions = new Map<string, string>();
  for (const line of out.stdout.split('\n')) {
    const [status, name, v] = line.split('\t');
    if (status?.startsWith('ii') && name && v) versions.set(name, v);
  }
  return versions;
}

/** "debian 12 amd64" as the host says it, to compare with the bundle's. */
export async function hostPlatform(ssh: SshSession): Promise<{ os: string; architecture: string }> {
  const out = await ssh.check('. /etc/os-release; echo "$ID $VERSION_ID"; dpkg --print-architecture');
  const [os = 'unknown', architecture = 'unknown'] = out.trim().split('\n').map((l) => l.trim());
  return { os, architecture };
}
