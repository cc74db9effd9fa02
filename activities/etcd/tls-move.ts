// One etcd member moved from plain text to TLS, in a running cluster: its peer URL in the
// membership becomes https (etcdctl member update, agreed by the quorum while every member still
// speaks plain text to it), then its settings are the topology's and it restarts on them. One member
// at a time, each healthy over HTTPS before the next; Patroni is paused meanwhile (./../patroni/pause.ts),
// because etcd 3.4 cannot serve a plain and a TLS client on the same port and Patroni changes
// scheme only when it restarts.
import { ApplicationFailure } from '@temporalio/common';
import { etcdMembers, type Host, type Topology } from '../../topology';
import { plainTextOf } from '../../topology/tls';
import { StepFailureTypes, type HostInput, type StepResult } from '../contract';
import { ensureRemoteFiles } from '../shared/remote-files';
import { secretValue } from '../shared/secrets';
import { ensureUnit, reloadIfUnitsChanged } from '../shared/services';
import { shellQuote } from '../shared/shell';
import { hostOf, onHost, stepResult, waitFor } from '../shared/step';
import { etcdAuthPasswords } from './auth';
import { etcdComponent } from './component';
import { etcdGet, etcdUrl } from './endpoint';

/** The member's peer URL as the topology with TLS has it. */
export const tlsPeerUrl = (topology: Topology, member: Host) => `https://${member.address}:${topology.etcd.peer_port}`;

/**
 * The script that makes the member's peer URL https in the membership, asked of the member over
 * plain text (as root when etcd's authentication is on). Prints `action: …` when it changed it,
 * `ok` at the end; with `check`, only says what it would do.
 */
export function peerUrlScript(topology: Topology, member: Host, rootPassword: string | undefined, check: boolean): string {
  const endpoint = `http://${member.address}:${topology.etcd.client_port}`;
  const wanted = tlsPeerUrl(topology, member);
  const name = shellQuote(`, ${member.name}, `);
  return [
    'set -eu',
    'export ETCDCTL_API=3',
    `E=--endpoints=${shellQuote(endpoint)}`,
    'etcdctl() { timeout 20 etcdctl "$@"; }',
    ...(rootPassword !== undefined ? [`ROOT_PW=${shellQuote(rootPassword)}`, 'if ! etcdctl "$E" user list >/dev/null 2>&1; then export ETCDCTL_USER="root:$ROOT_PW"; fi'] : []),
    // `member list`: "ID, started, NAME, PEER URLS, CLIENT URLS, IS LEARNER"
    `line=$(etcdctl "$E" member list | grep -F ${name} | head -1)`,
    `[ -n "$line" ] || { echo ${shellQuote(`etcd at ${endpoint} lists no member ${member.name}`)} >&2; exit 3; }`,
    'id=${line%%,*}',
    'peers=$(printf "%s" "$line" | cut -d, -f4 | tr -d " ")',
    `if [ "$peers" != ${shellQuote(wanted)} ]; then`,
    check
      ? `  echo ${shellQuote(`action: would set ${member.name}'s peer URL to ${wanted} (etcdctl member update)`)}`
      : `  etcdctl "$E" member update "$id" --peer-urls=${shellQuote(wanted)} >/dev/null && echo ${shellQuote(`action: set ${member.name}'s peer URL to ${wanted} (etcdctl member update)`)}`,
    'fi',
    'echo ok',
    '',
  ].join('\n');
}

export async function moveEtcdMemberToTls(input: HostInput): Promise<StepResult> {
  const { topology, check } = input;
  const member = hostOf(input);
  const overTls = () => etcdGet(topology, member, '/health').then((r) => r.body.includes('"true"'), () => false);
  return onHost(input, async (ssh) => {
    const actions: string[] = [];
    const answersOverTls = await overTls();
    if (!answersOverTls) {
      // Asked over plain text: a retry after the restart finds the member on TLS and skips this.
      const plainAnswers = await etcdGet(plainTextOf(topology), member, '/health').then(() => true, () => false);
      if (plainAnswers) {
        const script = peerUrlScript(topology, member, topology.etcd.auth ? etcdAuthPasswords(topology).root : undefined, check);
        const result = await ssh.exec('sh -s', { stdin: script });
        if (result.code !== 0 || !result.stdout.includes('ok')) {
          throw ApplicationFailure.create({
            type: StepFailureTypes.commandFailed,
            message: `etcd member ${member.name}: the peer URL could not be moved to https (exit ${result.code}): ${result.stderr.trim().slice(-400)}`,
            details: [{ remedy: `see \`journalctl -u etcd\` on ${member.name}; every member must be healthy (etcdctl endpoint health), then \`haflow resume ${topology.cluster} --retry\`` }],
          });
        }
        actions.push(...result.stdout.split('\n').filter((l) => l.startsWith('action: ')).map((l) => l.slice('action: '.length)));
      }
    }
    const written = await ensureRemoteFiles(ssh, etcdComponent.files(topology, member, secretValue), check);
    actions.push(...written.actions);
    await reloadIfUnitsChanged(ssh, written, check);
    if (answersOverTls && !written.changed) return stepResult(actions, `etcd member ${member.name} speaks TLS to clients and peers`, written.details);
    actions.push(...(await ensureUnit(ssh, 'etcd', { running: true, enabled: true, refresh: 'restart' }, check)));
    if (check) return stepResult(actions, '', written.details);
    await waitFor(
      `etcd member ${member.name} healthy over HTTPS`,
      async () => ((await overTls()) ? { done: true } : { notYet: `${etcdUrl(topology, member, '/health')} does not answer healthy yet` }),
      {
        timeoutMs: 90_000,
        intervalMs: 500,
        remedy: `see \`journalctl -u etcd\` on ${member.name}; the other members (${etcdMembers(topology).filter((m) => m.name !== member.name).map((m) => m.name).join(', ') || 'none'}) must be up for its quorum`,
      },
    );
    actions.push(`etcd member ${member.name} answers healthy over HTTPS`);
    return stepResult(actions, '', written.details);
  });
}
