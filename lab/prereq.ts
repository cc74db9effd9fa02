// What the lab needs from the box before it can create machines: root, Linux namespaces,
// cgroup v2, iptables with the cgroup match, the Debian packages, the daemonless systemctl
// and the lab's SSH key pair. Each missing piece is reported with the command that fixes it.
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { LAB_PACKAGES, labPaths, labSources } from './paths';

const run = promisify(execFile);

export class LabError extends Error {
  override name = 'LabError';
}

/** The cgroup2 mount point: /sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on hybrid ones. */
export function cgroup2Root(): string {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n');
  const line = mounts.find((l) => l.split(' ')[2] === 'cgroup2');
  if (!line) {
    throw new LabError('the lab needs cgroup v2 (to tell machines apart in iptables rules), and none is mounted: mount -t cgroup2 none /sys/fs/cgroup/unified');
  }
  return line.split(' ')[1];
}

const REQUIRED_COMMANDS: Record<string, string> = {
  unshare: 'util-linux',
  tini: 'tini',
  '/usr/sbin/sshd': 'openssh-server',
  iptables: 'iptables',
  'ssh-keygen': 'openssh-client',
  useradd: 'passwd',
  patroni: 'patroni',
  etcd: 'etcd-server',
  etcdctl: 'etcd-client',
  '/usr/sbin/haproxy': 'haproxy',
  '/usr/sbin/nginx': 'nginx',
  '/usr/lib/postgresql/15/bin/postgres': 'postgresql-15',
  rsync: 'rsync',
  openssl: 'openssl',
  sudo: 'sudo',
  curl: 'curl',
};

async function hasCommand(command: string): Promise<boolean> {
  if (command.startsWith('/')) return existsSync(command);
  return run('sh', ['-c', `command -v ${command}`]).then(
    () => true,
    () => false,
  );
}

export async function checkPrerequisites(): Promise<void> {
  if (process.platform !== 'linux') throw new LabError('the lab needs Linux (namespaces, cgroups, iptables)');
  if (process.getuid?.() !== 0) {
    throw new LabError('the lab needs root: it creates namespaces, mounts, cgroups and iptables rules (run it as root, e.g. with sudo)');
  }
  const missing: string[] = [];
  for (const [command, pkg] of Object.entries(REQUIRED_COMMANDS)) {
    if (!(await hasCommand(command))) missing.push(pkg);
  }
  if (missing.length > 0) {
    throw new LabError(
      `the lab needs these Debian packages, which are missing: ${[...new Set(missing)].join(' ')}\n` +
        `install them with: apt-get update && apt-get install -y --no-install-recommends ${LAB_PACKAGES.join(' ')}`,
    );
  }
  await run('unshare', ['--mount', '--uts', '--ipc', '--pid', '--fork', '--mount-proc', 'true']).catch((err: { stderr?: string }) => {
    throw new LabError(`the lab needs Linux mount, UTS, IPC and PID namespaces, and unshare failed: ${err.stderr?.trim() ?? err}`);
  });
  cgroup2Root();
  await run('iptables', ['-m', 'cgroup', '--help']).catch(() => {
    throw new LabError('the lab needs iptables with the cgroup match (xt_cgroup) to partition machines');
  });
}

/**
 * Debian's `systemctl` package: a daemonless systemctl in one Python file that reads the
 * real unit files. It conflicts with systemd, so it is unpacked into the lab, not installed.
 * A few small fixes make it behave like systemd for Debian's units; each is checked to apply.
 */
const SYSTEMCTL_PATCHES: { why: string; find: string; replace: string; everywhere?: boolean }[] = [
  {
    why: 'a regular expression with \\w is a raw string, or Python 3.12 and later (Debian 13) warn on every call',
    find: 're.sub("[$]',
    replace: 're.sub(r"[$]',
    everywhere: true,
  },
  {
    why: 'EnvironmentFile=-/etc/default/%p (etcd.service) must name the file, not a shell-quoted one',
    find: 'self.read_env_file(self.expand_special(env_file, conf))',
    replace: `self.read_env_file(self.expand_special(env_file, conf).replace("'", ""))`,
  },
  {
    why: 'Environment=ETCD_NAME=%H needs the %H (host name) specifier',
    find: '            confs["f"] = sh_escape(conf.filename())\n',
    replace: '            confs["f"] = sh_escape(conf.filename())\n            confs["H"] = os.uname()[1]\n',
  },
  {
    why: 'a unit with a PIDFile= that failed to start is "failed", as systemd says, not "inactive"',
    find: '        if pid_file: # application PIDFile\n            if not os.path.exists(pid_file):\n                return "inactive"\n',
    replace:
      '        if pid_file: # application PIDFile\n            if not os.path.exists(pid_file):\n' +
      '                if self.get_status_from(conf, "ActiveState", "") == "failed":\n                    return "failed"\n' +
      '                return "inactive"\n',
  },
  {
    why: 'is-active reports a running unit as "active" whether or not it is enabled, as systemd does (not "unknown")',
    find: '                if enabled != "enabled": active = "unknown"\n',
    replace: '',
  },
  {
    why: 'an instance of a template unit (postgresql@15-main.service) is named by the instance, so %i expands to 15-main',
    find: '            service = "%s@.service" % unit.prefix\n            return self.load_sysd_unit_conf(service)\n',
    replace:
      '            service = "%s@.service" % unit.prefix\n            conf = self.load_sysd_unit_conf(service)\n' +
      '            if conf is not None:\n                conf = SystemctlConf(conf.data, module)\n                conf._root = self._root\n' +
      '                conf.data.set("Unit", "Id", module)\n            return conf\n',
  },
  {
    why: 'a service starts in / unless its unit sets WorkingDirectory=, as under systemd, not where systemctl was called',
    find: '        if self._root:\n            os.chdir(self._root)\n        workingdir = conf.get("Service", "WorkingDirectory", "")',
    replace: '        os.chdir(self._root or "/")\n        workingdir = conf.get("Service", "WorkingDirectory", "")',
  },
  {
    why: 'PIDFile=/run/postgresql/%i.pid (postgresql@.service) must name the file, not a shell-quoted one',
    find: '        return self.expand_special(pid_file, conf)\n',
    replace: '        return self.expand_special(pid_file, conf).replace("\'", "")\n',
  },
  {
    why: "the boot's start jobs go first, as in systemd's job queue: a command sent over SSH while the machine boots waits for them (systemd would answer `activating` and queue a stop after the start; here a unit being started reads `inactive`, so a stop would be skipped and the start would win)",
    find: '    found = False\n    # command NAME\n',
    replace:
      '    if not os.environ.get("LAB_BOOT"):\n' +
      '        waited = 0\n' +
      '        while os.path.exists("/run/lab-booting") and waited < 600:\n' +
      '            time.sleep(0.1)\n' +
      '            waited += 1\n' +
      '    found = False\n    # command NAME\n',
  },
];

export async function installSystemctl(): Promise<void> {
  const target = join(labPaths.bin, 'systemctl');
  mkdirSync(labPaths.bin, { recursive: true });
  copyFileSync(labSources.journalctl, join(labPaths.bin, 'journalctl'));
  chmodSync(join(labPaths.bin, 'journalctl'), 0o755);
  const stamp = join(labPaths.bin, 'systemctl.patches');
  const patchList = SYSTEMCTL_PATCHES.map((p) => p.why).join('\n');
  if (existsSync(target) && existsSync(stamp) && readFileSync(stamp, 'utf8') === patchList) return;
  const work = mkdtempSync(join(tmpdir(), 'haflow-systemctl-'));
  try {
    await run('apt-get', ['download', 'systemctl'], { cwd: work }).catch((err: { stderr?: string }) => {
      throw new LabError(`cannot download Debian's systemctl package (apt-get download systemctl): ${err.stderr?.trim()}\nrun apt-get update first`);
    });
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'))!;
    await run('dpkg-deb', ['-x', join(work, deb), join(work, 'x')]);
    let source = readFileSync(join(work, 'x', 'usr', 'bin', 'systemctl'), 'utf8');
    for (const patch of SYSTEMCTL_PATCHES) {
      if (!source.includes(patch.find)) {
        throw new LabError(`the systemctl package (${deb}) changed: cannot apply the lab's fix "${patch.why}"`);
      }
      source = patch.everywhere ? source.replaceAll(patch.find, patch.replace) : source.replace(patch.find, patch.replace);
    }
    writeFileSync(target, source, { mode: 0o755 });
    writeFileSync(stamp, patchList);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The lab's own SSH key pair, which the lab topologies name as ssh.private_key. */
export async function ensureKeyPair(): Promise<void> {
  mkdirSync(labPaths.root, { recursive: true, mode: 0o700 });
  if (existsSync(labPaths.privateKey)) return;
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'haflow-lab', '-f', labPaths.privateKey]);
}

/** The lab's self-signed certificate for the application's HTTPS front (haproxy.tls in the lab topologies). */
export async function ensureTlsCertificate(): Promise<void> {
  if (existsSync(labPaths.tlsCertificate) && existsSync(labPaths.tlsKey)) return;
  mkdirSync(dirname(labPaths.tlsKey), { recursive: true, mode: 0o700 });
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', '/CN=haflow-lab', '-keyout', labPaths.tlsKey, '-out', labPaths.tlsCertificate]);
  chmodSync(labPaths.tlsKey, 0o600);
}
