// etcd: each member's settings, enabled and started; then every member healthy before
// Patroni is allowed to start (the guide: "Verify ETCD Service Status").
import { etcdMembers } from '../../topology';
import type { ClusterInput, HostInput, StepResult } from '../contract';
import { MANAGED_MARKER } from '../shared/component';
import { backupStamp, ensureRemoteFiles, readRemoteFile } from '../shared/remote-files';
import { secretValue } from '../shared/secrets';
import { ensureUnit, reloadIfUnitsChanged } from '../shared/services';
import { shellQuote } from '../shared/shell';
import { onHost, stepResult, waitFor } from '../shared/step';
import { etcdGet } from './endpoint';
import { etcdComponent } from './component';
import { etcdDefaultsPath } from './config';

export async function configureEtcdMember(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const previous = await readRemoteFile(ssh, etcdDefaultsPath);
    const firstConfiguration = !previous.content.includes(MANAGED_MARKER);
    const actions: string[] = [];
    const details: string[] = [];
    if (firstConfiguration) {
      // A Debian-started etcd already initialised a one-member "default" cluster in the data
      // dir; a member keeps its data dir's cluster whatever the settings say. Set it aside.
      const dataDir = topology.etcd.data_dir;
      const hasData = await ssh.exec(`test -d ${shellQuote(dataDir)}/member`, { sudo: true });
      if (hasData.code === 0) {
        const aside = `${dataDir}.haflow-backup-${backupStamp()}`;
        if (check) actions.push(`would move Debian's default etcd data ${dataDir} aside to ${aside}`);
        else {
          await ensureUnit(ssh, 'etcd', { running: false, enabled: false }, false);
          await ssh.check(`mv ${shellQuote(dataDir)} ${shellQuote(aside)}`, { sudo: true });
          actions.push(`moved Debian's default etcd data aside to ${aside}`);
        }
      }
    }
    const written = await ensureRemoteFiles(ssh, etcdComponent.files(topology, host, secretValue), check);
    actions.push(...written.actions);
    details.push(...written.details);
    await reloadIfUnitsChanged(ssh, written, check);
    // Type=notify: on a new multi-member cluster `systemctl start` returns once a quorum of
    // members is up, which is why the members are started in parallel.
    const refresh = written.changed ? 'restart' : undefined;
    actions.push(...(await ensureUnit(ssh, 'etcd', { running: true, enabled: true, refresh }, check)));
    return stepResult(actions, `etcd member ${host.name} is configured, enabled and running`, details);
  });
}

/** Every member answers /health with {"health":"true"}: the guard before Patroni starts. */
export async function etcdHealthy(input: ClusterInput): Promise<StepResult> {
  const { topology, check } = input;
  const members = etcdMembers(topology);
  const health = (m: (typeof members)[number]) => etcdGet(topology, m, '/health');
  if (check) {
    const states = await Promise.all(members.map((m) => health(m).then((r) => r.body.includes('"true"'), () => false)));
    const down = members.filter((_, i) => !states[i]).map((m) => m.name);
    return stepResult([], down.length === 0 ? `all ${members.length} etcd member(s) healthy` : `etcd not healthy yet on ${down.join(', ')} (the install starts it)`);
  }
  await waitFor(
    `etcd healthy on ${members.map((m) => m.name).join(', ')}`,
    async () => {
      const states = await Promise.all(members.map((m) => health(m).then((r) => r.body, (err: Error) => err.message)));
      const sick = members.map((m, i) => ({ m, s: states[i] })).filter(({ s }) => !s.includes('"health":"true"'));
      return sick.length === 0 ? { done: true } : { notYet: sick.map(({ m, s }) => `${m.name}: ${s.trim().slice(0, 120)}`).join('; ') };
    },
    {
      timeoutMs: 90_000,
      remedy: `check \`systemctl status etcd\` and \`journalctl -u etcd\` on ${members.map((m) => m.name).join(', ')}; ports ${topology.etcd.client_port}/${topology.etcd.peer_port} must be open between members`,
    },
  );
  return stepResult([], `all ${members.length} etcd member(s) healthy`);
}
