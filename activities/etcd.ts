// etcd: each member's settings, enabled and started; then every member healthy before
// Patroni is allowed to start (the guide: "Verify ETCD Service Status").
import type { StepResult } from '../workflows/runbook';
import { etcdMembers } from '../topology';
import { renderEtcdDefaults, renderEtcdUnit, etcdDefaultsPath, etcdUnitPath } from './render';
import { backupStamp, ensureRemoteFile, readRemoteFile } from './remote-files';
import { daemonReload, ensureUnit } from './services';
import { shellQuote } from './ssh';
import { httpGet, onHost, stepResult, waitFor, type ClusterInput, type HostInput } from './step';

export async function configureEtcdMember(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const previous = await readRemoteFile(ssh, etcdDefaultsPath);
    const firstConfiguration = !previous.content.includes('Managed by haflow');
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
    const settings = await ensureRemoteFile(
      ssh,
      { path: etcdDefaultsPath, content: renderEtcdDefaults(topology, host), owner: 'root', group: 'root', mode: 0o644 },
      check,
    );
    const unit = await ensureRemoteFile(
      ssh,
      { path: etcdUnitPath, content: renderEtcdUnit(topology), owner: 'root', group: 'root', mode: 0o644 },
      check,
    );
    for (const change of [settings, unit]) {
      if (change.changed) actions.push(change.summary);
      if (change.diff) details.push(change.diff);
    }
    if (unit.changed && !check) await daemonReload(ssh);
    // Type=notify: on a new multi-member cluster `systemctl start` returns once a quorum of
    // members is up, which is why the members are started in parallel.
    const refresh = settings.changed || unit.changed ? 'restart' : undefined;
    actions.push(...(await ensureUnit(ssh, 'etcd', { running: true, enabled: true, refresh }, check)));
    return stepResult(actions, `etcd member ${host.name} is configured, enabled and running`, details);
  });
}

/** Every member answers /health with {"health":"true"}: the guard before Patroni starts. */
export async function etcdHealthy(input: ClusterInput): Promise<StepResult> {
  const { topology, check } = input;
  const members = etcdMembers(topology);
  const urls = members.map((m) => `http://${m.address}:${topology.etcd.client_port}/health`);
  if (check) {
    const states = await Promise.all(urls.map((u) => httpGet(u).then((r) => r.body.includes('"true"'), () => false)));
    const down = members.filter((_, i) => !states[i]).map((m) => m.name);
    return stepResult([], down.length === 0 ? `all ${members.length} etcd member(s) healthy` : `etcd not healthy yet on ${down.join(', ')} (the install starts it)`);
  }
  await waitFor(
    `etcd healthy on ${members.map((m) => m.name).join(', ')}`,
    async () => {
      const states = await Promise.all(urls.map((u) => httpGet(u).then((r) => r.body, (err: Error) => err.message)));
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
