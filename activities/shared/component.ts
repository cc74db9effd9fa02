// What a component (etcd, HAProxy, PostgreSQL, Patroni) owns, in the manner of an Ansible
// role: the hosts it runs on, its packages, its service, the files haflow writes for it, and
// the files of an earlier, hand-made setup of it. One list of these (activities/components.ts)
// is read by `haflow render`, the packages step, preflight and the component's own activities.
import type { Host, Role, SecretRef, Topology } from '../../topology/schema';
import type { ManagedFile } from './remote-files';
import type { SecretRules } from './secrets';

export type PackageFamily = 'apt' | 'dnf';

/**
 * Turns a secret reference into the text a file holds: the value itself when the worker writes
 * the file, a placeholder such as `<env HAFLOW_PG_SUPERUSER_PASSWORD>` when `haflow render` shows it.
 */
export type SecretText = (ref: SecretRef, field: string, options?: SecretRules) => string;

export interface Component {
  name: string;
  /** Hosts with this role run the component. */
  role: Role;
  /** Whether a host runs it, where that is more than having its role (pgBackRest also runs on the DB nodes). */
  runsOn?(topology: Topology, host: Host): boolean;
  /** Its systemd unit. */
  service: string;
  /** Package names per package manager. */
  packages(topology: Topology, family: PackageFamily): string[];
  /** Every file haflow writes for it on a host of its role, rendered; the first is its main configuration. */
  files(topology: Topology, host: Host, secret: SecretText): ManagedFile[];
  /** A file that, without haflow's header and with a line matching `pattern` (grep -E), is an earlier setup to back up. */
  foreignConfigs: { path: string; pattern: string }[];
}

/** The first words of every file haflow writes (see shared/render.ts): what tells its files from anyone else's. */
export const MANAGED_MARKER = 'Managed by haflow';
