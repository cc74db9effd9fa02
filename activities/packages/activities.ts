// Packages for each host's roles (apt or dnf), as the components list them, and the services
// Debian and Ubuntu start on install: etcd on 127.0.0.1:2379, HAProxy with its sample config,
// Patroni, and a default PostgreSQL cluster on 5432. They are stopped and disabled (unless
// haflow configured them), and the default cluster is dropped, so they cannot collide with
// the ones haflow configures.
import { ApplicationFailure } from '@temporalio/common';
import type { Topology } from '../../topology';
import { bundlePackagesFor, COMPONENTS, packagesFor, runsOn, secretPlaceholder } from '../components';
import { StepFailureTypes, type HostInput, type StepResult } from '../contract';
import { dropDebianDefaultCluster } from '../postgres/activities';
import { MANAGED_MARKER, type PackageFamily } from '../shared/component';
import { ensureUnit } from '../shared/services';
import type { SshSession } from '../shared/ssh';
import { shellQuote } from '../shared/shell';
import { guardFailed, onHost, stepResult } from '../shared/step';
import { BundleError, bundleFailure, hostBundleDir, hostPlatform, installedVersions, installFromBundle, uploadBundle, verifyBundle, type VerifiedBundle } from './bundle';

async function packageFamily(ssh: SshSession): Promise<PackageFamily> {
  const out = await ssh.check('if command -v apt-get >/dev/null; then echo apt; elif command -v dnf >/dev/null; then echo dnf; else echo none; fi');
  const family = out.trim();
  if (family !== 'apt' && family !== 'dnf') throw new Error(`${ssh.target.name}: neither apt-get nor dnf found: unsupported OS family`);
  return family;
}

async function missingPackages(ssh: SshSession, family: PackageFamily, names: string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const query =
    family === 'apt'
      ? names.map((n) => `dpkg-query -W -f='\${Status}' ${shellQuote(n)} 2>/dev/null | grep -q 'install ok installed' || echo ${shellQuote(n)}`)
      : names.map((n) => `rpm -q ${shellQuote(n)} >/dev/null 2>&1 || echo ${shellQuote(n)}`);
  return (await ssh.check(query.join('\n'))).split('\n').filter(Boolean);
}

/** The worker's copy of the topology's bundle, checked whole; a problem is the step's failure. */
export async function topologyBundle(topology: Topology): Promise<VerifiedBundle | undefined> {
  if (!topology.packages) return undefined;
  try {
    return await verifyBundle(topology.packages.bundle, topology, bundlePackagesFor(topology));
  } catch (err) {
    throw err instanceof BundleError ? bundleFailure(err) : err;
  }
}

/** Installs what is missing from the hosts' own package sources. */
async function installFromSources(ssh: SshSession, family: PackageFamily, missing: string[]): Promise<void> {
  const install =
    family === 'apt'
      ? `DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing.map(shellQuote).join(' ')}`
      : `dnf install -y ${missing.map(shellQuote).join(' ')}`;
  await ssh.check(install, { sudo: true, timeoutMs: 30 * 60_000 });
}

/**
 * Installs what is missing from the offline bundle: the host must be the bundle's OS release and
 * architecture; afterwards every package installed from it must have the bundle's version.
 * Packages the host already had are left at their version (said in the summary).
 */
async function installFromOfflineBundle(ssh: SshSession, bundle: VerifiedBundle, wanted: string[], missing: string[], check: boolean): Promise<{ actions: string[]; notes: string[] }> {
  const { manifest } = bundle;
  const platform = await hostPlatform(ssh);
  if (platform.os !== manifest.os || platform.architecture !== manifest.architecture) {
    throw guardFailed(
      `${ssh.target.name} runs ${platform.os} ${platform.architecture}, but the bundle ${bundle.dir} holds packages for ${manifest.os} ${manifest.architecture}`,
      `build a bundle on a machine of ${platform.os} ${platform.architecture} with its package mirror (haflow bundle <topology> <dir>) and set packages.bundle to it`,
    );
  }
  const actions: string[] = [];
  const mb = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  if (missing.length > 0) {
    const list = missing.map((p) => `${p} ${manifest.packages[p]}`).join(', ');
    if (check) {
      actions.push(`would upload from bundle ${bundle.id} the packages apt needs (of ${manifest.files.length}, ${mb(bundle.bytes)} in all) to ${hostBundleDir(bundle)}`, `would install from it ${list}`);
    } else {
      const sent = await uploadBundle(ssh, bundle, missing);
      actions.push(`uploaded from bundle ${bundle.id} the ${sent.files} file(s) apt needs (${mb(sent.bytes)}) to ${hostBundleDir(bundle)}, checksums verified`);
      await installFromBundle(ssh, bundle, missing);
      actions.push(`installed from it ${list}`);
    }
  }
  const notes: string[] = [];
  if (check && missing.length > 0) return { actions, notes };
  const versions = await installedVersions(ssh, wanted);
  const wrong = missing.filter((p) => versions.get(p) !== manifest.packages[p]);
  if (wrong.length > 0) {
    throw ApplicationFailure.create({
      type: StepFailureTypes.commandFailed,
      message: `${ssh.target.name}: after installing from the bundle, ${wrong.map((p) => `${p} is ${versions.get(p) ?? 'not installed'} (the bundle has ${manifest.packages[p]})`).join('; ')}`,
      details: [{ remedy: `look at apt's log on ${ssh.target.name} (/var/log/apt/term.log), then retry the step` }],
    });
  }
  const older = wanted.filter((p) => !missing.includes(p) && versions.get(p) !== manifest.packages[p]);
  if (older.length > 0) notes.push(`left as found: ${older.map((p) => `${p} ${versions.get(p)} (bundle: ${manifest.packages[p]})`).join(', ')}`);
  return { actions, notes };
}

/** Whether Debian's <version>/main keeps its data in Patroni's data directory: then it is the cluster, not a leftover. */
async function debianClusterIsPatroniData(ssh: SshSession, topology: Topology): Promise<boolean> {
  const listed = await ssh.exec(`pg_lsclusters -h 2>/dev/null | awk '$1 == ${topology.postgresql.version} && $2 == "main" {print $6}'`, { sudo: true });
  return listed.stdout.trim().replace(/\/+$/, '') === topology.postgresql.data_dir.replace(/\/+$/, '');
}

export async function ensurePackages(input: HostInput): Promise<StepResult> {
  const bundle = await topologyBundle(input.topology);
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const family = await packageFamily(ssh);
    const wanted = packagesFor(topology, host, family);
    const missing = await missingPackages(ssh, family, wanted);
    const actions: string[] = [];
    const notes: string[] = [];
    if (bundle) {
      if (family !== 'apt') throw guardFailed(`${host.name} uses dnf, but bundles hold Debian/Ubuntu packages`, 'remove packages.bundle from the topology and give the host a package source (a local mirror)');
      const done = await installFromOfflineBundle(ssh, bundle, wanted, missing, check);
      actions.push(...done.actions);
      notes.push(...done.notes);
    } else if (missing.length > 0) {
      if (check) actions.push(`would install ${missing.join(' ')}`);
      else {
        await installFromSources(ssh, family, missing);
        actions.push(`installed ${missing.join(' ')}`);
      }
    }
    // In the classic layout Debian's cluster is the application's database: it stays, running.
    // So does one whose data directory Patroni runs (a cluster migrated from the classic layout).
    const classicDatabase = host.roles.includes('db') && (topology.layout === 'classic' || (await debianClusterIsPatroniData(ssh, topology)));
    for (const component of COMPONENTS) {
      if (classicDatabase && component.name === 'postgres') continue;
      // Leave alone what haflow configured on a host whose role runs it; stop everything else
      // (PostgreSQL's own service always in the Patroni layouts: Patroni runs PostgreSQL).
      const main = runsOn(component, topology, host) ? component.files(topology, host, secretPlaceholder)[0] : undefined;
      if (main) {
        const configured = await ssh.exec(`grep -q ${shellQuote(MANAGED_MARKER)} ${shellQuote(main.path)} 2>/dev/null`, { sudo: true });
        if (configured.code === 0) continue;
      }
      actions.push(...(await ensureUnit(ssh, component.service, { running: false, enabled: false }, check)));
    }
    if (host.roles.includes('db') && family === 'apt' && !classicDatabase) actions.push(...(await dropDebianDefaultCluster(ssh, topology, check)));
    const from = bundle ? ` from bundle ${bundle.id}` : '';
    return stepResult(actions, `${host.name}: ${wanted.length > 0 ? wanted.join(' ') : 'no role packages'} installed${from}; no stray services`, notes);
  });
}
