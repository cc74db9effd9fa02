// Which CAs a host trusts, during a CA rotation: the bundle as the worker has it, and the daemons
// that read it only when they start made to read it again. etcd builds its peers' trusted CAs at
// start (restarted, one member at a time, each healthy before the step ends); HAProxy reads its
// ca-file at start and reload (reloaded, seamlessly). Every other reader (Patroni towards etcd and
// its peers, PostgreSQL's replication connections, haflow itself) opens the file per connection.
// Whether a daemon read the current bundle is decided by its start time against the file's, so a
// retry after a crash between the write and the restart still restarts it.
import { ApplicationFailure } from '@temporalio/common';
import { haproxyHosts, requireTlsPaths, type Host, type Topology } from '../../topology';
import { StepFailureTypes, type HostInput, type StepResult } from '../contract';
import { etcdGet } from '../etcd/endpoint';
import { HaproxyRuntime } from '../haproxy/runtime';
import { ensureRemoteFiles } from '../shared/remote-files';
import { shellQuote } from '../shared/shell';
import type { SshSession } from '../shared/ssh';
import { onHost, stepResult, waitFor } from '../shared/step';
import { bundleFile } from './activities';
import { pemCertificates, certificateFacts } from './certificates';

/** A daemon that reads the CA bundle only when it starts, and how it is made to read it again. */
interface BundleReader {
  unit: string;
  refresh: 'restart' | 'reload';
  /** After a reload the master stays and its workers are new: their age is what counts. */
  newestChild: boolean;
}

export function bundleReaders(topology: Topology, host: Host): BundleReader[] {
  return [
    ...(host.roles.includes('etcd') ? [{ unit: 'etcd', refresh: 'restart' as const, newestChild: false }] : []),
    ...(haproxyHosts(topology).some((h) => h.name === host.name) ? [{ unit: 'haproxy', refresh: 'reload' as const, newestChild: true }] : []),
  ];
}

/**
 * Prints `stale` when the unit's process started no later than the file was last written, `fresh`
 * when after, `stopped` when it is not running. Whole seconds on both sides: a tie counts as stale.
 */
export function startedBeforeScript(unit: string, file: string, newestChild: boolean): string {
  const u = shellQuote(unit);
  const age = newestChild ? 'ps -o etimes= --ppid "$pid" | sort -n | head -1' : 'ps -o etimes= -p "$pid"';
  return [
    `if [ "$(systemctl is-active ${u} 2>/dev/null)" != active ]; then echo stopped; exit 0; fi`,
    `pid=$(systemctl show -p MainPID ${u} | sed -n 's/^MainPID=//p')`,
    `case "$pid" in ''|0) echo ${shellQuote(`${unit} is active but systemd names no main process`)} >&2; exit 3;; esac`,
    `age=$(${age} | tr -d ' ')`,
    `if [ -z "$age" ]; then echo ${shellQuote(`${unit}'s main process has no age`)} >&2; exit 3; fi`,
    `written=$(stat -c %Y ${shellQuote(file)})`,
    'if [ $(( $(date +%s) - age )) -le "$written" ]; then echo stale; else echo fresh; fi',
  ].join('\n');
}

/** The host's CA bundle as the worker's, and every daemon that reads it at start reading it now. */
export async function ensureHostTrust(input: HostInput): Promise<StepResult> {
  const { topology, check } = input;
  const paths = requireTlsPaths(topology);
  return onHost(input, async (ssh, host) => {
    const bundle = bundleFile(topology);
    const serials = pemCertificates(bundle.content).map((pem) => certificateFacts(pem).serial.slice(0, 12));
    const written = await ensureRemoteFiles(ssh, [bundle], check);
    const actions = [...written.actions];
    for (const reader of bundleReaders(topology, host)) {
      const state = written.changed && check ? 'stale' : await readerState(ssh, reader, paths.caBundle);
      if (state !== 'stale') continue;
      if (check) {
        actions.push(`would ${reader.refresh} ${reader.unit} (it reads the CA bundle only when it ${reader.refresh === 'restart' ? 'starts' : 'starts or reloads'})`);
        continue;
      }
      if (reader.unit === 'haproxy') {
        const unsaved = await new HaproxyRuntime(ssh).saveServersState();
        if (unsaved) actions.push(unsaved);
      }
      await ssh.check(`systemctl ${reader.refresh} ${shellQuote(reader.unit)}`, { sudo: true });
      actions.push(`${reader.refresh === 'restart' ? 'restarted' : 'reloaded'} ${reader.unit} to read the CA bundle`);
      if (reader.unit === 'etcd') await memberHealthy(topology, host);
    }
    return stepResult(actions, `${host.name} trusts ${serials.length === 1 ? 'the CA' : 'the CAs'} with serial ${serials.join(' and ')}…, and every daemon on it read that bundle`, written.details);
  });
}

async function readerState(ssh: SshSession, reader: BundleReader, file: string): Promise<string> {
  const result = await ssh.exec(startedBeforeScript(reader.unit, file, reader.newestChild), { sudo: true });
  if (result.code !== 0) {
    throw ApplicationFailure.create({
      type: StepFailureTypes.commandFailed,
      nonRetryable: true,
      message: `${ssh.target.name}: reading when ${reader.unit} started failed (exit ${result.code}): ${result.stderr.trim().slice(-300)}`,
      details: [{ remedy: `look at \`systemctl status ${reader.unit}\` on ${ssh.target.name}` }],
    });
  }
  const state = result.stdout.trim();
  if (state !== 'stale' && state !== 'fresh' && state !== 'stopped') {
    throw ApplicationFailure.create({ type: StepFailureTypes.commandFailed, message: `${ssh.target.name}: when ${reader.unit} started could not be told (the check printed ${JSON.stringify(state.slice(0, 80))})` });
  }
  return state;
}

/** The restarted member answers healthy again before the next member's turn. */
async function memberHealthy(topology: Topology, host: Host): Promise<void> {
  await waitFor(
    `etcd member ${host.name} healthy after its restart`,
    async () => {
      const health = await etcdGet(topology, host, '/health');
      return health.status === 200 && health.body.includes('"true"') ? { done: true } : { notYet: `${health.status} ${health.body.slice(0, 120)}` };
    },
    { timeoutMs: 60_000, remedy: `look at \`journalctl -u etcd\` on ${host.name}: the member must trust the CA of its peers' certificates (${requireTlsPaths(topology).caBundle})` },
  );
}
