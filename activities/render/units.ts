// systemd units for Patroni and etcd. They go to /etc/systemd/system, which overrides the
// units Debian's packages install in /lib/systemd/system, so the service behaves as haflow
// expects whatever package version is installed. Pure: topology in, file text out.
import type { Topology } from '../../topology/schema';
import { etcdMembers, patroniScope } from '../../topology/derive';
import { hashComment, managedHeader } from './common';
import { etcdDefaultsPath } from './etcd';
import { patroniConfigPath } from './patroni';

export const patroniUnitPath = '/etc/systemd/system/patroni.service';
export const etcdUnitPath = '/etc/systemd/system/etcd.service';

/** A unit section: its name and its lines (comments start with `#`). */
type UnitSection = [name: string, lines: string[]];

function formatUnit(header: string[], sections: UnitSection[]): string {
  const body = sections.map(([name, lines]) => [`[${name}]`, ...lines].join('\n')).join('\n\n');
  return `${hashComment(header)}\n\n${body}\n`;
}

/**
 * The tutorial's patroni.service (seed 003, Step 7) adapted to Debian's package.
 * Differences from Debian's own /lib/systemd/system/patroni.service (patroni 3.0.2-1):
 * - no `EnvironmentFile=-/etc/patroni_env.conf`: every setting lives in config.yml;
 * - waits for network-online.target, not just network.target (see below).
 * Same as Debian's: User/Group, ExecStart, ExecReload, KillMode, TimeoutSec, Restart,
 * ConditionPathExists.
 */
export function renderPatroniUnit(topology: Topology): string {
  return formatUnit(managedHeader(topology, `Patroni service (scope ${patroniScope(topology)})`), [
    [
      'Unit',
      [
        'Description=High availability PostgreSQL Cluster (Patroni)',
        // Patroni binds its REST API and PostgreSQL to the node's own address, which must
        // exist first. (The tutorial's syslog.target is obsolete: journald is always there.)
        'After=network-online.target',
        'Wants=network-online.target',
        // Like Debian's unit: an enabled but not yet configured node stays quietly inactive.
        `ConditionPathExists=${patroniConfigPath}`,
      ],
    ],
    [
      'Service',
      [
        'Type=simple',
        'User=postgres',
        'Group=postgres',
        // Debian installs patroni in /usr/bin (the tutorial's pip install used /usr/local/bin).
        `ExecStart=/usr/bin/patroni ${patroniConfigPath}`,
        // Patroni re-reads config.yml on SIGHUP.
        'ExecReload=/bin/kill -s HUP $MAINPID',
        // Stop only Patroni: it then shuts PostgreSQL down cleanly itself.
        'KillMode=process',
        'TimeoutSec=30',
        // The tutorial says Restart=no, to inspect a crashed database by hand. Here a crashed
        // Patroni that stays down leaves its PostgreSQL unmanaged; restarting it in place lets
        // it rejoin (a leader still holding the key resumes without a failover: lab notes §6,
        // 1.4 s after kill -9), and a node that lost the key comes back as a replica.
        'Restart=on-failure',
      ],
    ],
    ['Install', ['WantedBy=multi-user.target']],
  ]);
}

/**
 * etcd.service for the members in /etc/default/etcd.
 * Differences from Debian's own /lib/systemd/system/etcd.service (etcd-server 3.4.23-4):
 * - Debian sets `Environment=ETCD_NAME=%H` and `ETCD_DATA_DIR=...` defaults and passes
 *   `$DAEMON_ARGS`; here the environment file haflow writes holds every setting;
 * - Debian reads `EnvironmentFile=-/etc/default/%p`, the same file spelled out;
 * - Debian restarts `on-abnormal` (signals, timeouts) only; here also on a non-zero exit,
 *   e.g. when the member's address was not up yet;
 * - no `PermissionsStartOnly=true` (deprecated in systemd) and no `Alias=etcd2.service`.
 */
export function renderEtcdUnit(topology: Topology): string {
  return formatUnit(managedHeader(topology, `etcd service (members: ${etcdMembers(topology).map((m) => m.name).join(', ')})`), [
    [
      'Unit',
      [
        'Description=etcd - highly-available key value store',
        'Documentation=https://etcd.io/docs',
        'Documentation=man:etcd',
        // etcd binds to the member's own address, which must exist first.
        'After=network-online.target',
        'Wants=network-online.target',
      ],
    ],
    [
      'Service',
      [
        // etcd reports ready only once its cluster has a leader: with several new members,
        // `systemctl start` on one blocks until a quorum of them runs, so start them together.
        'Type=notify',
        'User=etcd',
        `EnvironmentFile=-${etcdDefaultsPath}`,
        'ExecStart=/usr/bin/etcd',
        'Restart=on-failure',
        'LimitNOFILE=65536',
      ],
    ],
    ['Install', ['WantedBy=multi-user.target']],
  ]);
}
