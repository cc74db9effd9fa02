// Semantic rules the schema cannot express: role counts per layout, uniqueness,
// port clashes, Patroni's timing rule, cross-references between sections and the
// directories haflow may remove or take over.
// Pure: a validated topology in, issues with field paths out (load.ts maps paths to lines).
import { appHosts, classicCluster, dbHosts, etcdMembers, haproxyHosts, hostOs, listeningPorts, osSupported, postgresBinDir } from './derive';
import { patroniHasQuorum, patroniTimingFloors, platformOf } from './platforms';
import { certificateHosts } from './tls';
import type { Host, Layout, Role, Topology } from './schema';

export type Severity = 'error' | 'warning';

export interface CheckIssue {
  /** The field at fault, as written in the file: `hosts[1].address`, `patroni.loop_wait`. */
  path: string;
  message: string;
  severity: Severity;
  /**
   * Other fields the rule involves. When `path` itself is not written in the file (it took
   * its default), the first of these that is written is the better place to point at.
   */
  related?: string[];
}

/** etcd's own limit: more than 7 members slows every write and buys no extra safety. */
export const MAX_ETCD_MEMBERS = 7;

/**
 * Every semantic rule, in the order an operator would fix them. `recorded`: a topology a run was
 * started with (checked again by the worker), to which a rule newer than the run applies as a
 * warning only, so that a monitor or a schedule started before it keeps working; a topology file
 * is held to every rule.
 */
export function checkTopology(topology: Topology, options: { recorded?: boolean } = {}): CheckIssue[] {
  return [
    ...checkLayoutRoles(topology),
    ...checkEtcdMembers(topology),
    ...checkUniqueHosts(topology),
    ...checkAddresses(topology),
    ...checkPortClashes(topology),
    ...checkPatroniTimings(topology),
    ...checkPostgresVersion(topology),
    ...checkPlatforms(topology),
    ...checkReferences(topology),
    ...checkAppTier(topology),
    ...checkBackup(topology),
    ...[...checkHaproxyStats(topology), ...checkSecurity(topology)].map((issue) => (options.recorded ? { ...issue, severity: 'warning' as const } : issue)),
    ...checkDedicatedDirectories(topology),
  ];
}

const error = (path: string, message: string, related?: string[]): CheckIssue => ({
  path,
  message,
  severity: 'error',
  ...(related ? { related } : {}),
});
const warning = (path: string, message: string): CheckIssue => ({ path, message, severity: 'warning' });

const hostPath = (topology: Topology, host: Host) => `hosts[${topology.hosts.indexOf(host)}]`;
const has = (host: Host, role: Role) => host.roles.includes(role);

/** "found 1: node1", "found 0", "found 3: a, b, c" */
function found(hosts: Host[]): string {
  return hosts.length === 0 ? 'found 0' : `found ${hosts.length}: ${hosts.map((h) => h.name).join(', ')}`;
}

// ---------------------------------------------------------------- roles per layout

interface RoleRule {
  /** "hosts with roles app+db" */
  what: string;
  matches: (host: Host) => boolean;
  exactly?: number;
  atLeast?: number;
  atMost?: number;
}

const appAndDb: RoleRule['matches'] = (h) => has(h, 'app') && has(h, 'db');
const observer: RoleRule['matches'] = (h) => has(h, 'observer');

/** Which role counts each layout allows, from the guides (docs/installs.md lists them). */
const ROLE_RULES: Record<Layout, { hostCount?: { exactly: number; shape: string }; rules: RoleRule[] }> = {
  standalone: {
    hostCount: { exactly: 3, shape: 'observer + 2 × app+db' },
    rules: [
      { what: 'host with role observer', matches: observer, exactly: 1 },
      { what: 'hosts with roles app+db', matches: appAndDb, exactly: 2 },
    ],
  },
  distributed: {
    hostCount: { exactly: 5, shape: 'observer + 2 app + 2 db' },
    rules: [
      { what: 'host with role observer', matches: observer, exactly: 1 },
      { what: 'app-only hosts (role app without db)', matches: (h) => has(h, 'app') && !has(h, 'db'), exactly: 2 },
      { what: 'db-only hosts (role db without app)', matches: (h) => has(h, 'db') && !has(h, 'app'), exactly: 2 },
    ],
  },
  patroni: {
    rules: [
      { what: 'hosts with role db', matches: (h) => has(h, 'db'), atLeast: 2 },
      { what: 'host with role haproxy', matches: (h) => has(h, 'haproxy'), atLeast: 1 },
    ],
  },
  classic: {
    rules: [
      { what: 'hosts with roles app+db', matches: appAndDb, exactly: 2 },
      { what: 'host with role observer', matches: observer, exactly: 1 },
      { what: 'host with role haproxy', matches: (h) => has(h, 'haproxy'), atMost: 1 },
    ],
  },
};

/** Roles a layout has no place for: the generic tutorials have no application tier; classic has no etcd. */
const FORBIDDEN_ROLES: Record<Layout, { role: Role; why: string }[]> = {
  standalone: [],
  distributed: [],
  patroni: [
    { role: 'app', why: 'layout patroni has no application tier; use standalone or distributed for app hosts' },
    { role: 'observer', why: 'layout patroni has no application tier; use standalone or distributed for one (the observer machine runs etcd and HAProxy for it)' },
  ],
  classic: [
    { role: 'etcd', why: 'layout classic uses streaming replication without Patroni or etcd; remove the etcd role' },
  ],
};

function checkLayoutRoles(topology: Topology): CheckIssue[] {
  const { layout, hosts } = topology;
  const spec = ROLE_RULES[layout];
  const issues: CheckIssue[] = [];

  const count = spec.hostCount;
  // The backup repository's and the restores' machines of their own are beside the layout's.
  const layoutHosts = hosts.filter((h) => !h.roles.every((r) => r === 'backup' || r === 'restore'));
  if (count && layoutHosts.length !== count.exactly) {
    const aside = hosts.length - layoutHosts.length;
    issues.push(error('hosts', `layout ${layout} needs exactly ${count.exactly} hosts (${count.shape})${aside > 0 ? ` besides the ${aside} for backups or restores alone` : ''}, ${found(layoutHosts)}`));
  }
  for (const rule of spec.rules) {
    const matching = hosts.filter(rule.matches);
    const n = matching.length;
    const bound =
      rule.exactly !== undefined && n !== rule.exactly
        ? `exactly ${rule.exactly}`
        : rule.atLeast !== undefined && n < rule.atLeast
          ? `at least ${rule.atLeast}`
          : rule.atMost !== undefined && n > rule.atMost
            ? `at most ${rule.atMost}`
            : undefined;
    if (bound) issues.push(error('hosts', `layout ${layout} needs ${bound} ${rule.what}, ${found(matching)}`));
  }

  for (const host of hosts) {
    host.roles.forEach((role, i) => {
      if (host.roles.indexOf(role) !== i) issues.push(error(`${hostPath(topology, host)}.roles[${i}]`, `role ${role} is listed twice for host ${host.name}; write each role once`));
    });
    for (const { role, why } of FORBIDDEN_ROLES[layout]) {
      if (has(host, role)) issues.push(error(`${hostPath(topology, host)}.roles`, `host ${host.name} has role ${role}, but ${why}`));
    }
  }

  // The observer is the failover referee: it must run etcd and HAProxy and must not be one of the nodes it judges.
  if (layout === 'standalone' || layout === 'distributed') {
    for (const host of hosts.filter(observer)) {
      const missing = (['etcd', 'haproxy'] as const).filter((r) => !has(host, r));
      if (missing.length > 0) {
        issues.push(
          error(
            `${hostPath(topology, host)}.roles`,
            `observer ${host.name} must also run ${missing.join(' and ')} in layout ${layout}; ` +
              `write roles: [observer, etcd, haproxy]`,
          ),
        );
      }
    }
  }
  if (layout !== 'patroni') {
    for (const host of hosts.filter(observer)) {
      const judged = (['app', 'db'] as const).filter((r) => has(host, r));
      if (judged.length > 0) {
        issues.push(
          error(
            `${hostPath(topology, host)}.roles`,
            `observer ${host.name} must not also have role ${judged.join(' or ')}: ` +
              `it decides failover for those nodes, so it must run on a separate machine`,
          ),
        );
      }
    }
  }
  return issues;
}

// ---------------------------------------------------------------- backups

/** The backup repository: one host of its own, on a layout with Patroni, reached with a user that is neither root nor postgres. */
function checkBackup(topology: Topology): CheckIssue[] {
  const hosts = topology.hosts.filter((h) => has(h, 'backup'));
  const { backup } = topology;
  if (!backup) {
    return topology.hosts.filter((h) => has(h, 'backup') || has(h, 'restore')).map((h) =>
      error(`${hostPath(topology, h)}.roles`, `host ${h.name} has role ${has(h, 'backup') ? 'backup' : 'restore'}, but the topology has no backup: section; add one (backup: { passphrase: { env: HAFLOW_BACKUP_PASSPHRASE } }) or remove the role`),
    );
  }
  const issues: CheckIssue[] = [];
  if (topology.layout === 'classic') issues.push(error('backup', "layout classic has no Patroni to archive WAL through; haflow's backups need layout standalone, distributed or patroni (haflow migrate moves a classic cluster there)"));
  if (hosts.length !== 1) {
    issues.push(error('hosts', `backup: needs exactly 1 host with role backup (the repository's machine: the observer in layout standalone, or a machine of its own), ${found(hosts)}`));
  }
  for (const h of hosts.filter((x) => has(x, 'db'))) {
    issues.push(error(`${hostPath(topology, h)}.roles`, `host ${h.name} has roles backup and db: the repository must survive the loss of any DB node, so it must be on another machine (the observer, or a machine of its own)`));
  }
  for (const h of topology.hosts.filter((x) => has(x, 'restore') && x.roles.length > 1)) {
    issues.push(error(`${hostPath(topology, h)}.roles`, `host ${h.name} has role restore beside ${h.roles.filter((r) => r !== 'restore').join(', ')}: a restore empties backup.restore_dir and runs a PostgreSQL there, so its machine serves nothing else; write roles: [restore]`));
  }
  if (backup.user === 'root' || backup.user === 'postgres') {
    issues.push(error('backup.user', `must not be ${backup.user}: the repository's owner is a user of its own, whose SSH key the DB nodes accept for pgBackRest alone; write user: pgbackrest`));
  }
  return issues;
}

// ---------------------------------------------------------------- etcd

function checkEtcdMembers(topology: Topology): CheckIssue[] {
  if (topology.layout === 'classic') return []; // forbidden outright by checkLayoutRoles
  const members = etcdMembers(topology);
  const n = members.length;
  if (n < 1 || n > MAX_ETCD_MEMBERS) {
    return [
      error(
        'hosts',
        `layout ${topology.layout} needs 1 to ${MAX_ETCD_MEMBERS} hosts with role etcd, ${found(members)}` +
          (n > MAX_ETCD_MEMBERS ? '; 3 or 5 members are the usual choice' : ''),
      ),
    ];
  }
  if (n % 2 === 0) {
    return [
      warning(
        'hosts',
        `${n} etcd members (${members.map((h) => h.name).join(', ')}): an even number of etcd members tolerates ` +
          `no more failures than one fewer (${n} members survive ${Math.floor((n - 1) / 2)} failure(s), ` +
          `like ${n - 1}); use ${n - 1} or ${n + 1}`,
      ),
    ];
  }
  return [];
}

// ---------------------------------------------------------------- hosts

function checkUniqueHosts(topology: Topology): CheckIssue[] {
  const issues: CheckIssue[] = [];
  const byName = new Map<string, number>();
  const byAddress = new Map<string, number>();
  topology.hosts.forEach((host, i) => {
    const sameName = byName.get(host.name);
    if (sameName !== undefined) {
      issues.push(
        error(`hosts[${i}].name`, `host name ${host.name} is already used by hosts[${sameName}]; every host needs its own name`),
      );
    } else byName.set(host.name, i);

    const address = host.address.toLowerCase();
    const sameAddress = byAddress.get(address);
    if (sameAddress !== undefined) {
      const first = topology.hosts[sameAddress];
      issues.push(
        error(
          `hosts[${i}].address`,
          `address ${host.address} is already used by host ${first.name} (hosts[${sameAddress}]); if they are ` +
            `the same machine, write it once with all its roles: [${[...new Set([...first.roles, ...host.roles])].join(', ')}]`,
        ),
      );
    } else byAddress.set(address, i);
  });
  return issues;
}

/** The schema accepts DNS names, and "10.0.0.300" is a syntactically valid one; nobody means that. */
function checkAddresses(topology: Topology): CheckIssue[] {
  const issues: CheckIssue[] = [];
  topology.hosts.forEach((host, i) => {
    if (!/^[0-9.]+$/.test(host.address)) return;
    const parts = host.address.split('.');
    const bad = parts.find((p) => p === '' || Number(p) > 255 || (p.length > 1 && p.startsWith('0')));
    if (parts.length !== 4) {
      issues.push(error(`hosts[${i}].address`, `${host.address} is not an IPv4 address: it needs 4 numbers such as 172.16.12.171`));
    } else if (bad !== undefined) {
      issues.push(
        error(`hosts[${i}].address`, `${host.address} is not an IPv4 address: each of its 4 numbers must be 0-255, found ${bad || 'an empty part'}`),
      );
    }
  });
  return issues;
}

// ---------------------------------------------------------------- ports

function checkPortClashes(topology: Topology): CheckIssue[] {
  const issues: CheckIssue[] = [];
  topology.hosts.forEach((host, i) => {
    // The owners are field paths already, except ssh, whose port may be set per host.
    const fieldOf = (owner: string) => (owner !== 'ssh' ? owner : host.ssh?.port !== undefined ? `hosts[${i}].ssh.port` : 'ssh.port');
    const firstOwner = new Map<number, string>();
    for (const { port, owner } of listeningPorts(topology, host)) {
      const earlier = firstOwner.get(port);
      if (earlier === undefined) {
        firstOwner.set(port, owner);
        continue;
      }
      issues.push(
        error(
          fieldOf(owner),
          `port ${port} on host ${host.name} is used by both ${fieldOf(earlier)} and ${fieldOf(owner)}; ` +
            `give one of them another port`,
          [fieldOf(earlier)],
        ),
      );
    }
  });
  return issues;
}

// ---------------------------------------------------------------- Patroni and PostgreSQL

function checkPatroniTimings(topology: Topology): CheckIssue[] {
  if (topology.layout === 'classic') return [];
  const { ttl, loop_wait, retry_timeout } = topology.patroni;
  if (loop_wait + 2 * retry_timeout <= ttl) return [];
  return [
    error(
      'patroni.loop_wait',
      `Patroni requires loop_wait + 2 × retry_timeout <= ttl, found ${loop_wait} + 2 × ${retry_timeout} = ` +
        `${loop_wait + 2 * retry_timeout} > ttl ${ttl}; for example ttl: 30, loop_wait: 10, retry_timeout: 10`,
      ['patroni.retry_timeout', 'patroni.ttl'],
    ),
  ];
}

function checkPostgresVersion(topology: Topology): CheckIssue[] {
  const { version, allowed_versions } = topology.postgresql;
  if (allowed_versions.includes(version)) return [];
  return [
    error(
      'postgresql.version',
      `PostgreSQL ${version} is not supported here: postgresql.allowed_versions is ${allowed_versions.join(', ')}; ` +
        `use one of those`,
    ),
  ];
}

/**
 * The OS the topology says its hosts run: each one supported, one OS for every DB node (the
 * guide's rule), and what that OS's packages mean for the settings.
 */
function checkPlatforms(topology: Topology): CheckIssue[] {
  const issues: CheckIssue[] = [];
  const declared = topology.hosts.map((host, i) => ({ host, os: hostOs(topology, host), field: host.os ? `hosts[${i}].os` : 'os' }));
  for (const { os, field } of declared.filter((d, i) => d.os && declared.findIndex((e) => e.field === d.field) === i)) {
    if (!osSupported(os!, topology.supported_os)) {
      issues.push(error(field, `${os} is not in supported_os (${topology.supported_os.join(', ')}); add it there, or name the OS the hosts run`, ['supported_os']));
    }
  }
  const dbOs = declared.filter((d) => has(d.host, 'db') && d.os);
  const distinct = [...new Set(dbOs.map((d) => d.os))];
  if (distinct.length > 1) {
    const first = dbOs.find((d) => d.host.os)!;
    issues.push(
      error(
        first.field,
        `the DB nodes must run one OS (the guide's rule: the same OS and PostgreSQL on every DB node), but ${dbOs.map((d) => `${d.host.name} runs ${d.os}`).join(', ')}; name one OS for all of them`,
      ),
    );
  }
  const platform = distinct.length === 1 ? platformOf(distinct[0]) : undefined;
  if (platform && !platform.postgresql.majors.includes(topology.postgresql.version)) {
    issues.push(
      warning(
        'postgresql.version',
        `${platform.os} has PostgreSQL ${platform.postgresql.majors.join(', ')} (from ${platform.postgresql.from}), not ${topology.postgresql.version}: the hosts need a package source for postgresql-${topology.postgresql.version}`,
      ),
    );
  }
  if (platform && topology.patroni.synchronous_mode === 'quorum' && !patroniHasQuorum(platform.patroni)) {
    issues.push(
      error(
        'patroni.synchronous_mode',
        `synchronous_mode quorum needs Patroni 4 or later, and ${platform.os} has Patroni ${platform.patroni}; use on or strict there`,
      ),
    );
  }
  const floors = platform ? patroniTimingFloors(platform.patroni) : undefined;
  const { ttl, loop_wait, retry_timeout } = topology.patroni;
  if (platform && floors && (ttl < floors.ttl || loop_wait < floors.loop_wait || retry_timeout < floors.retry_timeout)) {
    issues.push(
      warning(
        'patroni.ttl',
        `Patroni ${platform.patroni} (${platform.os}) raises ttl to at least ${floors.ttl}, loop_wait to ${floors.loop_wait} and retry_timeout to ${floors.retry_timeout}: it will run with ttl ${Math.max(ttl, floors.ttl)}, not ${ttl}, and a failover takes that long; write ttl: ${Math.max(ttl, floors.ttl)}`,
      ),
    );
  }
  return issues;
}

function checkReferences(topology: Topology): CheckIssue[] {
  const issues: CheckIssue[] = [];
  const names = (hosts: Host[]) => (hosts.length > 0 ? hosts.map((h) => h.name).join(', ') : 'none');

  /** A setting that names a host must name one with the right role. */
  const mustName = (path: string, name: string | undefined, role: string, candidates: Host[], what: string) => {
    if (name === undefined || candidates.some((h) => h.name === name)) return;
    const host = topology.hosts.find((h) => h.name === name);
    issues.push(
      error(
        path,
        `${host ? `host ${name} does not have the ${role} role` : `there is no host named ${name}`}; ` +
          `${what} must be one of the ${role} hosts: ${names(candidates)}`,
      ),
    );
  };
  mustName('patroni.initial_leader', topology.patroni.initial_leader, 'db', dbHosts(topology), 'the initial leader');
  mustName('app.master', topology.app?.master, 'app', appHosts(topology), 'the application master');
  return issues;
}

// ---------------------------------------------------------------- application tier

function checkAppTier(topology: Topology): CheckIssue[] {
  const issues: CheckIssue[] = [];
  const { layout } = topology;
  if (layout === 'patroni') {
    if (topology.app) {
      issues.push(warning('app', 'layout patroni has no application tier, so the app section is ignored; remove it'));
    }
  } else if (!topology.app) {
    issues.push(
      error(
        'app',
        `layout ${layout} runs the application tier and needs an app section, at least: ` +
          `app: { db_password: { env: HAFLOW_APP_DB_PASSWORD } }`,
        ['layout'],
      ),
    );
  }
  if (topology.app?.user === 'root') {
    issues.push(
      error(
        'app.user',
        'app.user is root; the guide runs the HA scripts and its Application HA Observer as a normal user with sudo rights: ' +
          'name the user common to every machine (the guide: motadata)',
      ),
    );
  }
  if (topology.haproxy.tls) {
    if (appHosts(topology).length === 0) {
      issues.push(
        error('haproxy.tls', 'haproxy.tls is the HTTPS frontend of the application, but no host has role app; remove it'),
      );
    } else if (haproxyHosts(topology).length === 0) {
      issues.push(error('haproxy.tls', 'haproxy.tls is set but no host has role haproxy to serve it; add the role or remove tls'));
    }
  }
  return issues;
}

// ---------------------------------------------------------------- HAProxy

/** The stats page lists every server, its address and its state: never open to anyone who reaches the port. */
/**
 * TLS and authentication on every control plane, or `security: { insecure: true }` said once. A
 * file without either has TLS (./schema.ts, topologyFileSchema); what TLS cannot give, a password
 * to etcd and to Patroni's unsafe endpoints, the file must.
 */
function checkSecurity(topology: Topology): CheckIssue[] {
  const tls = topology.tls;
  const insecure = topology.security?.insecure === true;
  if (tls && insecure) return [error('security.insecure', 'security.insecure is true but the tls section is set; remove one: TLS on (tls) or plain text on purpose (insecure)', ['tls'])];
  const patroniLayout = topology.layout !== 'classic';
  if (insecure) {
    const open = [
      ...(patroniLayout ? [`etcd (port ${topology.etcd.client_port}${topology.etcd.auth ? '' : ', no password'})`, `Patroni's REST API (port ${topology.patroni.rest_api_port}${topology.patroni.rest_api_auth ? '' : ', switchover and restart open to anyone'})`] : []),
      `PostgreSQL's replication and clients (port ${topology.postgresql.port})`,
    ];
    return [warning('security.insecure', `the cluster's control planes speak plain text: ${open.join('; ')}; whoever reaches the network reads passwords and data. Remove security.insecure to have TLS (haflow's CA for the cluster), and see docs/security.md`)];
  }
  if (!tls) return [];
  const issues: CheckIssue[] = [];
  const remedy = 'or set security: { insecure: true } to install without (not recommended)';
  if (patroniLayout && !topology.etcd.auth) {
    issues.push(
      error(
        'etcd.auth',
        `etcd.auth is not set: etcd would answer anyone who reaches port ${topology.etcd.client_port}, and its keys decide which node is the leader; ` +
          `give it passwords: etcd: { auth: { root_password: { env: HAFLOW_ETCD_ROOT_PASSWORD }, password: { env: HAFLOW_ETCD_PATRONI_PASSWORD } } }, ${remedy}`,
        ['etcd', 'tls'],
      ),
    );
  }
  if (patroniLayout && !topology.patroni.rest_api_auth) {
    issues.push(
      error(
        'patroni.rest_api_auth',
        `patroni.rest_api_auth is not set: anyone who reaches port ${topology.patroni.rest_api_port} could switch over, restart or reinitialize a node; ` +
          `give it a user and password: patroni: { rest_api_auth: { username: haflow, password: { env: HAFLOW_PATRONI_API_PASSWORD } } }, ${remedy}`,
        ['patroni', 'tls'],
      ),
    );
  }
  if (tls.warning_days >= tls.days) {
    issues.push(error('tls.warning_days', `tls.warning_days (${tls.warning_days}) must be less than tls.days (${tls.days}): every new certificate would already be due for renewal`, ['tls.days', 'tls']));
  }
  if (tls.site) {
    const needed = certificateHosts(topology).map((h) => h.name);
    const given = Object.keys(tls.site.hosts);
    const missing = needed.filter((n) => !given.includes(n));
    const unknown = given.filter((n) => !needed.includes(n));
    if (missing.length > 0) {
      issues.push(error('tls.site.hosts', `tls.site.hosts has no certificate for ${missing.join(', ')}; every host that runs etcd or PostgreSQL needs one (${needed.join(', ')})`));
    }
    for (const name of unknown) {
      issues.push(
        error(
          `tls.site.hosts.${name}`,
          topology.hosts.some((h) => h.name === name)
            ? `host ${name} runs neither etcd nor PostgreSQL, so it serves no TLS; remove its certificate`
            : `no host is named ${name}; the hosts that need a certificate are ${needed.join(', ')}`,
        ),
      );
    }
  }
  return issues;
}

function checkHaproxyStats(topology: Topology): CheckIssue[] {
  const proxy = haproxyHosts(topology)[0];
  if (!proxy || topology.haproxy.stats_auth) return [];
  return [
    error(
      'haproxy.stats_auth',
      `haproxy.stats_auth is not set: host ${proxy.name} runs HAProxy, whose stats page on port ${topology.haproxy.stats_port} shows every server ` +
        'and its state to anyone who reaches it; give it a user and password: haproxy: { stats_auth: { username: haflow, password: { env: HAFLOW_HAPROXY_STATS_PASSWORD } } }',
      ['haproxy', `${hostPath(topology, proxy)}.roles`],
    ),
  ];
}

// ---------------------------------------------------------------- directories haflow removes or takes over

/**
 * Directories that belong to the system or to everyone on the machine: removing one, filling it
 * with another machine's files, or making it one service's with mode 700 breaks the machine.
 * Anything less than two levels deep is refused anyway; these are the deeper ones.
 */
const SYSTEM_DIRECTORIES = new Set([
  // The top level (also refused for being one level deep).
  ...['/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/libx32', '/media', '/mnt', '/opt', '/proc', '/root', '/run', '/sbin', '/snap', '/srv', '/sys', '/tmp', '/usr', '/var'],
  // Locally installed programs, outside the package manager.
  ...['/usr/local', '/usr/local/bin', '/usr/local/etc', '/usr/local/include', '/usr/local/lib', '/usr/local/sbin', '/usr/local/share', '/usr/local/src'],
  // Every service's state, logs, spools, caches and backups, and the shared temporary space.
  ...['/var/lib', '/var/log', '/var/backups', '/var/cache', '/var/spool', '/var/mail', '/var/tmp', '/var/opt', '/var/local', '/var/www', '/var/run', '/var/lock'],
  // The postgres user's home (Debian's clusters, the standby's password file) and etcd's state.
  ...['/var/lib/postgresql', '/var/lib/etcd'],
  // Configuration the machine boots, logs in, resolves names and trusts certificates with.
  ...['/etc/default', '/etc/ssl', '/etc/ssh', '/etc/pki', '/etc/systemd', '/etc/security', '/etc/pam.d', '/etc/sudoers.d', '/etc/cron.d', '/etc/apt', '/etc/yum.repos.d', '/etc/network', '/etc/netplan', '/etc/init.d', '/etc/alternatives', '/etc/profile.d', '/etc/sysctl.d', '/etc/selinux'],
  // The configuration of the services haflow installs, and haflow's own.
  ...['/etc/postgresql', '/etc/patroni', '/etc/haproxy', '/etc/etcd', '/etc/haflow'],
]);

/** Kernel, device, run-time and boot file systems, and the package manager's programs: nothing of haflow's lives there. */
const SYSTEM_TREES = ['/proc', '/sys', '/dev', '/run', '/boot', '/var/run', '/var/lock', '/usr'];
/** ...except what is installed locally under /usr/local. */
const OUTSIDE_SYSTEM_TREES = ['/usr/local'];

interface DedicatedDirectory {
  field: string;
  dir: string;
  /** What haflow does to it, for the error. */
  does: string;
  example: string;
}

/** Every path field whose directory haflow removes, empties, moves aside, overwrites or chowns/chmods. */
function dedicatedDirectories(topology: Topology): DedicatedDirectory[] {
  const dirs: DedicatedDirectory[] = [
    {
      field: 'postgresql.data_dir',
      dir: topology.postgresql.data_dir,
      does: 'haflow changes its owner and mode (postgres, 700), and Patroni empties it to rebuild a replica',
      example: '/var/lib/postgresql/patroni-data',
    },
    {
      field: 'etcd.data_dir',
      dir: topology.etcd.data_dir,
      does: "haflow moves an earlier etcd member's data there aside, and etcd takes it over",
      example: '/var/lib/etcd/default',
    },
  ];
  if (topology.backup) {
    dirs.push({
      field: 'backup.repository_path',
      dir: topology.backup.repository_path,
      does: 'haflow gives it to backup.user (chown -R, mode 750), and pgBackRest expires old backups in it',
      example: '/var/lib/pgbackrest',
    });
    dirs.push({
      field: 'backup.restore_dir',
      dir: topology.backup.restore_dir,
      does: 'a restore empties it on the restore host and puts the restored data there',
      example: '/var/lib/postgresql/haflow-restore',
    });
  }
  const { app } = topology;
  if (app) {
    dirs.push({
      field: 'app.ha_dir',
      dir: app.ha_dir,
      does: 'the install archives an earlier HA directory there and then removes it (rm -rf), and gives it to the common user (chown -R)',
      example: '/opt/HA',
    });
    app.sync_dirs.forEach((dir, i) =>
      dirs.push({
        field: `app.sync_dirs[${i}]`,
        dir,
        does: "haflow copies the master's over the slave's (rsync -a: files, owners and modes)",
        example: '/opt/flotomate/attachments',
      }),
    );
  }
  return dirs;
}

/** Other paths haflow writes or relies on: a dedicated directory must not hold one. */
function managedPaths(topology: Topology): { what: string; path: string; field?: string }[] {
  const classic = classicCluster(topology);
  const paths: { what: string; path: string; field?: string }[] = [
    { what: "haflow's file-sync key and settings", path: '/etc/haflow' },
    { what: "haflow's backups", path: '/var/backups/haflow' },
    { what: "the standby's replication password file", path: '/var/lib/postgresql/.pgpass_haflow' },
    { what: "Patroni's password file", path: '/var/lib/postgresql/.pgpass_patroni' },
    { what: "Patroni's configuration", path: '/etc/patroni' },
    { what: "Debian's PostgreSQL cluster", path: classic.dataDir },
    { what: "Debian's PostgreSQL configuration", path: classic.confDir },
    { what: 'the PostgreSQL programs', path: postgresBinDir(topology), field: topology.postgresql.bin_dir ? 'postgresql.bin_dir' : undefined },
  ];
  topology.app?.config_files.forEach((file, i) => paths.push({ what: "the application's configuration", path: file.path, field: `app.config_files[${i}].path` }));
  if (topology.haproxy.tls) paths.push({ what: "HAProxy's certificate", path: topology.haproxy.tls.pem, field: 'haproxy.tls.pem' });
  return paths;
}

const isSyncDir = (d: DedicatedDirectory) => d.field.startsWith('app.sync_dirs');

/** "/opt//HA/" → "/opt/HA" */
const normalise = (path: string) => `/${path.split('/').filter(Boolean).join('/')}`;
const within = (path: string, dir: string) => dir === '/' || path === dir || path.startsWith(`${dir}/`);

/** Why a directory cannot be a dedicated one, or undefined when it can. */
function notDedicated(dir: string): string | undefined {
  const segments = dir.split('/').filter(Boolean);
  if (segments.some((s) => s === '.' || s === '..')) return `${dir} has a . or .. in it, which makes it another directory than it reads`;
  const path = normalise(dir);
  if (SYSTEM_DIRECTORIES.has(path)) return `${dir} is a system directory`;
  const tree = SYSTEM_TREES.find((t) => within(path, t) && !OUTSIDE_SYSTEM_TREES.some((o) => within(path, o)));
  if (tree) return `${dir} is inside ${tree}, which belongs to the system`;
  if (segments.length < 2) return `${dir} is a top-level directory`;
  if (segments.length === 2 && segments[0] === 'home') return `${dir} is a user's home directory`;
  return undefined;
}

/**
 * A directory haflow may remove, empty or take over must be one of its own: at least two levels
 * deep, not a system directory, and not holding another path haflow manages (removing it would
 * take that path with it).
 */
function checkDedicatedDirectories(topology: Topology): CheckIssue[] {
  const issues: CheckIssue[] = [];
  const dirs = dedicatedDirectories(topology);
  const remedy = (d: DedicatedDirectory) => `; ${d.does}: give ${d.field} a directory of its own, such as ${d.example}`;
  const refused = new Set<string>();
  for (const d of dirs) {
    const why = notDedicated(d.dir);
    if (why) {
      issues.push(error(d.field, `${why}${remedy(d)}`));
      refused.add(d.field);
    }
  }
  const classicData = normalise(classicCluster(topology).dataDir);
  dirs.forEach((d, i) => {
    if (refused.has(d.field)) return;
    const dir = normalise(d.dir);
    const others = [
      // Two fields naming one directory are reported once, at the first; sync directories may nest (rsync sends the files twice, harmlessly).
      ...dirs
        .filter((o, j) => j !== i && !refused.has(o.field) && !(normalise(o.dir) === dir && j < i) && !(isSyncDir(o) && isSyncDir(d)))
        .map((o) => ({ what: o.field, path: o.dir, field: o.field })),
      // Patroni adopts the classic cluster's data in place: the same directory, on purpose.
      ...managedPaths(topology).filter((m) => !(d.field === 'postgresql.data_dir' && dir === classicData && normalise(m.path) === classicData)),
    ];
    const clash = others.find((o) => within(normalise(o.path), dir));
    if (!clash) return;
    const said =
      normalise(clash.path) === dir
        ? `${d.dir} is also ${clash.field ?? clash.what}`
        : `${d.dir} holds ${clash.field ? `${clash.field} (${clash.path})` : `${clash.path}, ${clash.what}`}`;
    issues.push(error(d.field, `${said}${remedy(d)}`, clash.field ? [clash.field] : undefined));
  });
  return issues;
}
