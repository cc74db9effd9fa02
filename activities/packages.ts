// Packages for each host's roles (apt or dnf), and the services Debian and Ubuntu start on
// install: etcd on 127.0.0.1:2379, HAProxy with its sample config, Patroni, and a default
// PostgreSQL cluster on 5432. They are stopped and disabled, and the default cluster is
// dropped, so they cannot collide with the ones haflow configures.
import type { StepResult } from '../workflows/runbook';
import type { Host, Topology } from '../topology';
import { backupStamp } from './remote-files';
import { ensureUnit } from './services';
import { shellQuote, type SshSession } from './ssh';
import { onHost, stepResult, type HostInput } from './step';

export type PackageFamily = 'apt' | 'dnf';

/** Package names per role; PostgreSQL's follow the major version. */
export function packagesFor(topology: Topology, host: Host, family: PackageFamily): string[] {
  const v = topology.postgresql.version;
  const byRole: Record<string, Record<PackageFamily, string[]>> = {
    db: { apt: [`postgresql-${v}`, 'patroni', 'python3-etcd', 'python3-psycopg2'], dnf: [`postgresql${v}-server`, 'patroni', 'patroni-etcd'] },
    etcd: { apt: ['etcd-server', 'etcd-client'], dnf: ['etcd'] },
    haproxy: { apt: ['haproxy'], dnf: ['haproxy'] },
  };
  return [...new Set(host.roles.flatMap((role) => byRole[role]?.[family] ?? []))];
}

/** Which config file shows that haflow already configured a service (so it is not "Debian's"). */
const MANAGED_BY_HAFLOW: Record<string, { role: string; file: string }> = {
  etcd: { role: 'etcd', file: '/etc/default/etcd' },
  haproxy: { role: 'haproxy', file: '/etc/haproxy/haproxy.cfg' },
  patroni: { role: 'db', file: '/etc/patroni/config.yml' },
};

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

/** Debian's auto-created cluster (e.g. 15/main): dropped, after a backup if it holds any database of its own. */
async function dropDefaultCluster(ssh: SshSession, topology: Topology, check: boolean): Promise<string[]> {
  const version = topology.postgresql.version;
  const listed = await ssh.exec(`pg_lsclusters -h 2>/dev/null | awk '$1 == ${version} && $2 == "main" {print $6}'`, { sudo: true });
  const dataDir = listed.stdout.trim();
  if (!dataDir) return [];
  // template0, template1 and postgres are all a fresh cluster has in base/.
  const userData = await ssh.exec(`[ "$(ls ${shellQuote(dataDir)}/base 2>/dev/null | wc -l)" -gt 3 ] && echo yes || echo no`, { sudo: true });
  const archive = `/var/backups/haflow/postgresql-${version}-main-${backupStamp()}.tar.gz`;
  const actions = [
    ...(userData.stdout.trim() === 'yes' ? [`back up ${dataDir} to ${archive}`] : []),
    `drop Debian's default cluster ${version}/main (pg_dropcluster --stop ${version} main)`,
  ];
  if (check) return actions.map((a) => `would ${a}`);
  if (userData.stdout.trim() === 'yes') {
    await ssh.check(`mkdir -p /var/backups/haflow && tar -czf ${archive} -C ${shellQuote(dataDir)} .`, { sudo: true });
  }
  await ssh.check(`pg_dropcluster --stop ${version} main`, { sudo: true });
  return actions;
}

export async function ensurePackages(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const family = await packageFamily(ssh);
    const wanted = packagesFor(topology, host, family);
    const missing = await missingPackages(ssh, family, wanted);
    const actions: string[] = [];
    if (missing.length > 0) {
      if (check) {
        actions.push(`would install ${missing.join(' ')}`);
      } else {
        const install =
          family === 'apt'
            ? `DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing.map(shellQuote).join(' ')}`
            : `dnf install -y ${missing.map(shellQuote).join(' ')}`;
        await ssh.check(install, { sudo: true, timeoutMs: 30 * 60_000 });
        actions.push(`installed ${missing.join(' ')}`);
      }
    }
    for (const [service, managed] of Object.entries(MANAGED_BY_HAFLOW)) {
      const configured = await ssh.exec(`grep -q 'Managed by haflow' ${managed.file} 2>/dev/null`, { sudo: true });
      // Leave alone what haflow configured on a host whose role runs it; stop everything else.
      if (host.roles.includes(managed.role as Host['roles'][number]) && configured.code === 0) continue;
      actions.push(...(await ensureUnit(ssh, service, { running: false, enabled: false }, check)));
    }
    if (host.roles.includes('db')) {
      // Patroni runs PostgreSQL itself: Debian's umbrella service must not start clusters.
      actions.push(...(await ensureUnit(ssh, 'postgresql', { running: false, enabled: false }, check)));
      if (family === 'apt') actions.push(...(await dropDefaultCluster(ssh, topology, check)));
    }
    return stepResult(actions, `${host.name}: ${wanted.length > 0 ? wanted.join(' ') : 'no role packages'} installed; no stray services`);
  });
}
