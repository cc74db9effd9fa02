// Files on a host, the careful way: look first and act only if different; validate the new
// file before it replaces the old one; keep a dated backup of what it replaces; write a temp
// file and rename it, so a crash never leaves half a file; and never let a file's content
// land before its owner and mode do.
import { randomBytes } from 'node:crypto';
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
  /** The file holds passwords: its diff is shown with them redacted. */
  secret?: boolean;
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

export async function readRemoteFile(ssh: SshSession, path: string): Promise<RemoteState> {
  const script = `if [ -f ${shellQuote(path)} ]; then stat -c '%U %G %a' ${shellQuote(path)}; base64 -w0 ${shellQuote(path)}; else echo absent; fi`;
  const out = await ssh.check(script, { sudo: true });
  const [head, body = ''] = out.split('\n');
  if (head === 'absent') return { exists: false, content: '', owner: '', group: '', mode: 0 };
  const [owner, group, mode] = head.split(' ');
  return { exists: true, content: Buffer.from(body.trim(), 'base64').toString('utf8'), owner, group, mode: parseInt(mode, 8) };
}

/** A unified diff; for a file holding passwords, with every password redacted and a changed one marked so. */
export function fileDiff(path: string, before: string, after: string, secret = false): string {
  const [shownBefore, shownAfter] = secret ? [redactSecrets(before), redactSecrets(after, { comparedWith: before })] : [before, after];
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

export async function ensureRemoteFile(ssh: SshSession, file: ManagedFile, check: boolean): Promise<FileChange> {
  const current = await readRemoteFile(ssh, file.path);
  const changes = describeChanges(current, file);
  if (changes.length === 0) return { path: file.path, changed: false, summary: `${file.path} is up to date` };
  const diff = current.content !== file.content ? fileDiff(file.path, current.content, file.content, file.secret) : undefined;
  if (check) return { path: file.path, changed: true, summary: `would ${changes.join(', ')}`, diff };

  const path = shellQuote(file.path);
  const temp = shellQuote(`${file.path}.haflow-new-${randomBytes(4).toString('hex')}`);
  const backupPath = current.exists ? `${file.path}.haflow-backup-${backupStamp()}` : undefined;
  const steps = [
    'set -e',
    `mkdir -p "$(dirname ${path})"`,
    // Created empty and root-only, given its final owner and mode, and only then filled:
    // a password never sits in a file more readable than the one it becomes. Removed on
    // any failure (after the rename there is nothing left to remove).
    'umask 077',
    `tmp=${temp}`,
    `trap 'rm -f "$tmp"' EXIT`,
    ': > "$tmp"',
    `chown ${shellQuote(`${file.owner}:${file.group}`)} "$tmp"`,
    `chmod ${file.mode.toString(8)} "$tmp"`,
    'cat > "$tmp"',
  ];
  if (file.validate) {
    // The new file is checked where it will run, before it replaces anything.
    steps.push(`if ! out=$(${file.validate.replaceAll('{}', '"$tmp"')} 2>&1); then echo "$out" >&2; exit 65; fi`);
  }
  // The backup is root's alone (umask 077), whatever the old file's mode was.
  if (backupPath) steps.push(`cp --preserve=timestamps ${path} ${shellQuote(backupPath)}`);
  steps.push(`mv -f "$tmp" ${path}`);
  const result = await ssh.exec(steps.join('\n'), { sudo: true, stdin: file.content });
  if (result.code === 65 && file.validate) {
    throw ApplicationFailure.create({
      type: StepFailureTypes.invalidConfig,
      nonRetryable: true,
      message: `${ssh.target.name}: the new ${file.path} was rejected by \`${file.validate.replaceAll('{}', file.path)}\`; the old file is unchanged:\n${result.stderr.trim().slice(-1500)}`,
      details: [{ remedy: `fix the topology (or the host) so that ${file.path} validates, then \`haflow resume <cluster> --retry\`` }],
    });
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

export async function ensureRemoteFiles(ssh: SshSession, files: ManagedFile[], check: boolean): Promise<FilesChange> {
  const result: FilesChange = { changed: false, actions: [], details: [], files: [] };
  for (const file of files) {
    const change = await ensureRemoteFile(ssh, file, check);
    result.files.push(change);
    if (change.changed) {
      result.changed = true;
      result.actions.push(change.summary);
    }
    if (change.diff) result.details.push(change.diff);
  }
  return result;
}
