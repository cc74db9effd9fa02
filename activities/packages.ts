// Packages for each host's roles (apt or dnf), as the components list them, and the services
// Debian and Ubuntu start on install: etcd on 127.0.0.1:2379, HAProxy with its sample config,
// Patroni, and a default PostgreSQL cluster on 5432. They are stopped and disabled (unless
// haflow configured them), and the default cluster is dropped, so they cannot collide with
// the ones haflow configures.
import type { Host, Topology } from '../topology';
import { COMPONENTS, componentsOn, secretPlaceholder } from './components';
import type { HostInput, StepResult } from './contract';
import { dropDebianDefaultCluster } from './postgres/activities';
import { MANAGED_MARKER, type PackageFamily } from './shared/component';
import { ensureUnit } from './shared/services';
import { shellQuote, type SshSession } from './shared/ssh';
import { onHost, stepResult } from './shared/step';

/** Package names for a host's roles, component by component. */
export function packagesFor(topology: Topology, host: Host, family: PackageFamily): string[] {
  return [...new Set(componentsOn(host).flatMap((c) => c.packages(topology, family)))];
}

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
    for (const component of COMPONENTS) {
      // Leave alone what haflow configured on a host whose role runs it; stop everything else
      // (PostgreSQL's own service always: Patroni runs PostgreSQL).
      const main = host.roles.includes(component.role) ? component.files(topology, host, secretPlaceholder)[0] : undefined;
      if (main) {
        const configured = await ssh.exec(`grep -q ${shellQuote(MANAGED_MARKER)} ${shellQuote(main.path)} 2>/dev/null`, { sudo: true });
        if (configured.code === 0) continue;
      }
      actions.push(...(await ensureUnit(ssh, component.service, { running: false, enabled: false }, check)));
    }
    if (host.roles.includes('db') && family === 'apt') actions.push(...(await dropDebianDefaultCluster(ssh, topology, check)));
    return stepResult(actions, `${host.name}: ${wanted.length > 0 ? wanted.join(' ') : 'no role packages'} installed; no stray services`);
  });
}
