// Each lab machine's disk: a copy of the bare image (packages installed, nothing
// configured), given its own name, hosts file, sshd, host keys and authorized keys; app
// machines also get the ServiceOps stand-in, as the guide's prerequisite "ServiceOps
// installed on both app nodes" asks.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { hostOs, type Host, type Topology } from '../topology';
import { BOX_OS, LAB_OS, LAB_PACKAGES, LAB_USER, labPaths, labSources, PRIVATE_DIRS, ROOTFS_OS, USR_OVERLAY } from './paths';
import { LabError } from './prereq';

const run = promisify(execFile);

/** Bump when the image recipe changes, so existing images are rebuilt. */
const IMAGE_RECIPE = 9;

/** Units Debian enables at install that a lab machine keeps enabled (its sshd is the lab's own). */
const PACKAGE_UNITS = ['etcd.service', 'haproxy.service', 'nginx.service', 'patroni.service', 'postgresql.service'];

/** The ServiceOps stand-in listens here, behind nginx on the app port. */
export const APP_STANDIN_PORT = 8080;

async function imageStamp(): Promise<string> {
  const { stdout } = await run('dpkg-query', ['-W', ...LAB_PACKAGES]);
  return `recipe ${IMAGE_RECIPE}\n${stdout}`;
}

/** The OS a lab machine runs: what its topology says, else the box's. Refuses one the lab cannot build. */
export function machineOs(topology: Topology, host: Host): string {
  const os = hostOs(topology, host) ?? BOX_OS;
  if (!LAB_OS.includes(os)) throw new LabError(`host ${host.name} runs ${os}, which the lab cannot build: its machines run ${LAB_OS.join(' or ')}`);
  return os;
}

/** The image a machine of this OS starts as, and whether it is a whole root file system (not the box's own). */
export function imageOf(os: string): { path: string; rootfs: boolean } {
  return os === BOX_OS ? { path: labPaths.image, rootfs: false } : { path: labPaths.rootfsImage(os), rootfs: true };
}

/** In a machine's root: the OS its disk was made for. */
const OS_FILE = '.os';

/** The OS a machine's disk was made for (undefined: no disk, or one made before the lab had two). */
export function diskOs(name: string): string | undefined {
  const file = join(labPaths.machine(name), OS_FILE);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

/** Builds the image of each OS once, and again when its packages or the recipe change. */
export async function ensureImages(oses: string[], progress: (line: string) => void = () => undefined): Promise<void> {
  for (const os of new Set(oses)) await (os === BOX_OS ? ensureImage() : ensureRootfsImage(os, progress));
}

/** Builds the bare machine image once, and again when the packages or the recipe change. */
export async function ensureImage(): Promise<void> {
  const image = labPaths.image;
  const stampFile = join(image, '.stamp');
  const stamp = await imageStamp();
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return;
  rmSync(image, { recursive: true, force: true });
  mkdirSync(join(image, 'var', 'lib'), { recursive: true });
  // What a fresh install leaves: Debian's configs and its default PostgreSQL cluster (15/main).
  for (const dir of ['etc', 'var/lib/postgresql', 'var/lib/etcd', 'var/lib/haproxy', 'var/lib/nginx', 'var/lib/pgbackrest', 'var/spool/pgbackrest', 'var/lib/dpkg', 'var/lib/apt', 'var/lib/ucf', 'var/lib/systemd', 'var/cache', 'var/backups']) {
    mkdirSync(join(image, dir, '..'), { recursive: true });
    await run('cp', ['-a', `/${dir}`, join(image, dir)]);
  }
  // The guide's common non-root user with sudo, in the image only (the box's own users stay untouched).
  await run('useradd', ['--prefix', image, '-m', '-d', `/home/${LAB_USER}`, '-s', '/bin/bash', '-U', LAB_USER]);
  await bareMachine(image, false);
  writeFileSync(stampFile, stamp);
}

/**
 * A root file system of another Debian release, built with mmdebstrap from the archive the box's
 * apt uses: the release's own /usr is the lower layer of each such machine's /usr.
 */
async function ensureRootfsImage(os: string, progress: (line: string) => void): Promise<void> {
  const image = labPaths.rootfsImage(os);
  const { suite, packages } = ROOTFS_OS[os];
  const mirror = debianMirror();
  const stamp = `recipe ${IMAGE_RECIPE}\nsuite ${suite}\nmirror ${mirror}\n${[...packages].sort().join('\n')}\n`;
  const stampFile = join(image, '.stamp');
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return;
  progress(`building the ${os} machine image (mmdebstrap ${suite} from ${mirror}, once)`);
  const building = `${image}.building`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(join(building, '..'), { recursive: true });
  try {
    await run('mmdebstrap', ['--quiet', '--variant=apt', `--include=${packages.join(',')}`, suite, building, mirror], { maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    rmSync(building, { recursive: true, force: true });
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new LabError(`building the ${os} machine image needs mmdebstrap: apt-get install -y mmdebstrap`);
    const tail = (e.stderr ?? String(err)).trim().split('\n').slice(-6).join('\n');
    throw new LabError(`cannot build the ${os} machine image from ${mirror} (mmdebstrap ${suite}); is Debian's archive reachable from this box?\n${tail}`);
  }
  await run('chroot', [building, 'useradd', '-m', '-d', `/home/${LAB_USER}`, '-s', '/bin/bash', '-U', LAB_USER]);
  await bareMachine(building, true);
  // Mount points: what a machine keeps of its own (as on the box's machines), and where the
  // kernel's file systems and the lab's programs are bound in while it boots (lab/machine/init.sh).
  for (const dir of [...PRIVATE_DIRS, 'proc', 'sys', 'dev', 'run', 'tmp', '.oldroot']) mkdirSync(join(building, dir), { recursive: true });
  writeFileSync(join(building, '.stamp'), stamp);
  rmSync(image, { recursive: true, force: true });
  await run('mv', [building, image]);
}

/** The Debian archive the box's apt uses (deb822 or one-line sources), else Debian's own. */
function debianMirror(): string {
  for (const file of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const uri = text.match(/^URIs:\s*(\S+\/debian)\/?\s*$/m)?.[1] ?? text.match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s/m)?.[1];
    if (uri) return uri;
  }
  return 'http://deb.debian.org/debian';
}

/** What each image gets on top of Debian's packages: a bare server with the guide's sudo user, nothing of the box. */
async function bareMachine(image: string, rootfs: boolean): Promise<void> {
  // usr.upper and usr.work: each machine's own layer over /usr (the box's, or the release's).
  for (const dir of ['home', 'opt', 'data', 'var/log/journal', 'var/log/nginx', 'var/log/postgresql', USR_OVERLAY.upper, USR_OVERLAY.work]) {
    mkdirSync(join(image, dir), { recursive: true });
  }
  // By the image's own postgres user, whose uid may not be the box's.
  if (rootfs) await run('chroot', [image, 'chown', 'postgres:postgres', '/var/log/postgresql']);
  else await run('chown', ['postgres:postgres', join(image, 'var/log/postgresql')]);
  const etc = join(image, 'etc');
  writeFileSync(join(etc, 'sudoers.d', LAB_USER), `${LAB_USER} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 });
  const wants = join(etc, 'systemd', 'system', 'multi-user.target.wants');
  mkdirSync(wants, { recursive: true });
  for (const unit of readdirSync(wants)) if (!PACKAGE_UNITS.includes(unit)) unlinkSync(join(wants, unit));
  // Debian's default cluster listens on localhost, which all machines share here: started at every
  // boot, the first machine's would hold 127.0.0.1:5432 and the others' would fail. It starts
  // once something configures it (the classic install sets start.conf to auto).
  for (const version of readdirSync(join(etc, 'postgresql'))) {
    const startConf = join(etc, 'postgresql', version, 'main', 'start.conf');
    if (existsSync(startConf)) writeFileSync(startConf, readFileSync(startConf, 'utf8').replace(/^auto$/m, 'manual'));
  }
  // Debian's default site listens on port 80 of every address, which all machines share here.
  rmSync(join(etc, 'nginx', 'sites-enabled', 'default'), { force: true });
  for (const key of readdirSync(join(etc, 'ssh')).filter((f) => f.startsWith('ssh_host_'))) rmSync(join(etc, 'ssh', key));
  rmSync(join(etc, 'patroni', 'config.yml'), { force: true });
}

export function sshdConfig(address: string, port: number): string {
  return [
    '# sshd of a haflow lab machine',
    `ListenAddress ${address}:${port}`,
    'HostKey /etc/ssh/ssh_host_ed25519_key',
    'HostKey /etc/ssh/ssh_host_ecdsa_key',
    'PidFile /run/sshd.pid',
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    // Under the machine's private, root-owned /etc, so StrictModes holds.
    'AuthorizedKeysFile /etc/ssh/authorized_keys/%u',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM yes',
    'PrintMotd no',
    'AcceptEnv LANG LC_*',
    'Subsystem sftp /usr/lib/openssh/sftp-server',
    '',
  ].join('\n');
}

/** Creates (or re-creates, bare) the disk of one machine. Returns its host public keys for known_hosts. */
export async function createMachineDisk(topology: Topology, host: Host): Promise<string[]> {
  const root = labPaths.machine(host.name);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(labPaths.machines, { recursive: true });
  const image = imageOf(machineOs(topology, host));
  if (image.rootfs) {
    // All of the release's root but its /usr, which each machine overlays (its own upper layer).
    mkdirSync(join(root, 'usr'), { recursive: true });
    const entries = readdirSync(image.path).filter((e) => e !== 'usr');
    await run('cp', ['-a', ...entries.map((e) => join(image.path, e)), root]);
  } else {
    await run('cp', ['-a', image.path, root]);
  }
  rmSync(join(root, '.stamp'));
  writeFileSync(join(root, OS_FILE), `${machineOs(topology, host)}\n`);
  const etc = join(root, 'etc');
  writeFileSync(join(etc, 'hostname'), `${host.name}\n`);
  writeFileSync(
    join(etc, 'hosts'),
    ['127.0.0.1\tlocalhost', ...topology.hosts.map((h) => `${h.address}\t${h.name}`), ''].join('\n'),
  );
  const sshPort = host.ssh?.port ?? topology.ssh.port;
  writeFileSync(join(etc, 'ssh', 'sshd_config'), sshdConfig(host.address, sshPort));
  const hostKeys: string[] = [];
  for (const type of ['ed25519', 'ecdsa']) {
    const keyFile = join(etc, 'ssh', `ssh_host_${type}_key`);
    await run('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `root@${host.name}`, '-f', keyFile]);
    hostKeys.push(readFileSync(`${keyFile}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' '));
  }
  const authorized = join(etc, 'ssh', 'authorized_keys');
  mkdirSync(authorized, { recursive: true });
  const publicKey = readFileSync(`${labPaths.privateKey}.pub`, 'utf8');
  for (const user of ['root', LAB_USER]) writeFileSync(join(authorized, user), publicKey, { mode: 0o644 });
  if (host.roles.includes('app')) installAppStandin(topology, host, root);
  const port = sshPort === 22 ? host.address : `[${host.address}]:${sshPort}`;
  return hostKeys.map((key) => `${port} ${key}`);
}

/** The five files of the classic guide, as a standalone ServiceOps install leaves them: its own local database and password. */
function installAppStandin(topology: Topology, host: Host, root: string): void {
  const password = randomBytes(12).toString('base64url'); // each install has its own, as the guide warns
  const url = 'jdbc:postgresql://localhost:5432/flotomate';
  const files = topology.app?.config_files ?? [];
  for (const file of files) {
    const path = join(root, file.path);
    mkdirSync(join(path, '..'), { recursive: true });
    const urlKey = file.url_key ?? 'spring.datasource.url';
    const lines =
      file.format === 'shell'
        ? [`JAVA_OPTS="-D${urlKey}=${url} -Dspring.datasource.username=flotomate -D${file.password_key}=${password}"`]
        : [`${urlKey}=${url}`, `${file.format === 'env' ? 'DB_USER' : 'spring.datasource.username'}=flotomate`, `${file.password_key}=${password}`];
    writeFileSync(path, `# ServiceOps database settings\n${lines.join('\n')}\n`, { mode: 0o600 });
  }
  const standinDir = join(root, 'opt', 'flotomate', 'standin');
  mkdirSync(standinDir, { recursive: true });
  copyFileSync(labSources.appStandin, join(standinDir, 'serviceops-standin.py'));
  chmodSync(join(standinDir, 'serviceops-standin.py'), 0o755);
  const units = join(root, 'etc', 'systemd', 'system');
  writeFileSync(
    join(units, 'serviceops.service'),
    [
      '[Unit]',
      'Description=ServiceOps application (lab stand-in)',
      'After=network.target',
      '',
      '[Service]',
      'Type=simple',
      `ExecStart=/usr/bin/python3 /opt/flotomate/standin/serviceops-standin.py ${host.address} ${APP_STANDIN_PORT}`,
      'Restart=on-failure',
      '',
      '[Install]',
      'WantedBy=multi-user.target',
      '',
    ].join('\n'),
  );
  symlinkSync('/etc/systemd/system/serviceops.service', join(units, 'multi-user.target.wants', 'serviceops.service'));
  const appPort = topology.app?.http_port ?? 80;
  const site = join(root, 'etc', 'nginx', 'sites-available', 'serviceops');
  writeFileSync(
    site,
    [
      '# ServiceOps behind nginx, as the application installer sets it up',
      'server {',
      `    listen ${host.address}:${appPort};`,
      '    location / {',
      `        proxy_pass http://${host.address}:${APP_STANDIN_PORT};`,
      '        proxy_set_header Host $host;',
      '    }',
      '}',
      '',
    ].join('\n'),
  );
  symlinkSync('/etc/nginx/sites-available/serviceops', join(root, 'etc', 'nginx', 'sites-enabled', 'serviceops'));
}

export function writeKnownHosts(lines: string[]): void {
  writeFileSync(labPaths.knownHosts, lines.join('\n') + '\n', { mode: 0o644 });
}
