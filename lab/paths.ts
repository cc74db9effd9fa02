// Where the lab keeps its machines' disks, its SSH key pair and its state. One lab at a
// time per box: the machines share the box's loopback addresses.
import { join } from 'node:path';

export const LAB_ROOT = '/var/lib/haflow-lab';

export const labPaths = {
  root: LAB_ROOT,
  /** The daemonless systemctl and the journalctl wrapper mounted into every machine. */
  bin: join(LAB_ROOT, 'bin'),
  /** The bare machine a machine of the box's own OS starts as: packages installed, nothing configured. */
  image: join(LAB_ROOT, 'image'),
  /** The root file system a machine of another OS starts as, built from Debian's archive. */
  rootfsImage: (os: string) => join(LAB_ROOT, 'images', os.replace(/ /g, '-')),
  machines: join(LAB_ROOT, 'machines'),
  machine: (name: string) => join(LAB_ROOT, 'machines', name),
  console: (name: string) => join(LAB_ROOT, 'console', `${name}.log`),
  consoles: join(LAB_ROOT, 'console'),
  /** The key pair and known_hosts that the lab topologies refer to. */
  privateKey: join(LAB_ROOT, 'id_ed25519'),
  knownHosts: join(LAB_ROOT, 'known_hosts'),
  /** A self-signed certificate and its key, which the lab topologies give HAProxy's HTTPS front. */
  tlsCertificate: join(LAB_ROOT, 'tls', 'app.crt'),
  tlsKey: join(LAB_ROOT, 'tls', 'app.key'),
  state: join(LAB_ROOT, 'state.json'),
};

/** In a machine's root: the upper and work directories of its /usr overlay (the box's /usr below). */
export const USR_OVERLAY = { upper: 'usr.upper', work: 'usr.work' } as const;

/** Source files of the lab shipped in this repository. */
export const labSources = {
  init: join(__dirname, 'machine', 'init.sh'),
  journalctl: join(__dirname, 'machine', 'journalctl'),
  appStandin: join(__dirname, 'app-standin', 'serviceops-standin.py'),
};

/** The non-root sudo user every lab machine has, like the guide's common user. */
export const LAB_USER = 'labadmin';

/** cgroup v2 directory (relative to the cgroup2 root) holding one directory per machine. */
export const CGROUP_PARENT = 'haflow-lab';

/** iptables chain holding every partition rule, jumped to from OUTPUT. */
export const IPTABLES_CHAIN = 'HAFLOW-LAB';

/**
 * Host directories replaced by each machine's own copy (its "disk"). dpkg's and apt's state are
 * among them and /usr is the machine's own too (an overlay, see machine/init.sh), so a package
 * installed, upgraded, downgraded or removed on one machine changes that machine alone.
 */
export const PRIVATE_DIRS = [
  'etc',
  'var/lib/dpkg',
  'var/lib/apt',
  // With dpkg's and apt's state, what package scripts keep (debconf's answers, ucf's registry,
  // deb-systemd-helper's state): machines installing at once must not share them.
  'var/lib/ucf',
  'var/lib/systemd',
  'var/cache',
  // Where haflow archives what it replaces: one machine's backups are not another's.
  'var/backups',
  'home',
  'var/lib/postgresql',
  'var/lib/etcd',
  'var/lib/haproxy',
  // pgBackRest's repository (on the backup host) and its archive queue (on the DB nodes).
  'var/lib/pgbackrest',
  'var/spool/pgbackrest',
  'var/lib/nginx',
  'var/log',
  'opt',
  'data',
] as const;

/** The OS of the box, which its lab machines run unless their topology names another. */
export const BOX_OS = 'debian 12';

/**
 * The OS a lab machine can run besides the box's: each is a root file system that mmdebstrap
 * builds once from Debian's archive (the suite), with these packages, the box's Debian 12 set
 * under their names there (PostgreSQL 17 is what Debian 13 packages).
 */
export const ROOTFS_OS: Record<string, { suite: string; packages: readonly string[] }> = {
  'debian 13': {
    suite: 'trixie',
    packages: [
      'patroni', 'python3-etcd', 'python3-psycopg2', 'python3-idna', 'etcd-server', 'etcd-client', 'haproxy', 'postgresql-17',
      'nginx', 'rsync', 'socat', 'sudo', 'openssh-server', 'iproute2', 'util-linux', 'procps', 'curl', 'openssl', 'ca-certificates',
      'pgbackrest',
    ],
  },
};

/** The OS lab machines can run: the box's and each one built from the archive. */
export const LAB_OS = [BOX_OS, ...Object.keys(ROOTFS_OS)];

/** Debian packages every lab machine has, like servers built from one image. */
export const LAB_PACKAGES = [
  'patroni',
  'python3-etcd',
  'python3-psycopg2',
  'python3-idna',
  'etcd-server',
  'etcd-client',
  'haproxy',
  'postgresql-15',
  'pgbackrest',
  'nginx',
  'rsync',
  'socat',
  'sudo',
  'openssh-server',
  'iproute2',
  'iptables',
  'util-linux',
  'tini',
  'curl',
  'openssl',
] as const;

/**
 * The environment variables the lab topologies take their secrets from. The demo, the tests and
 * the benchmarks set each one that is not set to a random value before they install.
 */
export const LAB_SECRET_VARIABLES = [
  'HAFLOW_PG_SUPERUSER_PASSWORD',
  'HAFLOW_PG_REPLICATION_PASSWORD',
  'HAFLOW_PG_REWIND_PASSWORD',
  'HAFLOW_APP_DB_PASSWORD',
  'HAFLOW_PATRONI_API_PASSWORD',
  'HAFLOW_ETCD_ROOT_PASSWORD',
  'HAFLOW_ETCD_PATRONI_PASSWORD',
  'HAFLOW_HAPROXY_STATS_PASSWORD',
  'HAFLOW_BACKUP_PASSPHRASE',
] as const;
