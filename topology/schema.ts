// The topology file's shape: what an operator writes once to describe a cluster.
// Keys are snake_case like Patroni's own settings (loop_wait, retry_timeout), so the
// file reads like the configs it produces. Semantic rules live in ./checks.ts.
import { z } from 'zod';
import { IDENTIFIERS, placeholdersInQuotes, type IdentifierKindName } from './identifiers';

export const LAYOUTS = ['standalone', 'distributed', 'patroni', 'classic'] as const;
export const ROLES = ['observer', 'etcd', 'haproxy', 'db', 'app', 'backup', 'restore'] as const;

export type Layout = (typeof LAYOUTS)[number];
export type Role = (typeof ROLES)[number];

const port = z
  .number({ error: 'must be a TCP port number (1-65535)' })
  .int({ error: 'must be a whole TCP port number (1-65535)' })
  .min(1, { error: 'must be a TCP port number (1-65535)' })
  .max(65535, { error: 'must be a TCP port number (1-65535)' });

const seconds = (what: string) =>
  z
    .number({ error: `must be a number of seconds (${what})` })
    .positive({ error: `must be a positive number of seconds (${what})` });

const wholeSeconds = (what: string) =>
  z
    .number({ error: `must be a whole number of seconds (${what})` })
    .int({ error: `must be a whole number of seconds (${what})` })
    .positive({ error: `must be a positive whole number of seconds (${what})` });

/** Text of one of the shapes that may reach a config file or a command line (./identifiers.ts). */
const identifier = (kind: IdentifierKindName) =>
  z.string({ error: `must be ${IDENTIFIERS[kind].says}` }).regex(IDENTIFIERS[kind].pattern, { error: `must be ${IDENTIFIERS[kind].says}` });

/** A path on a host; it is written into config files and commands. */
const absolutePath = identifier('hostPath');

/** A path on the worker's machine: absolute, or starting with ~/ for the worker's home. */
const localPath = identifier('localPath');

const name = z
  .string({ error: 'must be a name' })
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
    error: 'must be lower-case letters, digits and dashes (like node1 or pg-observer), at most 63 characters',
  });

const ipv4 = z.ipv4({ error: 'must be an IPv4 address such as 10.0.0.11' });
const hostname = z
  .string()
  .regex(/^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/);
const address = z.union([ipv4, hostname], {
  error: 'must be an IPv4 address or a DNS name such as db1.example.com',
});

const envName = 'must be an environment variable name such as HAFLOW_DB_PASSWORD (letters, digits and _, at most 128)';

/**
 * A secret is always a reference, resolved on the worker when an activity needs it,
 * so no secret value ever enters a workflow's input, history or result.
 */
export const secretRef = z.union(
  [
    z.strictObject({ env: z.string({ error: envName }).regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, { error: envName }) }),
    z.strictObject({ file: localPath }),
  ],
  {
    error: (issue) =>
      typeof issue.input === 'string' || typeof issue.input === 'number'
        ? 'is a secret value written inline; write a reference instead: { env: VARIABLE_NAME } or { file: /path/to/secret }'
        : 'must be a secret reference: { env: VARIABLE_NAME } or { file: /path/to/secret }',
  },
);
export type SecretRef = z.infer<typeof secretRef>;

const sshOverride = z.strictObject({
  user: identifier('unixUser').optional(),
  port: port.optional(),
});

/** An OS release as /etc/os-release names it: "<ID> <VERSION_ID>". */
const osRelease = z.string({ error: 'must be "<id> <version>" such as "debian 13"' }).regex(/^[a-z]+ [0-9.]+$/, { error: 'must be "<id> <version>" such as "debian 13"' });

export const host = z.strictObject({
  name,
  address,
  roles: z
    .array(z.enum(ROLES, { error: `must be one of ${ROLES.join(', ')}` }))
    .min(1, { error: `needs at least one role (${ROLES.join(', ')})` }),
  ssh: sshOverride.optional(),
  /** The OS this host runs, where it is not the cluster's `os`. */
  os: osRelease.optional(),
});
export type Host = z.infer<typeof host>;

export const ssh = z.strictObject({
  user: identifier('unixUser').default('root'),
  port: port.default(22),
  private_key: localPath.default('~/.ssh/id_ed25519'),
  /** Passphrase of the private key, if it has one. */
  passphrase: secretRef.optional(),
  /** Password authentication, used when no private key is usable. */
  password: secretRef.optional(),
  known_hosts: localPath.default('~/.ssh/known_hosts'),
  /** Run privileged commands through `sudo -n` (needed when user is not root). */
  sudo: z.boolean().default(true),
  // Bounded: a step's own time limit must leave room for a connect and a command.
  connect_timeout: seconds('connect timeout').max(60, { error: 'must be at most 60 seconds (connect timeout)' }).default(10),
  command_timeout: seconds('per-command timeout').max(1800, { error: 'must be at most 1800 seconds (per-command timeout)' }).default(300),
});
export type SshSettings = z.infer<typeof ssh>;

export const etcd = z.strictObject({
  client_port: port.default(2379),
  peer_port: port.default(2380),
  cluster_token: identifier('token').optional(),
  data_dir: absolutePath.default('/var/lib/etcd/default'),
  /**
   * Client authentication: the install creates etcd's root user and Patroni's own user, gives
   * Patroni read-write on its namespace only, and turns authentication on; Patroni logs in with it.
   */
  auth: z
    .strictObject({
      root_password: secretRef,
      username: identifier('token').default('patroni'),
      password: secretRef,
    })
    .optional(),
});

const pgUser = (defaultName: string) =>
  z.strictObject({
    username: identifier('pgRole').default(defaultName),
    password: secretRef,
  });

export const postgresql = z.strictObject({
  version: z.number({ error: 'must be a PostgreSQL major version such as 16' }).int(),
  allowed_versions: z.array(z.number().int()).min(1).default([16, 17]),
  port: port.default(5432),
  data_dir: absolutePath.default('/var/lib/postgresql/patroni-data'),
  /** Defaults to Debian's layout for the major version: /usr/lib/postgresql/<version>/bin. */
  bin_dir: absolutePath.optional(),
  superuser: pgUser('postgres'),
  replication: pgUser('replicator'),
  rewind: pgUser('rewind_user'),
  /** Networks allowed in pg_hba.conf for replication and clients. */
  allowed_networks: z.array(z.cidrv4({ error: 'must be an IPv4 network in CIDR form such as 10.0.0.0/24' })).optional(),
  parameters: z
    .record(identifier('pgParameterName'), z.union([identifier('pgParameterValue'), z.number(), z.boolean()]))
    .default({}),
});

/**
 * Named timings for Patroni, HAProxy's checks and the application monitor: `safe` is Patroni's
 * defaults with the guide's checks; `fast` fails over in a few seconds on a network that does not
 * hiccup for longer than retry_timeout; `aggressive` shaves another second off a crash (the leader
 * key lives 5 s, HAProxy checks every 250 ms) and fails over on any etcd or network trouble longer
 * than 2 s, so `haflow tune` measures etcd's round trip and the replicas' lag before it sets it.
 * Each keeps Patroni's rule loop_wait + 2 × retry_timeout ≤ ttl. A timing written in the file
 * wins over its profile. docs/failover.md gives each one's measured crash downtime and its risk.
 */
export const TIMING_PROFILES = {
  safe: { patroni: { ttl: 30, loop_wait: 10, retry_timeout: 10 }, check: { inter: 3, fall: 3, rise: 2 }, monitor: { interval_seconds: 3, timeout_seconds: 3, failures: 3 } },
  fast: { patroni: { ttl: 6, loop_wait: 1, retry_timeout: 2 }, check: { inter: 0.5, fall: 2, rise: 1 }, monitor: { interval_seconds: 1, timeout_seconds: 2.5, failures: 3 } },
  aggressive: { patroni: { ttl: 5, loop_wait: 1, retry_timeout: 2 }, check: { inter: 0.25, fall: 2, rise: 1 }, monitor: { interval_seconds: 1, timeout_seconds: 2.5, failures: 3 } },
} as const;
export type TimingProfile = keyof typeof TIMING_PROFILES;

export const SYNCHRONOUS_MODES = ['off', 'on', 'strict', 'quorum'] as const;

export const patroni = z.strictObject({
  scope: name.optional(),
  namespace: identifier('dcsNamespace').default('/service/'),
  /** Named timings (TIMING_PROFILES) for what the file does not set itself. */
  profile: z.enum(Object.keys(TIMING_PROFILES) as TimingProfile[], { error: `must be one of ${Object.keys(TIMING_PROFILES).join(', ')}` }).optional(),
  // Whole seconds: Patroni's validator rejects fractions.
  ttl: wholeSeconds('leader key time to live').default(30),
  loop_wait: wholeSeconds('HA loop interval').default(10),
  retry_timeout: wholeSeconds('DCS and PostgreSQL retry timeout').default(10),
  maximum_lag_on_failover: z.number().int().nonnegative().default(1048576),
  /**
   * off: asynchronous replication; on: a commit waits for a synchronous standby when there is one;
   * strict: always; quorum (Patroni 4 and later): for any of the standbys a quorum elects, and a
   * failover goes only to a member of the quorum.
   */
  synchronous_mode: z
    .union([z.enum(SYNCHRONOUS_MODES), z.boolean()], { error: `must be one of ${SYNCHRONOUS_MODES.join(', ')}` })
    .default('off')
    .transform((mode) => (mode === true ? 'on' : mode === false ? 'off' : mode)),
  rest_api_port: port.default(8008),
  /** The DB node that bootstraps the cluster; defaults to the first host with the db role. */
  initial_leader: name.optional(),
  /**
   * Basic authentication for the REST API's unsafe endpoints (switchover, restart, reinitialize,
   * configuration changes): Patroni refuses them without it; reads (/primary, /cluster) stay open
   * for HAProxy's checks. haflow and patronictl on the hosts send it.
   */
  rest_api_auth: z
    .strictObject({
      username: identifier('token'),
      password: secretRef,
    })
    .optional(),
});

const checkTimings = z.strictObject({
  inter: seconds('health check interval').default(3),
  fall: z.number().int().positive().default(3),
  rise: z.number().int().positive().default(2),
});

export const haproxy = z.strictObject({
  postgres_port: port.default(5000),
  stats_port: port.default(7000),
  /**
   * Basic authentication for the stats page on stats_port: HAProxy answers 401 without it, and
   * haflow sends it when it reads the servers' states. Required wherever a host has role haproxy
   * (./checks.ts): the page shows every server, its address and its state to whoever asks.
   */
  stats_auth: z
    .strictObject({
      username: identifier('token').default('haflow'),
      password: secretRef,
    })
    .optional(),
  app_http_port: port.default(80),
  /** Bind to the host's own address (default) or to every address ("*", as in the guide). */
  bind: z.enum(['host', 'all']).default('host'),
  maxconn: z.number().int().positive().default(100),
  server_maxconn: z.number().int().positive().default(100),
  check: checkTimings.default({ inter: 3, fall: 3, rise: 2 }),
  /**
   * The classic guide's optional TLS frontend. With `certificate` and `key` (references, resolved
   * on the worker), haflow writes the combined PEM to `pem` (mode 600, owner root) and checks it
   * with `haproxy -c` first; without them, `pem` must already be on the HAProxy host.
   */
  tls: z
    .strictObject({
      pem: absolutePath.default('/etc/haproxy/certs/haflow.pem'),
      port: port.default(443),
      certificate: secretRef.optional(),
      key: secretRef.optional(),
    })
    .refine((tls) => (tls.certificate === undefined) === (tls.key === undefined), {
      error: 'give both certificate and key (haflow writes the combined PEM), or neither (the PEM is already on the HAProxy host)',
    })
    .optional(),
});

/**
 * TLS on the cluster's control planes: etcd's clients and peers, Patroni's REST API, PostgreSQL's
 * replication and client connections, HAProxy's checks of Patroni. A topology file has it unless it
 * says `security: { insecure: true }` (see topologyFileSchema). Each host that runs etcd, PostgreSQL
 * or HAProxy gets one certificate naming its name and address; by default haflow's own certificate
 * authority for the cluster issues it from a CSR the host makes, so the host's key never leaves it.
 */
export const tls = z
  .strictObject({
    /**
     * haflow's certificate authority for the cluster, on the worker: its certificate, and its key as
     * a secret reference. Both default to ~/.haflow/pki/<cluster>/ (ca.crt, ca.key); the install
     * creates them when neither exists. Several workers need the same two files.
     */
    ca: z
      .strictObject({
        certificate: localPath.optional(),
        key: secretRef.optional(),
      })
      .optional(),
    /** The site's own PKI instead: the CA bundle its certificates chain to, and each host's certificate and key. */
    site: z
      .strictObject({
        ca_bundle: localPath,
        hosts: z.record(name, z.strictObject({ certificate: localPath, key: secretRef })),
      })
      .optional(),
    /** Where each host keeps the CA bundle, its certificate and its keys. */
    dir: absolutePath.default('/etc/haflow/tls'),
    /** How long a certificate haflow issues is valid. */
    days: z.number({ error: 'must be a whole number of days' }).int({ error: 'must be a whole number of days' }).min(2).max(825, { error: 'must be at most 825 days (what clients accept of a server certificate)' }).default(365),
    /** `haflow certs status` exits 1, and an install issues a new certificate, when one expires within this many days. */
    warning_days: z.number({ error: 'must be a whole number of days' }).int({ error: 'must be a whole number of days' }).min(1).default(30),
  })
  .refine((t) => !(t.site && t.ca), { error: 'give ca (haflow issues the certificates) or site (the site issues them), not both' });
export type TlsSettings = z.infer<typeof tls>;

/** What the topology gives up, said once: plain text and open control planes need `insecure: true`. */
export const security = z.strictObject({
  insecure: z.boolean({ error: 'must be true or false' }).default(false),
});

export const appConfigFile = z.strictObject({
  path: absolutePath,
  /** properties: key=value (Java); env: KEY=VALUE lines; shell: a line whose -Dkey=value options carry the values. */
  format: z.enum(['properties', 'env', 'shell']).default('properties'),
  url_key: identifier('configKey').optional(),
  password_key: identifier('configKey'),
});
export type AppConfigFile = z.output<typeof appConfigFile>;

/** The five files the classic guide says carry the application's DB endpoint and password. */
export const CLASSIC_APP_CONFIG_FILES: z.output<typeof appConfigFile>[] = [
  {
    path: '/opt/flotomate/main-server/config/application-saas.properties',
    format: 'properties',
    url_key: 'spring.datasource.url',
    password_key: 'spring.datasource.password',
  },
  {
    path: '/opt/flotomate/cm-analytics/config/application-saas.properties',
    format: 'properties',
    url_key: 'spring.datasource.url',
    password_key: 'spring.datasource.password',
  },
  { path: '/etc/flotomate_env', format: 'env', url_key: 'DB_URL', password_key: 'DB_PASSWORD' },
  {
    path: '/opt/flotomate/cm-analytics/lib/analytics-hosted-exec.conf',
    format: 'shell',
    url_key: 'spring.datasource.url',
    password_key: 'spring.datasource.password',
  },
  {
    path: '/opt/flotomate/main-server/lib/boot-hosted-exec.conf',
    format: 'shell',
    url_key: 'spring.datasource.url',
    password_key: 'spring.datasource.password',
  },
];

export const app = z.strictObject({
  /** The common sudo user on every machine: owns /opt/HA, and the application monitor reaches the app nodes as it (never root). */
  user: identifier('unixUser').default('motadata'),
  db_name: identifier('pgRole').default('flotomate'),
  db_user: identifier('pgRole').default('flotomate'),
  db_password: secretRef,
  /** The application's master node; defaults to the first host with the app role. */
  master: name.optional(),
  http_port: port.default(80),
  health_path: identifier('urlPath').default('/'),
  nginx_service: identifier('unitName').default('nginx'),
  /** The application's own unit: stopped on a fenced master, started on the new one. */
  service: identifier('unitName').default('serviceops'),
  /**
   * What the application tier's guards do with a finding they know how to fix (nginx active on
   * the slave, the HA directory owned by someone else): fix it, or block with the guide's remedy.
   */
  on_guard: z.enum(['fix', 'block']).default('fix'),
  /**
   * The application monitor (`haflow monitor start`; the guide's Application HA Observer): how often it asks the master
   * application's health URL, how long it waits for an answer, and after how many failures in a
   * row it fails the application over to the slave. Defaults detect a dead master in about 10 s
   * (the first failed check comes within an interval; each waits up to the time limit); a check
   * costs one HTTP request. The time limit must be longer than the application's own time limit
   * to connect to its database: an application that cannot reach its database still answers
   * (503), and the monitor then waits for the database rather than fail over; one that answers
   * too late looks like a dead machine.
   */
  monitor: z
    .strictObject({
      interval_seconds: seconds('monitor check interval').default(3),
      timeout_seconds: seconds('monitor check time limit').default(3),
      failures: z.number().int().min(1).max(100).default(3),
      /** Started at the end of an install (and a migration) that has an application tier, as the guide's setup ends with it running. */
      autostart: z.boolean().default(true),
    })
    .default({ interval_seconds: 3, timeout_seconds: 3, failures: 3, autostart: true }),
  config_files: z.array(appConfigFile).min(1).default(CLASSIC_APP_CONFIG_FILES),
  /** Directories pushed from the master to the slave (attachments, patches, packages, logs): at install, then by the application monitor. */
  sync_dirs: z.array(absolutePath).default([]),
  /** How often the application monitor pushes them again. */
  sync_interval_seconds: seconds('file sync interval').default(60),
  ha_dir: absolutePath.default('/opt/HA'),
});

/**
 * A command run on the worker to act on a machine's power or network, for the faults a drill
 * injects. `{host}` and `{address}` are replaced by the machine's name and address, each shell-
 * quoted. A real site plugs in its IPMI or cloud CLI; the lab topologies plug in `haflow lab`.
 */
const DRIVER_PLACEHOLDERS = ['host', 'address'] as const;

const driverCommand = z
  .string({ error: 'must be a command such as "ipmitool -H {host}-ipmi chassis power off"' })
  .min(1, { error: 'must not be empty' })
  .regex(/^[^\0\r\n]*$/, { error: 'must be one line' })
  .max(4096, { error: 'must be at most 4096 characters' })
  .refine((command) => [...command.matchAll(/\{([^}]*)\}/g)].every((m) => m[1] === 'host' || m[1] === 'address'), {
    error: 'may only use the placeholders {host} and {address}',
  })
  .refine((command) => placeholdersInQuotes(command, DRIVER_PLACEHOLDERS).length === 0, {
    error: 'has a placeholder inside quotes; write {host} and {address} bare: haflow quotes the value itself',
  });

export const faults = z.strictObject({
  /** Cuts the machine's power (crash-leader, crash-observer). */
  power_off: driverCommand.optional(),
  /** Powers it on again (the heal of a crash). */
  power_on: driverCommand.optional(),
  /** Cuts the machine from every other machine of the cluster (partition-leader). */
  partition: driverCommand.optional(),
  /** Removes every partition (the heal of a partition). */
  heal: driverCommand.optional(),
});
export type FaultDrivers = z.infer<typeof faults>;

/** What the site expects of a failover; a drill's verdict is measured against it. */
export const objectives = z.strictObject({
  /** Longest acceptable write downtime, in seconds. */
  rto_seconds: seconds('write downtime objective'),
  /** Acknowledged writes that may be lost (0 unless the site accepts losing some). */
  lost_writes: z.number().int().nonnegative().default(0),
  /** Longest acceptable restore, from its start to a queryable database (restore drills). */
  restore_seconds: seconds('restore objective').optional(),
  /** Most data a restore may lose: how far before the target time the recovery point may end (restore drills). */
  recovery_point_seconds: z.number({ error: 'must be a number of seconds (recovery point objective)' }).nonnegative({ error: 'must be 0 or more seconds (recovery point objective)' }).optional(),
  /** A scheduled drill that fails or misses these objectives pauses its schedule (until `haflow schedule unpause`). */
  pause_schedules_on_miss: z.boolean({ error: 'must be true or false' }).default(false),
});

/** pgBackRest's backup types: a full copy, the changes since the last full, the changes since the last backup of any type. */
export const BACKUP_TYPES = ['full', 'diff', 'incr'] as const;
export type BackupType = (typeof BACKUP_TYPES)[number];

const wholeCount = (what: string, max: number) =>
  z
    .number({ error: `must be a whole number (${what})` })
    .int({ error: `must be a whole number (${what})` })
    .min(1, { error: `must be at least 1 (${what})` })
    .max(max, { error: `must be at most ${max} (${what})` });

/**
 * Backups with pgBackRest: the repository on the host with the `backup` role, one stanza named
 * after the cluster, WAL archived by whichever node leads, backups taken from a streaming replica.
 */
export const backup = z.strictObject({
  /** The repository's directory on the backup host. */
  repository_path: absolutePath.default('/var/lib/pgbackrest'),
  /** The backup host's user that owns the repository and runs pgBackRest there (created when missing). */
  user: identifier('unixUser').default('pgbackrest'),
  /** The repository's encryption passphrase (aes-256-cbc); it stays on the backup host. */
  passphrase: secretRef,
  /** Full backups are kept by count (full) or by age in days (full_days), one or the other; differentials by count. */
  retention: z
    .strictObject({
      full: wholeCount('full backups kept', 999).optional(),
      full_days: wholeCount('days full backups are kept', 9999).optional(),
      diff: wholeCount('differential backups kept', 999).optional(),
    })
    .refine((r) => (r.full === undefined) !== (r.full_days === undefined), {
      error: 'needs exactly one of full (how many full backups are kept) and full_days (for how many days): pgBackRest keeps full backups by count or by age, not both',
    })
    .default({ full: 2 }),
  compress: z.enum(['zst', 'lz4', 'gz', 'none'], { error: 'must be one of zst, lz4, gz, none' }).default('zst'),
  /** pgBackRest's parallel processes for a backup or a restore. */
  process_max: wholeCount('processes', 32).default(2),
  /** The leader switches to a new WAL file at least this often while it writes, so the archive is never further behind. */
  archive_timeout_seconds: wholeSeconds('archive timeout').max(3600, { error: 'must be at most 3600 seconds (archive timeout)' }).default(60),
  /** Backups read their files from a streaming replica when one streams (pgBackRest's backup-standby), so the leader does not pay for them. */
  from_standby: z.boolean({ error: 'must be true or false' }).default(true),
  /** Where a restore puts the data on a host with the restore role (emptied first: a directory of its own). */
  restore_dir: absolutePath.default('/var/lib/postgresql/haflow-restore'),
});
export type BackupSettings = z.infer<typeof backup>;

/** Query parameters that carry credentials: a URL with one is a secret and must be a reference. */
const CREDENTIAL_PARAMS = /^(token|access_token|api_key|apikey|key|secret|password|pass|sig|signature|auth)$/i;

const webhookUrl = z
  .string({ error: 'must be an http(s) URL, or a secret reference { env: NAME } / { file: PATH } when it holds a token' })
  .refine((text) => URL.canParse(text) && /^https?:$/.test(new URL(text).protocol), { error: 'must be an http:// or https:// URL' })
  .refine(
    (text) => {
      if (!URL.canParse(text)) return true;
      const url = new URL(text);
      return url.password === '' && url.username === '' && ![...url.searchParams.keys()].some((k) => CREDENTIAL_PARAMS.test(k));
    },
    { error: 'holds a credential (user:password@ or a token parameter); write the URL in a secret reference instead: url: { env: HAFLOW_WEBHOOK_URL }' },
  );

/**
 * Who hears about scheduled drills: a webhook (JSON POST) and/or a command run on the worker
 * (the same JSON on its standard input), on problems (a drill failed, missed the objectives,
 * or left the cluster unhealthy) or after every scheduled run.
 */
export const notify = z
  .strictObject({
    webhook: z
      .strictObject({
        url: z.union([webhookUrl, secretRef], { error: 'must be an http(s) URL, or a secret reference { env: NAME } / { file: PATH } when it holds a token' }),
        /** Sent as the Authorization header (such as "Bearer …"); a reference, never a value. */
        authorization: secretRef.optional(),
        timeout_seconds: seconds('per attempt').max(120, { error: 'must be at most 120 seconds' }).default(10),
      })
      .optional(),
    /** Run with /bin/sh -c on the worker; the JSON body on its standard input. */
    command: z
      .string({ error: 'must be a command such as "/usr/local/bin/page-oncall"' })
      .min(1, { error: 'must not be empty' })
      .regex(/^[^\0\r\n]*$/, { error: 'must be one line' })
      .max(4096, { error: 'must be at most 4096 characters' })
      .optional(),
    on: z.enum(['problems', 'every'], { error: 'must be problems (a failed, missed or unhealthy drill) or every (every scheduled run)' }).default('problems'),
    /** The Temporal web UI, for the links in a notification. */
    ui_url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL such as http://temporal.example.com:8233' }).default('http://localhost:8233'),
  })
  .refine((n) => n.webhook || n.command, { error: 'needs a webhook, a command, or both' });

/**
 * Where the packages come from: the hosts' own package sources (the default), or an offline
 * bundle built by `haflow bundle` on a machine that has the mirror, for hosts without internet.
 */
export const packages = z.strictObject({
  /** The bundle's directory on the worker's machine (it holds manifest.json); uploaded to each host. */
  bundle: localPath,
});

export const topologyObject = z.strictObject({
  cluster: name,
  layout: z.enum(LAYOUTS, { error: `must be one of ${LAYOUTS.join(', ')}` }),
  /** OS releases the preflight accepts, as "<id> <version>" from /etc/os-release. */
  supported_os: z
    .array(z.string().regex(/^[a-z]+ [0-9.]+$/, { error: 'must be "<id> <version>" such as "ubuntu 24.04"' }))
    .default(['ubuntu 22.04', 'ubuntu 24.04', 'rhel 9.4', 'rhel 9.6']),
  /** The OS the hosts run (a host may name its own): the preflight holds each machine to it. */
  os: osRelease.optional(),
  hosts: z.array(host).min(1, { error: 'needs at least one host' }),
  ssh: ssh.default(ssh.parse({})),
  etcd: etcd.default(etcd.parse({})),
  postgresql,
  patroni: patroni.default(patroni.parse({})),
  haproxy: haproxy.default(haproxy.parse({})),
  app: app.optional(),
  packages: packages.optional(),
  faults: faults.default({}),
  objectives: objectives.optional(),
  backup: backup.optional(),
  notify: notify.optional(),
  tls: tls.optional(),
  security: security.optional(),
});

/**
 * `app.observer`, the application monitor's settings under the name they had before the monitor
 * had its own (the machine keeps the guide's word "observer"), is read as `app.monitor`.
 */
function withEarlierNames(input: unknown): unknown {
  const file = input as { app?: Record<string, unknown> } | null;
  if (!file?.app || typeof file.app !== 'object' || !('observer' in file.app) || 'monitor' in file.app) return input;
  const { observer, ...app } = file.app;
  return { ...file, app: { ...app, monitor: observer } };
}

/** A profile's timings go where the file did not write its own, before defaults apply. */
function withTimingProfile(input: unknown): unknown {
  const file = withEarlierNames(input) as { patroni?: Record<string, unknown>; haproxy?: Record<string, unknown>; app?: Record<string, unknown> } | null;
  const profile = TIMING_PROFILES[file?.patroni?.profile as TimingProfile];
  if (!profile || !file) return file;
  const patroni = { ...profile.patroni, ...file.patroni };
  const haproxy = { ...file.haproxy, check: { ...profile.check, ...(file.haproxy?.check as object | undefined) } };
  // An app section that is not a mapping is left to the schema's error.
  const app = file.app && typeof file.app === 'object' ? { app: { ...file.app, monitor: { ...profile.monitor, ...(file.app.monitor as object | undefined) } } } : {};
  return { ...file, patroni, haproxy, ...app };
}

/** A topology as a run carries it: no TLS unless it has a `tls` section (a run recorded before TLS has none). */
export const topologySchema = z.preprocess(withTimingProfile, topologyObject);

/**
 * A topology file: secure by default. A file with neither `tls` nor `security: { insecure: true }`
 * gets `tls: {}` (haflow's CA for the cluster), so the topology it starts a run with says so.
 */
export const topologyFileSchema = z.preprocess((input) => withSecureDefault(withTimingProfile(input)), topologyObject);

function withSecureDefault(input: unknown): unknown {
  const file = input as { tls?: unknown; security?: { insecure?: unknown } } | null;
  if (!file || typeof file !== 'object' || Array.isArray(file) || 'tls' in file) return input;
  if (file.security && typeof file.security === 'object' && file.security.insecure === true) return input;
  return { ...file, tls: {} };
}

/** A topology after schema defaults are applied. */
export type Topology = z.infer<typeof topologySchema>;
/** A topology as written in the file. */
export type TopologyInput = z.input<typeof topologyObject>;
