// Files on a host, the careful way: look first and act only if different; validate the new
// file before it replaces the old one; keep a dated backup of what it replaces; write a temp
// file and rename it, so a crash never leaves half a file.
import { randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { createTwoFilesPatch } from 'diff';
import { shellQuote, type SshSession } from './ssh';

export interface RemoteFile {
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

export interface FileChange {
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

/** Replaces password values with <redacted> so a diff can be shown and stored. */
export function redactSecrets(text: string): string {
  return (
    text
      // key: value, key=value, export KEY=value, - password: value (keys ending in "password")
      .replace(/^([ \t]*(?:-[ \t]+)?(?:export[ \t]+)?[\w.-]*password[ \t]*[:=][ \t]*)(\S.*)$/gim, '$1<redacted>')
      // -Dspring.datasource.password=value inside a command line
      .replace(/(-D[\w.-]*password=)("[^"]*"|[^\s"]+)/gi, '$1<redacted>')
  );
}

export function fileDiff(path: string, before: string, after: string, secret = false): string {
  const clean = secret ? redactSecrets : (s: string) => s;
  return createTwoFilesPatch(path, path, clean(before), clean(after), 'on the host', 'from the topology', { context: 2 });
}

function describeChanges(current: RemoteState, file: RemoteFile): string[] {
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

export async function ensureRemoteFile(ssh: SshSession, file: RemoteFile, check: boolean): Promise<FileChange> {
  const current = await readRemoteFile(ssh, file.path);
  const changes = describeChanges(current, file);
  if (changes.length === 0) return { changed: false, summary: `${file.path} is up to date` };
  const diff = current.content !== file.content ? fileDiff(file.path, current.content, file.content, file.secret) : undefined;
  if (check) return { changed: true, summary: `would ${changes.join(', ')}`, diff };

  const path = shellQuote(file.path);
  const temp = shellQuote(`${file.path}.haflow-new-${randomBytes(4).toString('hex')}`);
  const backupPath = current.exists ? `${file.path}.haflow-backup-${backupStamp()}` : undefined;
  const steps = [
    'set -e',
    `mkdir -p "$(dirname ${path})"`,
    `cat > ${temp}`,
    `chown ${shellQuote(`${file.owner}:${file.group}`)} ${temp}`,
    `chmod ${file.mode.toString(8)} ${temp}`,
  ];
  if (file.validate) {
    // The new file is checked where it will run, before it replaces anything.
    steps.push(`if ! out=$(${file.validate.replaceAll('{}', temp)} 2>&1); then rm -f ${temp}; echo "$out" >&2; exit 65; fi`);
  }
  if (backupPath) steps.push(`cp -p ${path} ${shellQuote(backupPath)}`);
  steps.push(`mv -f ${temp} ${path}`);
  const result = await ssh.exec(steps.join('\n'), { sudo: true, stdin: file.content });
  if (result.code === 65 && file.validate) {
    throw ApplicationFailure.create({
      type: 'InvalidConfig',
      nonRetryable: true,
      message: `${ssh.target.name}: the new ${file.path} was rejected by \`${file.validate.replaceAll('{}', file.path)}\`; the old file is unchanged:\n${result.stderr.trim().slice(-1500)}`,
      details: [{ remedy: `fix the topology (or the host) so that ${file.path} validates, then \`haflow resume <cluster> --retry\`` }],
    });
  }
  if (result.code !== 0) {
    throw ApplicationFailure.create({
      type: 'CommandFailed',
      message: `${ssh.target.name}: writing ${file.path} failed (exit ${result.code}): ${result.stderr.trim().slice(-500)}`,
    });
  }
  return {
    changed: true,
    summary: `${changes.join(', ')}${backupPath ? `; backup ${backupPath}` : ''}`,
    diff,
    backup: backupPath,
  };
}
