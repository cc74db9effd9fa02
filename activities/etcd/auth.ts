// etcd's client authentication (etcd.auth): the root user, Patroni's own user with read-write on
// the cluster's DCS namespace only, then authentication on. Run with etcdctl on an etcd member;
// the passwords reach it inside a script on stdin (never a command line; no blanks, which
// etcdctl's stdin reading would cut at), and every change is
// looked for first, so a second run, or a retry after a lost worker, changes nothing.
import { ApplicationFailure } from '@temporalio/common';
import type { Topology } from '../../topology';
import { StepFailureTypes, type HostInput, type StepResult } from '../contract';
import { resolveSecret } from '../shared/secrets';
import { shellQuote } from '../shared/shell';
import { onHost, stepResult } from '../shared/step';
import { tlsPaths } from '../../topology/tls';
import { etcdUrl } from './endpoint';

/** The role haflow gives Patroni's user: read-write on the namespace, nothing else. */
export const PATRONI_ETCD_ROLE = 'patroni';

/**
 * The script that makes etcd's authentication what the topology says, or (check) says what it
 * would change. It prints `action: …` for each change and `ok` at the end; exit 3 when auth is on
 * and the root password is refused (only the operator can fix that), exit 4 when etcd does not answer.
 */
export function etcdAuthScript(topology: Topology, endpoint: string, passwords: { root: string; user: string }, check: boolean): string {
  const auth = topology.etcd.auth!;
  const user = shellQuote(auth.username);
  const prefix = shellQuote(topology.patroni.namespace);
  // Braced: it follows `look ||`, and `a || b && c` would run c when a succeeds.
  const act = (what: string, command: string) => (check ? `echo ${shellQuote(`action: would ${what}`)}` : `{ ${command} >/dev/null && echo ${shellQuote(`action: ${what}`)}; }`);
  // What a first run does, in its order: also what check mode lists while etcd does not answer yet.
  const change = {
    root: 'create etcd user root',
    rootRole: 'grant etcd user root the root role',
    role: `create etcd role ${PATRONI_ETCD_ROLE}`,
    permission: `let role ${PATRONI_ETCD_ROLE} read and write ${topology.patroni.namespace} (prefix)`,
    user: `create etcd user ${auth.username}`,
    userRole: `grant etcd user ${auth.username} the role ${PATRONI_ETCD_ROLE}`,
    enable: 'turn etcd authentication on',
  };
  return [
    'set -eu',
    'export ETCDCTL_API=3',
    // With TLS etcdctl verifies the member with the cluster's CA.
    ...(tlsPaths(topology) ? [`export ETCDCTL_CACERT=${shellQuote(tlsPaths(topology)!.caBundle)}`] : []),
    `E=--endpoints=${shellQuote(endpoint)}`,
    `ROOT_PW=${shellQuote(passwords.root)}`,
    `USER_PW=${shellQuote(passwords.user)}`,
    // etcdctl 3.4's user and role commands wait forever for an etcd that does not answer (its
    // --command-timeout bounds only key-value requests): each call gets a limit of its own, and
    // etcd is asked first, bounded, whether it answers at all (`endpoint status`: `endpoint health`
    // counts a refused anonymous request as unhealthy).
    'etcdctl() { timeout 20 etcdctl "$@"; }', // timeout runs the program, not this function
    'if ! etcdctl "$E" --command-timeout=5s endpoint status >/dev/null 2>&1; then',
    ...(check
      ? [...Object.values(change).map((c) => `  echo ${shellQuote(`action: would ${c}`)}`), `  echo ${shellQuote(`etcd does not answer at ${endpoint} yet`)}`, '  echo ok', '  exit 0']
      : [`  echo ${shellQuote(`etcd does not answer at ${endpoint}`)} >&2`, '  exit 4']),
    'fi',
    // Anonymous requests work only while authentication is off.
    'if etcdctl "$E" user list >/dev/null 2>&1; then on=no; else on=yes; fi',
    'if [ "$on" = yes ]; then',
    '  export ETCDCTL_USER="root:$ROOT_PW"',
    '  if ! err=$(etcdctl "$E" user list 2>&1 >/dev/null); then',
    '    echo "$err" | tail -1 >&2',
    // Only a refused password is the operator's to fix; anything else is worth a retry.
    '    case "$err" in *"authentication failed"*) exit 3 ;; *) exit 1 ;; esac',
    '  fi',
    'fi',
    'users=$(etcdctl "$E" user list)',
    'roles=$(etcdctl "$E" role list)',
    'has() { printf "%s\\n" "$1" | grep -qxF "$2"; }',
    'hasrole() { etcdctl "$E" user get "$1" 2>/dev/null | sed -n "s/^Roles: *//p" | tr " " "\\n" | grep -qxF "$2"; }',
    `has "$users" root || ${act(change.root, 'printf "%s\\n" "$ROOT_PW" | etcdctl "$E" user add root --interactive=false')}`,
    `hasrole root root || ${act(change.rootRole, 'etcdctl "$E" user grant-role root root')}`,
    `has "$roles" ${PATRONI_ETCD_ROLE} || ${act(change.role, `etcdctl "$E" role add ${PATRONI_ETCD_ROLE}`)}`,
    // Read and write, both on the namespace as a prefix: etcdctl lists each as "(prefix <namespace>)".
    `[ "$(etcdctl "$E" role get ${PATRONI_ETCD_ROLE} 2>/dev/null | grep -cF ${shellQuote(`(prefix ${topology.patroni.namespace})`)})" -ge 2 ] || ${act(
      change.permission,
      `etcdctl "$E" role grant-permission ${PATRONI_ETCD_ROLE} --prefix=true readwrite ${prefix}`,
    )}`,
    `has "$users" ${user} || ${act(change.user, `printf "%s\\n" "$USER_PW" | etcdctl "$E" user add ${user} --interactive=false`)}`,
    `hasrole ${user} ${PATRONI_ETCD_ROLE} || ${act(change.userRole, `etcdctl "$E" user grant-role ${user} ${PATRONI_ETCD_ROLE}`)}`,
    // The user's password as the topology says: tried once auth is on; set again when refused.
    'if [ "$on" = yes ]; then',
    `  if ! ETCDCTL_USER=${user}:"$USER_PW" etcdctl "$E" get ${prefix} --prefix --keys-only --limit=1 >/dev/null 2>&1; then`,
    `    ${act(`set the password of etcd user ${auth.username}`, `printf "%s\\n" "$USER_PW" | etcdctl "$E" user passwd ${user} --interactive=false`)}`,
    '  fi',
    'else',
    `  has "$users" ${user} && ${act(`set the password of etcd user ${auth.username}`, `printf "%s\\n" "$USER_PW" | etcdctl "$E" user passwd ${user} --interactive=false`)}`,
    `  ${act(change.enable, 'etcdctl "$E" auth enable')}`,
    'fi',
    'echo ok',
    '',
  ].join('\n');
}

/** etcd.auth's two passwords, checked: etcdctl reads a password from stdin only up to its first blank. */
export function etcdAuthPasswords(topology: Topology): { root: string; user: string } {
  const auth = topology.etcd.auth!;
  const rules = { noBlanksBecause: 'etcdctl reads a password only up to its first blank, so it would set a shorter one' };
  return { root: resolveSecret(auth.root_password, 'etcd.auth.root_password', rules), user: resolveSecret(auth.password, 'etcd.auth.password', rules) };
}

/** etcd.auth on the first etcd member: users, role and authentication as the topology says. */
export async function ensureEtcdAuth(input: HostInput): Promise<StepResult> {
  const { topology, check } = input;
  const auth = topology.etcd.auth;
  if (!auth) return stepResult([], 'etcd.auth is not set: etcd answers clients without authentication');
  return onHost(input, async (ssh, host) => {
    const passwords = etcdAuthPasswords(topology);
    const endpoint = etcdUrl(topology, host);
    const result = await ssh.exec('sh -s', { stdin: etcdAuthScript(topology, endpoint, passwords, check) });
    if (result.code === 3) {
      throw ApplicationFailure.create({
        type: StepFailureTypes.guardFailed,
        nonRetryable: true,
        message: `etcd on ${host.name} has authentication on, and refuses the root password from etcd.auth.root_password: ${result.stderr.trim().slice(-300)}`,
        details: [{ remedy: `set etcd.auth.root_password to etcd's root password (or reset it: \`etcdctl user passwd root\` as root), then \`haflow resume ${topology.cluster} --retry\`` }],
      });
    }
    if (result.code !== 0 || !result.stdout.includes('ok')) {
      throw ApplicationFailure.create({
        type: StepFailureTypes.commandFailed,
        message: `etcd's authentication on ${host.name}: etcdctl failed (exit ${result.code}): ${result.stderr.trim().slice(-500)}`,
        details: [{ remedy: `see \`journalctl -u etcd\` on ${host.name}; etcdctl must reach ${endpoint}` }],
      });
    }
    const actions = result.stdout
      .split('\n')
      .filter((l) => l.startsWith('action: '))
      .map((l) => l.slice('action: '.length));
    return stepResult(actions, `etcd asks clients to log in; ${auth.username} may read and write ${topology.patroni.namespace} only`);
  });
}
