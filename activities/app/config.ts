// The application's database settings, as the guide's MotadataPatroniHAMasterSlaveAppConfig
// leaves them: every configuration file the classic guide lists points at the observer's
// HAProxy (port 5000) and carries the one DB password. haflow edits only those keys, in
// place, and keeps every other line of the file. Pure: file text in, file text out.
import type { AppConfigFile, Host, Topology } from '../../topology/schema';
import { appDatabaseProxy, requireApp } from '../../topology/derive';

/** What the application needs to reach its database. */
export interface AppDatabaseSettings {
  url: string;
  password: string;
}


/**
 * The JDBC URL the files of `host` carry: the observer's HAProxy, its PostgreSQL port, the
 * application's database; in the classic layout the host's own PostgreSQL, as the application's
 * installer set it up (the slave's is a standby until a failover promotes it).
 */
export function appDatabaseUrl(topology: Topology, host: Host): string {
  const app = requireApp(topology);
  if (topology.layout === 'classic') return `jdbc:postgresql://${host.address}:${topology.postgresql.port}/${app.db_name}`;
  return `jdbc:postgresql://${appDatabaseProxy(topology).address}:${topology.haproxy.postgres_port}/${app.db_name}`;
}





/** The file haflow keeps in the HA directory: which role this node has. */
export function roleFilePath(topology: Topology): string {
  return `${requireApp(topology).ha_dir}/role`;
}

/** The marker that tells haflow's HA directory from an earlier, hand-made one (preflight reads it too). */
export function haDirMarkerPath(topology: Topology): string {
  return `${requireApp(topology).ha_dir}/.haflow`;
}

export class AppConfigError extends Error {}

/**
 * The file with its URL and password keys set. Other lines stay as they are. A key the file
 * does not have is added (properties and env files) or is an error (a shell file whose
 * -D options must be edited where they are, inside a quoted command line).
 */
export function setAppDatabaseSettings(file: AppConfigFile, text: string, settings: AppDatabaseSettings): string {
  const values: [string, string][] = [
    ...(file.url_key ? [[file.url_key, settings.url] as [string, string]] : []),
    [file.password_key, settings.password],
  ];
  if (file.format === 'shell') return setShellOptions(file, text, values);
  for (const [key, value] of values) refuseUnreadable(file, key, value);
  return setKeyValues(text, values);
}

/**
 * Characters the file's reader would not take as written: a Java properties reader turns a
 * backslash into an escape; an env file is often sourced by sh, which would expand $, backticks
 * and quotes, or split at a space. The value is written unquoted, as the application's
 * installer writes it, so such a value is refused rather than written to mean something else.
 */
const UNREADABLE: Record<'properties' | 'env', { pattern: RegExp; says: string }> = {
  properties: { pattern: /[\\\0-\x1f\x7f]|^\s/, says: 'a backslash, a control character or a leading space' },
  env: { pattern: /[^A-Za-z0-9_@%+=:,./^\u0080-\uffff-]/, says: 'a character sh would read as syntax (space, quote, $, backtick, backslash, ;, &, |, <, >, (, ), *, ?, #, !)' },
};

/** Throws AppConfigError when a file of app.config_files could not carry `password` as written: known before any host is read. */
export function refuseUnreadablePassword(topology: Topology, password: string): void {
  for (const file of requireApp(topology).config_files) refuseUnreadable(file, file.password_key, password);
}

function refuseUnreadable(file: AppConfigFile, key: string, value: string): void {
  if (file.format !== 'properties' && file.format !== 'env') return;
  const { pattern, says } = UNREADABLE[file.format];
  if (pattern.test(value)) {
    throw new AppConfigError(`${file.path}: the value for ${key} has ${says}, which this ${file.format} file cannot carry as written; choose a password without them`);
  }
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** key=value lines (Java properties, env files; `export KEY=…` too): the first line of a key is set, later ones removed. */
function setKeyValues(text: string, values: [string, string][]): string {
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  for (const [key, value] of values) {
    const pattern = new RegExp(`^(\\s*(?:export\\s+)?${escapeRegExp(key)}\\s*[=:]\\s*)`);
    const at = lines.findIndex((l) => pattern.test(l));
    if (at < 0) {
      lines.push(`${key}=${value}`);
      continue;
    }
    lines[at] = `${pattern.exec(lines[at])![1]}${value}`;
    for (let i = lines.length - 1; i > at; i--) if (pattern.test(lines[i])) lines.splice(i, 1);
  }
  return `${lines.join('\n')}\n`;
}

/** -Dkey=value options on a command line (boot-hosted-exec.conf): each occurrence gets the value. */
function setShellOptions(file: AppConfigFile, text: string, values: [string, string][]): string {
  let out = text;
  for (const [key, value] of values) {
    if (/[\s"'`$\\]/.test(value)) {
      throw new AppConfigError(
        `${file.path}: the value for -D${key} has a space, quote, $, backtick or backslash, which this shell-format file cannot carry unquoted; choose a password without them`,
      );
    }
    const option = new RegExp(`(-D${escapeRegExp(key)}=)(?:"[^"]*"|'[^']*'|[^\\s"']*)`, 'g');
    if (!option.test(out)) {
      throw new AppConfigError(`${file.path} has no -D${key}=… option to set; the application's installer writes it: install the application first, or fix password_key/url_key for this file`);
    }
    out = out.replace(option, (_m, prefix: string) => `${prefix}${value}`);
  }
  return out;
}
