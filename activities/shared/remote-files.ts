// Files on a host, the careful way: look first and act only if different; validate the new
// file before it replaces the old one; keep a dated backup of what it replaces, where only root
// can reach it; write a temp file and rename it, so a crash never leaves half a file; never let
// a file's content land before its owner and mode do; and never read or write through a link.
import { createHash, randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { createTwoFilesPatch } from 'diff';
import { StepFailureTypes } from '../contract';
import { redactSecrets } from './redact';
import type { SshSession } from './ssh';
import { shellQuote } from './shell';

/** A file haflow manages on a host: where, whose, which mode, and its content rendered from the topology. */
export interface ManagedFile {
  path: string;
  content: string;
  owner: string;
  group: string;
  mode: number;
  /**
   * What of the content is secret, so that no diff shows it (diffs reach the workflow's history):
   * - 'passwords': the values under password keys (any key ending in "password", and
   *   `passwordKeys`) and the credentials in URLs; the rest of the diff is shown;
   * - 'whole': all of it (a private key, a PEM): the diff says only that it changed, with a
   *   short hash of each side.
   */
  secret?: 'passwords' | 'whole';
  /** Keys whose values are passwords whatever their name (an application file's password_key); with secret 'passwords'. */
  passwordKeys?: string[];
  /** A command that must accept the new file before it is put in place; `{}` is the temp file's path. */
  validate?: string;
}

/** Where haflow keeps archives of what it replaced or removed on a host: root only. */
export const BACKUP_DIR = '/var/backups/haflow';

/** Shell lines that archive `paths` (or everything under `cwd`) into `archive`, in a directory and a file readable by root only. */
export function archiveCommand(archive: string, paths: string[], options: { cwd?: string } = {}): string {
  const from = options.cwd ? `-C ${shellQuote(options.cwd)} .` : paths.map(shellQuote).join(' ');
  const dir = archive.slice(0, archive.lastIndexOf('/')) || '/';
  return `install -d -m 700 ${shellQuote(dir)} && chmod 700 ${shellQuote(dir)} && (umask 077 && tar -czf ${shellQuote(archive)} ${from})`;
}

export interface FileChange {
  path: string;
  changed: boolean;
  /** What changed (or would change), one line. */
  summary: string;
  /** Unified diff, passwords redacted. */
  diff?: string;
  backup?: string;
}

interface RemoteState {
  exists: boolean;
  content: string;
  owner: string;
  group: string;
  mode: number;
}

/** What `stat -c %F` calls a file, as an operator would say it. */
const FILE_KINDS: Record<string, string> = {
  directory: 'a directory',
  fifo: 'a named pipe (FIFO)',
  socket: 'a socket',
  'character special file': 'a character device',
  'block special file': 'a block device',
};

/**
 * The file at `path` as root sees it, never through a link: a managed path is often in a
 * directory others may write to (an application's own), and whatever root read or wrote through
 * a link placed there would be another file (its content in a diff, its owner and mode copied, the
 * password written into it). So a link, anything but a regular file, and a second name of another
 * file (a hard link) are refused. The file is opened first, then compared with what is at the
 * path: a link swapped in between cannot pass for it.
 */
export async function readRemoteFile(ssh: SshSession, path: string): Promise<RemoteState> {
  const p = shellQuote(path);
  const script = [
    `if [ -L ${p} ]; then printf 'link\\t%s\\n' "$(readlink -- ${p})"`,
    `elif [ ! -e ${p} ]; then echo absent`,
    `elif [ ! -f ${p} ]; then printf 'other\\t%s\\n' "$(stat -c %F -- ${p})"`,
    'else',
    `  exec 3< ${p}`,
    `  if [ "$(stat -L -c %d:%i /proc/self/fd/3)" != "$(stat -c %d:%i -- ${p})" ]; then echo moved; exit 0; fi`,
    `  printf 'file\\t%s\\n' "$(stat -L -c '%U %G %a %h' /proc/self/fd/3)"`,
    '  base64 -w0 <&3',
    'fi',
  ].join('\n');
  const out = await ssh.check(script, { sudo: true });
  const [head, body = ''] = out.split('\n');
  const [kind, about = ''] = head.split('\t');
  const where = `${ssh.target.name}: ${path}`;
  const refuse = (what: string, remedy: string) =>
    ApplicationFailure.create({ type: StepFailureTypes.guardFailed, nonRetryable: true, message: `${where} ${what}`, details: [{ remedy: `${remedy}, then \`haflow resume <cluster> --retry\`` }] });
  if (kind === 'absent') return { exists: false, content: '', owner: '', group: '', mode: 0 };
  if (kind === 'link' && about === '/dev/null') {
    // How systemctl masks a unit: an operator's "never start this", not haflow's to undo.
    throw refuse('is a symbolic link to /dev/null (masked)', `on ${ssh.target.name}, remove the link (\`systemctl unmask <unit>\` for a unit file) if haflow is to manage ${path}`);
  }
  if (kind === 'link') {
    throw refuse(
      `is a symbolic link to ${about.slice(0, 300)}; haflow reads and writes it as root and does not follow links (they would lead it to another file)`,
      `on ${ssh.target.name}, find out who made ${path} a link: if what it points to is the file meant, name that file in the topology (or put a copy of it in the link's place: cp --remove-destination "$(readlink -f ${shellQuote(path)})" ${shellQuote(path)}); otherwise remove the link`,
    );
  }
  if (kind === 'other') {
    throw refuse(`is ${FILE_KINDS[about] ?? about}, not a regular file`, `on ${ssh.target.name}, move it away from ${path} (haflow writes a regular file there), or fix the path in the topology`);
  }
  if (kind === 'moved') {
    throw ApplicationFailure.create({ type: StepFailureTypes.commandFailed, message: `${where} was replaced while haflow read it; it is read again on the next attempt` });
  }
  const [owner, group, mode, links] = about.split(' ');
  if (Number(links) > 1) {
    throw refuse(
      `has ${links} names (hard links): it is also another file, and haflow reads and writes it as root`,
      `on ${ssh.target.name}, give ${path} a content of its own (cp -p ${shellQuote(path)} ${shellQuote(`${path}.own`)} && mv ${shellQuote(`${path}.own`)} ${shellQuote(path)})`,
    );
  }
  return { exists: true, content: Buffer.from(body.trim(), 'base64').toString('utf8'), owner, group, mode: parseInt(mode, 8) };
}

/** How secret a file's content is (see ManagedFile.secret). */
export type FileSecrecy = Pick<ManagedFile, 'secret' | 'passwordKeys'>;

/** The first 12 hex digits of the SHA-256 of `text`: tells two contents apart, and nothing about them. */
const shortHash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);

/**
 * A unified diff; for a file holding passwords, with every password redacted and a changed one
 * marked so; for a file secret as a whole, only that it changed.
 */
export function fileDiff(path: string, before: string, after: string, secrecy: FileSecrecy = {}): string {
  if (secrecy.secret === 'whole') {
    const hash = (text: string) => (text === '' ? '(empty)' : `sha256 ${shortHash(text)}`);
    return `${path}: its content is secret and not shown; it changes from ${hash(before)} to ${hash(after)}\n`;
  }
  const keys = { passwordKeys: secrecy.passwordKeys };
  const [shownBefore, shownAfter] = secrecy.secret === 'passwords' ? [redactSecrets(before, keys), redactSecrets(after, { ...keys, comparedWith: before })] : [before, after];
  return createTwoFilesPatch(path, path, shownBefore, shownAfter, 'on the host', 'from the topology', { context: 2 });
}

function describeChanges(current: RemoteState, file: ManagedFile): string[] {
  if (!current.exists) return [`create ${file.path}`];
  const changes: string[] = [];
  if (current.content !== file.content) {
    const before = current.content.split('\n').length;
    const after = file.content.split('\n').length;
    changes.push(`rewrite ${file.path} (${before} → ${after} lines)`);
  }
  if (current.owner !== file.owner || current.group !== file.group) changes.push(`chown ${file.owner}:${file.group} (was ${current.owner}:${current.group})`);
  if (current.mode !== file.mode) changes.push(`chmod ${file.mode.toString(8)} (was ${current.mode.toString(8)})`);
  return changes;
}

/** The timestamp in backup names: sorts by time, readable, no characters a shell minds. */
export function backupStamp(date = new Date()): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** Where the files haflow replaces are kept, by their path on the host: root only, like every haflow backup. */
export const FILE_BACKUP_DIR = `${BACKUP_DIR}/files`;

export interface WriteOptions {
  /** Where backups go (FILE_BACKUP_DIR): a directory only root may enter. */
  backupDir?: string;
}

/**
 * The backup of `path` replaced now: under `backupDir` by its own path, dated, and with a random
 * part, so that no one can know its name beforehand (nor place anything there: the directory is root's).
 */
function backupPathFor(path: string, backupDir = FILE_BACKUP_DIR, date = new Date()): string {
  return `${backupDir}${path.startsWith('/') ? '' : '/'}${path}.${backupStamp(date)}-${randomBytes(8).toString('hex')}`;
}

/** The temp file the write script created, as its open descriptor (fd 3), for the commands it runs. */
const NEW_FILE = '/proc/self/fd/3';

export async function ensureRemoteFile(ssh: SshSession, file: ManagedFile, check: boolean, options: WriteOptions = {}): Promise<FileChange> {
  const current = await readRemoteFile(ssh, file.path);
  const changes = describeChanges(current, file);
  if (changes.length === 0) return { path: file.path, changed: false, summary: `${file.path} is up to date` };
  const diff = current.content !== file.content ? fileDiff(file.path, current.content, file.content, file) : undefined;
  if (check) return { path: file.path, changed: true, summary: `would ${changes.join(', ')}`, diff };

  const path = shellQuote(file.path);
  const backupDir = options.backupDir ?? FILE_BACKUP_DIR;
  const backupPath = current.exists ? backupPathFor(file.path, backupDir) : undefined;
  const steps = [
    'set -e',
    // As it was read: it is not a link nor anything but a regular file (exit 66: look again).
    `if [ -L ${path} ] || { [ -e ${path} ] && [ ! -f ${path} ]; }; then echo ${shellQuote(`${file.path} changed since it was read`)} >&2; exit 66; fi`,
    `mkdir -p "$(dirname ${path})"`,
    'umask 077',
    `tmp=${shellQuote(`${file.path}.haflow-new-${randomBytes(8).toString('hex')}`)}`,
    `trap 'rm -f "$tmp"' EXIT`,
    // The temp file is created here, never opened through anything already at its name
    // (noclobber), and held open: its owner, mode and content are set through the open file
    // (/proc/self/fd/3), so whoever can write the directory cannot point the name elsewhere
    // meanwhile. Root-only and empty until its owner and mode are final: a password never sits
    // in a file more readable than the one it becomes.
    'set -C',
    'exec 3> "$tmp"',
    'set +C',
    `[ -f ${NEW_FILE} ]`,
    `chown ${shellQuote(`${file.owner}:${file.group}`)} ${NEW_FILE}`,
    `chmod ${file.mode.toString(8)} ${NEW_FILE}`,
    'cat >&3',
  ];
  if (file.validate) {
    // The new file is checked where it will run, before it replaces anything: the file written
    // above, through its open descriptor, whatever its name may lead to by now.
    steps.push(`if ! out=$(${file.validate.replaceAll('{}', NEW_FILE)} 2>&1); then echo "$out" >&2; exit 65; fi`);
  }
  if (backupPath) {
    // Into a root-only directory, under a name no one knew, created here (noclobber) and then
    // filled; cp -P reads the old file without following a link.
    const dir = shellQuote(backupDir);
    steps.push(
      `install -d -m 700 ${dir}`,
      `chmod 700 ${dir}`,
      `if [ -L ${dir} ] || [ ! -O ${dir} ]; then echo ${shellQuote(`${backupDir} is not a directory of root's own`)} >&2; exit 1; fi`,
      `backup=${shellQuote(backupPath)}`,
      'mkdir -p "$(dirname "$backup")"',
      'set -C',
      ': > "$backup"',
      'set +C',
      `cp -P --preserve=timestamps ${path} "$backup"`,
    );
  }
  // What goes into place is the file written above, and (-T) never into a directory that took the file's place.
  steps.push(
    `if [ "$(stat -c %d:%i -- "$tmp")" != "$(stat -L -c %d:%i ${NEW_FILE})" ]; then echo ${shellQuote(`${file.path}: the new file was replaced before it was put in place`)} >&2; exit 66; fi`,
    `mv -fT "$tmp" ${path}`,
  );
  const result = await ssh.exec(steps.join('\n'), { sudo: true, stdin: file.content });
  if (result.code === 65 && file.validate) {
    throw ApplicationFailure.create({
      type: StepFailureTypes.invalidConfig,
      nonRetryable: true,
      message: `${ssh.target.name}: the new ${file.path} was rejected by \`${file.validate.replaceAll('{}', file.path)}\`; the old file is unchanged:\n${result.stderr.replaceAll(NEW_FILE, file.path).trim().slice(-1500)}`,
      details: [{ remedy: `fix the topology (or the host) so that ${file.path} validates, then \`haflow resume <cluster> --retry\`` }],
    });
  }
  if (result.code === 66) {
    throw ApplicationFailure.create({ type: StepFailureTypes.commandFailed, message: `${ssh.target.name}: ${file.path} changed while haflow wrote it; it is looked at again on the next attempt` });
  }
  if (result.code !== 0) {
    throw ApplicationFailure.create({
      type: StepFailureTypes.commandFailed,
      message: `${ssh.target.name}: writing ${file.path} failed (exit ${result.code}): ${result.stderr.trim().slice(-500)}`,
    });
  }
  return {
    path: file.path,
    changed: true,
    summary: `${changes.join(', ')}${backupPath ? `; backup ${backupPath}` : ''}`,
    diff,
    backup: backupPath,
  };
}

/** What writing several files did (or would do): one line each that changed, and their diffs. */
export interface FilesChange {
  changed: boolean;
  actions: string[];
  details: string[];
  /** Per file, in the order given. */
  files: FileChange[];
}

export async function ensureRemoteFiles(ssh: SshSession, files: ManagedFile[], check: boolean, options: WriteOptions = {}): Promise<FilesChange> {
  const result: FilesChange = { changed: false, actions: [], details: [], files: [] };
  for (const file of files) {
    const change = await ensureRemoteFile(ssh, file, check, options);
    result.files.push(change);
    if (change.changed) {
      result.changed = true;
      result.actions.push(change.summary);
    }
    if (change.diff) result.details.push(change.diff);
  }
  return result;
}
