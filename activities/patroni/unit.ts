// patroni.service in /etc/systemd/system, which overrides the unit Debian's package installs
// in /lib/systemd/system, so the service behaves as haflow expects whatever package version
// is installed. Pure: topology in, file text out.
import type { Topology } from '../../topology/schema';
import { patroniScope } from '../../topology/derive';
import { formatUnit, managedHeader } from '../shared/render';
import { patroniConfigPath } from './config';

export const patroniUnitPath = '/etc/systemd/system/patroni.service';

/**
 * The five-node tutorial's patroni.service (Step 7) adapted to Debian's package.
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
        // it rejoin (a leader still holding the key resumes without a failover, measured at
        // 1.4 s after kill -9), and a node that lost the key comes back as a replica.
        'Restart=on-failure',
      ],
    ],
    ['Install', ['WantedBy=multi-user.target']],
  ]);
}
