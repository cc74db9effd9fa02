// The platforms haflow knows, as data: what each OS release packages (or where its packages come
// from), where PostgreSQL lives there, and whether haflow's own tests install on it. Each
// component's folder reads the facts it needs from here, keyed by what a machine reports
// (/etc/os-release, the versions it runs), instead of branching through the runbooks.
import { osSupported } from './derive';

export interface Platform {
  /** As /etc/os-release says it: "<ID> <VERSION_ID>". */
  os: string;
  /** The release's name in its archive's suites (bookworm, bookworm-updates, bookworm-security); none for RHEL. */
  codename?: string;
  /** haflow's tests install and fail over clusters on it (the lab's machines run it). */
  tested: boolean;
  /** The PostgreSQL majors its packages come in, and from where. */
  postgresql: { majors: number[]; from: string };
  /** The versions of the other daemons there (as packaged, or the repository's at the time of writing). */
  patroni: string;
  etcd: string;
  haproxy: string;
  packageFamily: 'apt' | 'dnf';
  /** PostgreSQL's programs for a major version. */
  binDir: (major: number) => string;
}

const debianBinDir = (major: number) => `/usr/lib/postgresql/${major}/bin`;

export const PLATFORMS: readonly Platform[] = [
  {
    os: 'debian 12',
    codename: 'bookworm',
    tested: true,
    postgresql: { majors: [15], from: "Debian's archive (bookworm)" },
    patroni: '3.0.2',
    etcd: '3.4.23',
    haproxy: '2.6',
    packageFamily: 'apt',
    binDir: debianBinDir,
  },
  {
    os: 'debian 13',
    codename: 'trixie',
    tested: true,
    postgresql: { majors: [17], from: "Debian's archive (trixie)" },
    patroni: '4.0.7',
    etcd: '3.5.16',
    haproxy: '3.0',
    packageFamily: 'apt',
    binDir: debianBinDir,
  },
  {
    os: 'ubuntu 22.04',
    codename: 'jammy',
    tested: false,
    postgresql: { majors: [16, 17], from: 'the PostgreSQL project\'s apt repository (apt.postgresql.org)' },
    patroni: 'apt.postgresql.org\'s',
    etcd: '3.3 (Ubuntu\'s etcd-server)',
    haproxy: '2.4',
    packageFamily: 'apt',
    binDir: debianBinDir,
  },
  {
    os: 'ubuntu 24.04',
    codename: 'noble',
    tested: false,
    postgresql: { majors: [16, 17], from: 'Ubuntu\'s archive (16) or apt.postgresql.org' },
    patroni: '3.2 (Ubuntu\'s)',
    etcd: '3.4 (Ubuntu\'s etcd-server)',
    haproxy: '2.8',
    packageFamily: 'apt',
    binDir: debianBinDir,
  },
  ...['rhel 9.4', 'rhel 9.6'].map(
    (os): Platform => ({
      os,
      tested: false,
      postgresql: { majors: [16, 17], from: 'the PostgreSQL project\'s yum repository (PGDG): postgresql<major>-server' },
      patroni: 'PGDG\'s patroni and patroni-etcd',
      etcd: 'PGDG\'s etcd',
      haproxy: '2.4 (RHEL\'s)',
      packageFamily: 'dnf',
      // PGDG's layout: set postgresql.bin_dir to it (haflow's default is Debian's).
      binDir: (major) => `/usr/pgsql-${major}/bin`,
    }),
  ),
];

/** The platform an OS release is, if haflow knows it ("debian 12.5" is debian 12). */
export function platformOf(os: string | undefined): Platform | undefined {
  if (!os) return undefined;
  return PLATFORMS.find((p) => osSupported(os, [p.os]));
}

/** What `validate` and the README claim: tested here, or written for and not tested. */
export function platformClaim(platform: Platform): string {
  return platform.tested
    ? `${platform.os}: tested (PostgreSQL ${platform.postgresql.majors.join(', ')}, Patroni ${platform.patroni}, etcd ${platform.etcd}, HAProxy ${platform.haproxy})`
    : `${platform.os}: written for, not tested here (PostgreSQL ${platform.postgresql.majors.join(', ')} from ${platform.postgresql.from})`;
}

export interface PatroniTimings {
  ttl: number;
  loop_wait: number;
  retry_timeout: number;
}

/**
 * The least ttl, loop_wait and retry_timeout Patroni accepts: from 3.1 on it raises smaller
 * values to these (with a warning in its log, "ttl=10 can't be smaller than 20, adjusting"),
 * while its dynamic configuration still shows what was written. 3.0 takes them as written.
 */
export function patroniTimingFloors(version: string | undefined): PatroniTimings | undefined {
  const [major, minor] = patroniMajorMinor(version);
  if (major === undefined || major < 3 || (major === 3 && minor! < 1)) return undefined;
  return { ttl: 20, loop_wait: 1, retry_timeout: 3 };
}

/** "4.0.7" → [4, 0]; "3.2 (Ubuntu's)" → [3, 2]; a version not known ("apt.postgresql.org's") → []. */
function patroniMajorMinor(version: string | undefined): [number?, number?] {
  const match = /^(\d+)\.(\d+)/.exec(version ?? '');
  return match ? [Number(match[1]), Number(match[2])] : [];
}

/** The timings a Patroni of this version runs with, given those written (unknown version: as written). */
export function effectivePatroniTimings(written: PatroniTimings, version: string | undefined): PatroniTimings {
  const floors = patroniTimingFloors(version);
  if (!floors) return { ttl: written.ttl, loop_wait: written.loop_wait, retry_timeout: written.retry_timeout };
  return {
    ttl: Math.max(written.ttl, floors.ttl),
    loop_wait: Math.max(written.loop_wait, floors.loop_wait),
    retry_timeout: Math.max(written.retry_timeout, floors.retry_timeout),
  };
}

/** Quorum-based synchronous replication (`synchronous_mode: quorum`) came with Patroni 4.0. */
export function patroniHasQuorum(version: string | undefined): boolean {
  return (patroniMajorMinor(version)[0] ?? 0) >= 4;
}
