// Preflight: the guide's prerequisites and best practices, checked before anything changes.
// Per host: SSH (with the host key), sudo, OS, PostgreSQL, disk, existing HA configuration.
// Across hosts: identical versions on DB nodes, clocks in sync, the firewall matrix, and every
// password set and usable where it goes.
import { ApplicationFailure } from '@temporalio/common';
import { dbHosts, firewallMatrix, hostOs, osSupported, postgresBinDir, type Host, type Topology } from '../topology';
import { etcdAuthPasswords } from './etcd/auth';
import { repositoryPassphraseProblem } from './backup/activities';
import { COMPONENTS, hostFiles } from './components';
import { StepFailureTypes, type ClusterInput, type HostInput, type StepResult } from './contract';
import { MANAGED_MARKER } from './shared/component';
import { archiveCommand, backupStamp, BACKUP_DIR, readRemoteFile } from './shared/remote-files';
import { etcdDefaultsPath, etcdSchemeChange } from './etcd/config';
import { describeSecret, resolveSecret, secretValue } from './shared/secrets';
import { AppConfigError, refuseUnreadablePassword } from './app/config';
import { topologyBundle } from './packages/activities';
import type { SshSession } from './shared/ssh';
import { shellQuote } from './shared/shell';
import { guardFailed, onEachHost, onHost, stepResult } from './shared/step';

/** Free space the data directory's file system needs before a cluster is created there. */
export const MIN_FREE_BYTES = 1024 ** 3;

export interface HostFacts {
  os: string;
  /** PostgreSQL major version installed at the topology's bin_dir, if any. */
  postgresMajor?: number;
}

export async function hostFacts(ssh: SshSession, topology: Topology, host: Host): Promise<HostFacts> {
  const binDir = postgresBinDir(topology);
  const out = await ssh.check(
    `. /etc/os-release; echo "os=$ID $VERSION_ID"; ` +
      `if [ -x ${shellQuote(binDir)}/postgres ]; then echo "pg=$(${shellQuote(binDir)}/postgres --version)"; fi`,
  );
  const os = out.match(/^os=(.*)$/m)?.[1]?.trim() ?? 'unknown';
  const pg = out.match(/^pg=.*?(\d+)(\.\d+)?/m);
  return { os, postgresMajor: host.roles.includes('db') && pg ? Number(pg[1]) : undefined };
}

/** Existing HA configuration that haflow did not write: the guide says back it up first. */
async function foreignHaConfig(ssh: SshSession, topology: Topology): Promise<string[]> {
  const haDir = topology.app?.ha_dir ?? '/opt/HA';
  const script = [
    ...COMPONENTS.flatMap((c) => c.foreignConfigs).map(
      ({ path, pattern }) =>
        `if [ -f ${shellQuote(path)} ] && ! grep -q ${shellQuote(MANAGED_MARKER)} ${shellQuote(path)} && grep -qE ${shellQuote(pattern)} ${shellQuote(path)}; then echo ${shellQuote(path)}; fi`,
    ),
    `if [ -d ${shellQuote(haDir)} ] && [ -n "$(ls -A ${shellQuote(haDir)} 2>/dev/null)" ] && [ ! -e ${shellQuote(haDir)}/.haflow ]; then echo ${shellQuote(haDir)}; fi`,
  ].join('\n');
  return (await ssh.check(script, { sudo: true })).split('\n').filter(Boolean);
}

/** `movingToTls`: the run moves the cluster from plain text to TLS (runbooks/tls-move.ts), so etcd on http is expected. */
export async function preflightHost(input: HostInput & { movingToTls?: boolean }): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology } = input;
    const problems: { found: string; remedy: string }[] = [];
    if (ssh.target.user !== 'root' && topology.ssh.sudo) {
      const sudo = await ssh.exec('sudo -n true');
      if (sudo.code !== 0) {
        problems.push({
          found: `sudo does not work without a password for ${ssh.target.user}: ${sudo.stderr.trim()}`,
          remedy: `allow it: echo '${ssh.target.user} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/${ssh.target.user}`,
        });
      }
    }
    const facts = await hostFacts(ssh, topology, host);
    const declared = hostOs(topology, host);
    if (declared && !osSupported(facts.os, [declared])) {
      problems.push({
        found: `${host.name} runs ${facts.os}, but the topology says ${declared}`,
        remedy: `correct ${host.os ? `hosts[${topology.hosts.indexOf(host)}].os` : 'os'} in the topology to ${facts.os}, or install on a machine that runs ${declared}`,
      });
    } else if (!osSupported(facts.os, topology.supported_os)) {
      problems.push({
        found: `OS ${facts.os} is not supported (supported_os: ${topology.supported_os.join(', ')})`,
        remedy: 'use a supported OS, or add this one to supported_os in the topology if you accept the risk',
      });
    }
    if (host.roles.includes('db')) {
      const { version, allowed_versions: allowed } = topology.postgresql;
      if (facts.postgresMajor === undefined) {
        // Not installed yet is fine: the packages step installs it.
      } else if (facts.postgresMajor !== version || !allowed.includes(facts.postgresMajor)) {
        problems.push({
          found: `PostgreSQL ${facts.postgresMajor} is installed at ${postgresBinDir(topology)}, but the topology asks for ${version} (allowed: ${allowed.join(', ')})`,
          remedy: `install PostgreSQL ${version} on ${host.name}, or set postgresql.version to the installed version`,
        });
      }
      const dataParent = topology.postgresql.data_dir.replace(/\/[^/]+\/?$/, '') || '/';
      const df = await ssh.check(`d=${shellQuote(dataParent)}; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; df -Pk "$d" | tail -1`);
      const freeBytes = Number(df.trim().split(/\s+/)[3]) * 1024;
      if (freeBytes < MIN_FREE_BYTES) {
        problems.push({
          found: `only ${(freeBytes / 1024 ** 3).toFixed(2)} GiB free for ${topology.postgresql.data_dir}`,
          remedy: `free at least ${MIN_FREE_BYTES / 1024 ** 3} GiB on that file system, or set postgresql.data_dir elsewhere`,
        });
      }
    }
    if (host.roles.includes('etcd')) {
      const change = etcdSchemeChange((await readRemoteFile(ssh, etcdDefaultsPath)).content, topology, { movingToTls: input.movingToTls === true });
      if (change) problems.push(change);
    }
    if (host.roles.includes('backup') && topology.backup) {
      const passphrase = await repositoryPassphraseProblem(ssh, topology);
      if (passphrase) problems.push(passphrase);
    }
    if (problems.length > 0) {
      throw guardFailed(`${host.name}: ${problems.map((p) => p.found).join('; ')}`, problems.map((p) => p.remedy).join('; '));
    }
    const existing = await foreignHaConfig(ssh, topology);
    const facts1 = `${facts.os}${facts.postgresMajor ? `, PostgreSQL ${facts.postgresMajor}` : ''}, sudo ok`;
    if (existing.length === 0) return stepResult([], `${host.name}: ${facts1}; no earlier HA configuration`);
    const archive = `${BACKUP_DIR}/preexisting-${backupStamp()}.tar.gz`;
    if (input.check) return stepResult([`would back up the existing HA configuration ${existing.join(', ')} to ${archive}`], '');
    const already = await ssh.exec(`ls ${BACKUP_DIR}/preexisting-*.tar.gz 2>/dev/null | head -1`, { sudo: true });
    if (already.stdout.trim()) {
      return stepResult([], `${host.name}: ${facts1}; earlier HA configuration already backed up in ${already.stdout.trim()}`);
    }
    await ssh.check(archiveCommand(archive, existing), { sudo: true });
    return stepResult([`backed up the existing HA configuration ${existing.join(', ')} to ${archive}`], '');
  });
}

/** How far each host's clock is from the worker's, corrected for the round trip. */
async function clockOffset(ssh: SshSession): Promise<number> {
  const before = Date.now();
  const out = await ssh.check('date +%s.%N');
  const after = Date.now();
  return Number(out.trim()) * 1000 - (before + after) / 2;
}

type PortProbe = 'open' | 'refused' | 'blocked' | 'unresolved';

/** From one host, whether each target port answers, refuses (both mean reachable) or times out (blocked). */
async function probePorts(ssh: SshSession, targets: { address: string; port: number }[]): Promise<PortProbe[]> {
  const lines = targets.map(
    ({ address, port }, i) =>
      `( r=$(timeout 3 bash -c 'exec 3<>/dev/tcp/${address}/${port}' 2>&1); c=$?; ` +
      `if [ $c = 0 ]; then echo "${i} open"; elif [ $c = 124 ]; then echo "${i} blocked"; ` +
      `elif echo "$r" | grep -qi refused; then echo "${i} refused"; else echo "${i} unresolved"; fi ) &`,
  );
  const out = await ssh.check(`${lines.join('\n')}\nwait`, { timeoutMs: 30_000 });
  const results: PortProbe[] = targets.map(() => 'unresolved');
  for (const line of out.split('\n').filter(Boolean)) {
    const [index, verdict] = line.split(' ');
    results[Number(index)] = verdict as PortProbe;
  }
  return results;
}

/**
 * Every password the install will use, resolved now with the rules of the file or command it goes
 * into (set, one line, and what that file or command can take): one that cannot work blocks
 * preflight, before anything changes, rather than a step half-way through. Returns how many.
 */
export function installSecretsUsable(topology: Topology): number {
  let count = 0;
  for (const host of topology.hosts) {
    hostFiles(topology, host, (ref, field, rules) => {
      count++;
      return secretValue(ref, field, rules);
    });
  }
  if (topology.etcd.auth) count += Object.keys(etcdAuthPasswords(topology)).length;
  if (topology.app) {
    const password = resolveSecret(topology.app.db_password, 'app.db_password');
    try {
      refuseUnreadablePassword(topology, password);
    } catch (err) {
      if (!(err instanceof AppConfigError)) throw err;
      throw ApplicationFailure.create({
        type: StepFailureTypes.invalidConfig,
        nonRetryable: true,
        message: `app.db_password: ${err.message}`,
        details: [{ remedy: `choose another password in ${describeSecret(topology.app.db_password)}, or change that file's format in app.config_files, then retry` }],
      });
    }
    count++;
  }
  return count;
}

export async function preflightCluster(input: ClusterInput): Promise<StepResult> {
  const { topology } = input;
  const secrets = installSecretsUsable(topology);
  // A missing or damaged offline bundle blocks here, before any host changes.
  const bundle = await topologyBundle(topology);
  const problems: { found: string; remedy: string }[] = [];
  const hosts = topology.hosts;
  const matrix = firewallMatrix(topology);
  const results = await onEachHost(topology, hosts, async (ssh, host) => {
    const rules = matrix.filter((r) => r.from.name === host.name);
    return {
      host,
      facts: await hostFacts(ssh, topology, host),
      offset: await clockOffset(ssh),
      probes: (await probePorts(ssh, rules.map((r) => ({ address: r.to.address, port: r.port })))).map((verdict, i) => ({ rule: rules[i], verdict })),
    };
  });
  const dbs = results.filter((r) => dbHosts(topology).some((h) => h.name === r.host.name));
  const osVersions = new Set(dbs.map((r) => r.facts.os));
  if (osVersions.size > 1) {
    problems.push({
      found: `DB nodes run different OS versions: ${dbs.map((r) => `${r.host.name} ${r.facts.os}`).join(', ')}`,
      remedy: 'use the same OS and version on all DB nodes (version drift causes replication failures)',
    });
  }
  const pgVersions = new Set(dbs.map((r) => r.facts.postgresMajor ?? 'none'));
  if (pgVersions.size > 1) {
    problems.push({
      found: `DB nodes have different PostgreSQL major versions: ${dbs.map((r) => `${r.host.name} ${r.facts.postgresMajor ?? 'none'}`).join(', ')}`,
      remedy: `install PostgreSQL ${topology.postgresql.version} on every DB node`,
    });
  }
  const offsets = results.map((r) => r.offset);
  const spread = Math.max(...offsets) - Math.min(...offsets);
  if (spread > 1000) {
    problems.push({
      found: `clocks differ by ${(spread / 1000).toFixed(1)} s (${results.map((r) => `${r.host.name} ${(r.offset / 1000).toFixed(2)} s`).join(', ')} from the worker)`,
      remedy: 'run NTP (chrony or systemd-timesyncd) on every machine and wait until the clocks agree within 1 s: etcd leader election depends on it',
    });
  }
  const blocked = results.flatMap((r) => r.probes.filter((p) => p.verdict === 'blocked' || p.verdict === 'unresolved'));
  if (blocked.length > 0) {
    problems.push({
      found: `ports not reachable: ${blocked.map((p) => `${p.rule.from.name} → ${p.rule.to.name}:${p.rule.port} (${p.rule.purpose}, ${p.verdict === 'blocked' ? 'timed out' : 'no route'})`).join('; ')}`,
      remedy: 'open these ports at the OS firewall and in the network between the machines (the guide\'s "Machines cannot communicate with each other")',
    });
  }
  if (problems.length > 0) throw guardFailed(problems.map((p) => p.found).join('; '), problems.map((p) => p.remedy).join('; '));
  return stepResult(
    [],
    `${dbs.length} DB node(s) on ${[...osVersions][0] ?? 'n/a'} with PostgreSQL ${[...pgVersions][0]}; clocks within ${(spread / 1000).toFixed(2)} s; ${matrix.length} firewall paths reachable; ${secrets} password(s) set and usable${
      bundle ? `; bundle ${bundle.id} (${bundle.manifest.os} ${bundle.manifest.architecture}, ${bundle.manifest.files.length} packages) intact and complete` : ''
    }`,
  );
}

