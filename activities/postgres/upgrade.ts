// A minor upgrade of PostgreSQL on one DB node (15.18 to 15.20, say): the packages of the same
// major version upgraded from the host's package sources, and the version PostgreSQL runs
// compared with the one installed (a running postmaster keeps its old binaries until it is
// restarted). Debian and Ubuntu hosts (apt); the parsing is pure.
import { ApplicationFailure } from '@temporalio/common';
import { dbHosts, postgresBinDir, type Topology } from '../../topology';
import { StepFailureTypes, type HostInput, type StepResult } from '../contract';
import { memberStatus } from '../patroni/rest';
import type { SshSession } from '../shared/ssh';
import { shellQuote } from '../shared/shell';
import { guardFailed, onHost, stepResult } from '../shared/step';
import { parsePostgresVersion, serverVersionText } from './version';

/** The packages of one major version that a minor upgrade moves together (those installed). */
export const minorPackages = (major: number) => [`postgresql-${major}`, `postgresql-client-${major}`, 'libpq5'];

/** `apt-cache policy <pkg>`: what is installed and what the sources offer. */
export function parseAptPolicy(text: string): { installed?: string; candidate?: string } {
  const field = (name: string) => {
    const value = new RegExp(`^\\s*${name}:\\s*(\\S+)`, 'm').exec(text)?.[1];
    return value && value !== '(none)' ? value : undefined;
  };
  return { installed: field('Installed'), candidate: field('Candidate') };
}

async function requireApt(ssh: SshSession): Promise<void> {
  const apt = await ssh.exec('command -v apt-get >/dev/null && command -v apt-cache >/dev/null');
  if (apt.code !== 0) {
    throw guardFailed(`${ssh.target.name} has no apt-get: haflow's minor upgrade supports Debian and Ubuntu hosts`, `upgrade PostgreSQL's packages on ${ssh.target.name} by hand, one node at a time, then \`haflow resume <cluster> --skip\``);
  }
}

/** The same-major packages installed on the host, each with its installed and candidate version. */
async function packageVersions(ssh: SshSession, major: number): Promise<{ name: string; installed: string; candidate?: string }[]> {
  const found: { name: string; installed: string; candidate?: string }[] = [];
  for (const name of minorPackages(major)) {
    const policy = parseAptPolicy(await ssh.check(`apt-cache policy ${shellQuote(name)}`));
    if (policy.installed) found.push({ name, installed: policy.installed, candidate: policy.candidate });
  }
  return found;
}

/** The version of the installed server binaries (the topology's bin_dir). */
export async function installedServerVersion(ssh: SshSession, topology: Topology): Promise<string> {
  const out = await ssh.check(`${shellQuote(`${postgresBinDir(topology)}/postgres`)} --version`);
  const version = parsePostgresVersion(out);
  if (!version) throw new Error(`${ssh.target.name}: cannot read the version from \`postgres --version\`: ${out.trim()}`);
  return version;
}

/**
 * The host's PostgreSQL packages of the topology's major version upgraded to the newest its
 * sources offer (`apt-get install --only-upgrade`): never another major version, whose packages
 * have other names. Idempotent: nothing to do once the installed versions are the candidates.
 */
export async function upgradePostgresPackages(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const major = topology.postgresql.version;
    await requireApt(ssh);
    // Fresh package lists, as the operator's `apt-get update` would; check mode reads what is there.
    if (!check) await ssh.check('apt-get update -qq', { sudo: true, timeoutMs: 10 * 60_000 });
    const before = await packageVersions(ssh, major);
    const server = before.find((p) => p.name === `postgresql-${major}`);
    if (!server) throw guardFailed(`${host.name} has no postgresql-${major} package installed`, `install it first (\`haflow install\`), or fix postgresql.version in the topology`);
    const outdated = before.filter((p) => p.candidate && p.candidate !== p.installed);
    if (outdated.length === 0) return stepResult([], `${host.name}: ${before.map((p) => `${p.name} ${p.installed}`).join(', ')}, the newest its sources offer`);
    const change = outdated.map((p) => `${p.name} ${p.installed} → ${p.candidate}`).join(', ');
    if (check) return stepResult([`would upgrade ${change}`], '');
    // --force-confold keeps every configuration file as it is: haflow manages Patroni's, not the package's.
    await ssh.check(
      `DEBIAN_FRONTEND=noninteractive apt-get install -y --only-upgrade -o Dpkg::Options::=--force-confold ${outdated.map((p) => shellQuote(p.name)).join(' ')}`,
      { sudo: true, timeoutMs: 30 * 60_000 },
    );
    const after = await packageVersions(ssh, major);
    const missed = after.filter((p) => p.candidate && p.candidate !== p.installed);
    if (missed.length > 0) {
      throw ApplicationFailure.create({
        type: StepFailureTypes.commandFailed,
        message: `${host.name}: after apt-get, still not the candidate: ${missed.map((p) => `${p.name} ${p.installed} (candidate ${p.candidate})`).join(', ')}`,
        details: [{ remedy: `see \`apt-cache policy ${missed.map((p) => p.name).join(' ')}\` on ${host.name}` }],
      });
    }
    return stepResult([`upgraded ${change}`], '', [`PostgreSQL on ${host.name} runs the old binaries until it is restarted`]);
  });
}

/** PostgreSQL on the host runs the version of its installed binaries (restarted since the packages changed). */
export async function postgresRunsInstalledVersion(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const installed = await installedServerVersion(ssh, input.topology);
    const status = await memberStatus(input);
    const running = status.server_version ? serverVersionText(status.server_version) : undefined;
    if (running !== installed) {
      throw guardFailed(
        `PostgreSQL on ${host.name} runs ${running ?? 'an unknown version'} while ${installed} is installed`,
        `restart it through Patroni (\`patronictl restart\`), or \`haflow resume ${input.topology.cluster} --retry\``,
      );
    }
    return stepResult([], `${host.name} runs PostgreSQL ${running}, the installed version`, [], { version: running });
  });
}

/** Every DB node runs the same PostgreSQL version (after a rolling upgrade), as each one's Patroni reports it. */
export async function postgresVersionsAgree(input: Omit<HostInput, 'host'>): Promise<StepResult> {
  const { topology } = input;
  const versions = await Promise.all(
    dbHosts(topology).map(async (host) => {
      const status = await memberStatus({ ...input, host: host.name });
      return { host: host.name, version: status.server_version ? serverVersionText(status.server_version) : 'unknown' };
    }),
  );
  const distinct = [...new Set(versions.map((v) => v.version))];
  const list = versions.map((v) => `${v.host} ${v.version}`).join(', ');
  if (distinct.length !== 1 || distinct[0] === 'unknown') {
    throw guardFailed(`the DB nodes do not all run the same PostgreSQL version: ${list}`, `finish the upgrade: \`haflow resume ${topology.cluster} --retry\`, or \`haflow upgrade ${topology.cluster} --minor\` again`);
  }
  return stepResult([], `every DB node runs PostgreSQL ${distinct[0]} (${list})`, [], Object.fromEntries(versions.map((v) => [`version@${v.host}`, v.version])));
}
