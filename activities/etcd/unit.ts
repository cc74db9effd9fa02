// etcd.service in /etc/systemd/system, which overrides the unit Debian's package installs in
// /lib/systemd/system. Pure: topology in, file text out.
import type { Topology } from '../../topology/schema';
import { etcdMembers } from '../../topology/derive';
import { formatUnit, managedHeader } from '../shared/render';
import { etcdDefaultsPath } from './config';

export const etcdUnitPath = '/etc/systemd/system/etcd.service';

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
