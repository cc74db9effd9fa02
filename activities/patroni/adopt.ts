// Patroni taking over the classic layout's running PostgreSQL (Debian's <version>/main), the way
// Patroni's own guide converts an existing cluster: Patroni started on the primary while it runs,
// so it finds it running and takes the leader key without a promotion (no new timeline); then one
// restart through Patroni hands PostgreSQL's start-up to it: the only write pause. Each standby is
// stopped and started again by Patroni, which makes it a replica of the leader. The data
// directory stays where it is: the migration's topology sets postgresql.data_dir to Debian's.
import type { Host, Topology } from '../../topology';
import type { HostInput, StepResult } from '../contract';
import { classicClusterState } from '../postgres/classic-failover';
import { pgHbaRules } from '../postgres/hba';
import { roleStatement } from '../postgres/streaming';
import { alterRolePassword, psql, sqlIdentifier, sqlLiteral } from '../shared/psql';
import { ensureRemoteFiles, type ManagedFile } from '../shared/remote-files';
import { managedHeader } from '../shared/render';
import { resolveSecret } from '../shared/secrets';
import { ensureUnit, unitState } from '../shared/services';
import type { SshSession } from '../shared/ssh';
import { shellQuote } from '../shared/shell';
import { guardFailed, onHost, stepResult, waitFor, type Probe } from '../shared/step';
import { memberIsReplica, memberRuns, memberStatus, patroniCluster, restGet, type MemberStatus } from './rest';
import { restartThroughPatroni } from './restart';
import { classicCluster } from '../../topology/derive';

/**
 * The files PostgreSQL reads from the data directory once Patroni starts it: Patroni writes
 * postgresql.conf there itself, including postgresql.base.conf first, but writes pg_hba.conf only
 * when it bootstraps a new cluster, and this one is adopted. The base file includes Debian's
 * postgresql.conf, so the site's own settings keep applying (Patroni's and the topology's come
 * after it and win), except where the files now live and Debian's PID file. Debian's start.conf
 * says disabled: Patroni starts it now, never the boot.
 */
export function adoptionFiles(topology: Topology, host: Host): ManagedFile[] {
  const dataDir = topology.postgresql.data_dir;
  const hbaPath = `${dataDir}/pg_hba.conf`;
  const header = (what: string) => managedHeader(topology, what).map((l) => `# ${l}`);
  const base = [
    ...header(`PostgreSQL's base settings on ${host.name}, included first by Patroni's postgresql.conf`),
    "# The classic layout's settings, as Debian's cluster ran them:",
    `include '${classicCluster(topology).confDir}/postgresql.conf'`,
    '# except what now lives next to the data, and the PID file of Debian\'s unit (Patroni runs it):',
    `hba_file = '${hbaPath}'`,
    `ident_file = '${dataDir}/pg_ident.conf'`,
    "external_pid_file = ''",
  ];
  return [
    { path: `${dataDir}/postgresql.base.conf`, content: `${base.join('\n')}\n`, owner: 'postgres', group: 'postgres', mode: 0o644 },
    { path: hbaPath, content: `${[...header(`who may connect to PostgreSQL on ${host.name} (Patroni runs it)`), ...pgHbaRules(topology, hbaPath)].join('\n')}\n`, owner: 'postgres', group: 'postgres', mode: 0o640 },
    {
      path: `${classicCluster(topology).confDir}/start.conf`,
      content: `${[...header(`Patroni runs PostgreSQL on ${host.name}: neither the boot nor pg_ctlcluster starts it`), 'disabled'].join('\n')}\n`,
      owner: 'postgres',
      group: 'postgres',
      mode: 0o644,
    },
  ];
}

/** Whether PostgreSQL here runs under Patroni's own configuration (in the data directory), not Debian's. */
async function runsUnderPatroniConfig(ssh: SshSession, topology: Topology): Promise<boolean> {
  const shown = await psql(ssh, topology, 'SHOW config_file').catch(() => '');
  return shown.trim() === `${topology.postgresql.data_dir}/postgresql.conf`;
}

/** Debian's pg_ident.conf copied next to the data once (its user maps, if any, still apply). */
async function carryIdentFile(ssh: SshSession, topology: Topology, check: boolean): Promise<string[]> {
  const target = `${topology.postgresql.data_dir}/pg_ident.conf`;
  const source = `${classicCluster(topology).confDir}/pg_ident.conf`;
  if ((await ssh.exec(`[ -f ${shellQuote(target)} ]`, { sudo: true })).code === 0) return [];
  if (check) return [`would copy ${source} to ${target}`];
  await ssh.check(`install -o postgres -g postgres -m 640 ${shellQuote(source)} ${shellQuote(target)}`, { sudo: true });
  return [`copied ${source} to ${target}`];
}

/** The rewind user Patroni's pg_rewind logs in as (the classic layout has none), with the guide's grants; the other passwords as the topology says. */
export async function ensurePatroniUsers(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const { rewind, replication, superuser } = topology.postgresql;
    const exists = (await psql(ssh, topology, `SELECT 1 FROM pg_roles WHERE rolname = ${sqlLiteral(rewind.username)}`)).trim() === '1';
    if (check) return stepResult(exists ? [] : [`would create the rewind user ${rewind.username} on ${host.name}`], `the users Patroni logs in as exist on ${host.name}`);
    const grants = ['pg_ls_dir(text, boolean, boolean)', 'pg_stat_file(text, boolean)', 'pg_read_binary_file(text)', 'pg_read_binary_file(text, bigint, bigint, boolean)'].map(
      (fn) => `GRANT EXECUTE ON FUNCTION pg_catalog.${fn} TO ${sqlIdentifier(rewind.username)};`,
    );
    await psql(
      ssh,
      topology,
      [
        roleStatement(rewind.username, 'LOGIN', resolveSecret(rewind.password, 'postgresql.rewind.password')),
        roleStatement(replication.username, 'LOGIN REPLICATION', resolveSecret(replication.password, 'postgresql.replication.password')),
        alterRolePassword(superuser.username, resolveSecret(superuser.password, 'postgresql.superuser.password')),
        ...grants,
        '',
      ].join('\n'),
    );
    // Setting a password again is harmless and not counted as a change.
    return stepResult(exists ? [] : [`created the rewind user ${rewind.username} on ${host.name}`], `the superuser, replication and rewind users Patroni logs in as are in place on ${host.name}`);
  });
}

const isPrimaryRole = (role?: string) => role === 'primary' || role === 'master';

async function statusOf(input: HostInput): Promise<MemberStatus | undefined> {
  return memberStatus(input).catch(() => undefined);
}

/**
 * The primary handed to Patroni. Patroni is started while PostgreSQL runs: it takes the leader
 * key for it as it is. Then Patroni restarts it with its own configuration (POST /restart): the
 * one write pause. Idempotent: a primary that Patroni leads and started is left alone.
 */
export async function adoptPrimaryUnderPatroni(input: HostInput & { waitSeconds?: number }): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const waitMs = (input.waitSeconds ?? 120) * 1000;
    const patroni = await unitState(ssh, 'patroni');
    const before = patroni.active === 'active' ? await statusOf(input) : undefined;
    if (before && isPrimaryRole(before.role) && before.state === 'running' && (await runsUnderPatroniConfig(ssh, topology))) {
      return stepResult([], `${host.name} leads under Patroni, which started its PostgreSQL`, [], { handedOver: false });
    }
    const state = patroni.active === 'active' ? 'primary' : await classicClusterState(ssh, topology);
    if (state === 'standby') {
      throw guardFailed(
        `${host.name}'s PostgreSQL is a standby (in recovery), not the primary the migration was planned with`,
        `plan the migration again with the primary as the master (its app.master in both topologies), or switch the classic cluster back first (\`haflow app switchback\`)`,
      );
    }
    const files = await ensureRemoteFiles(ssh, adoptionFiles(topology, host), check);
    const actions = [...files.actions, ...(await carryIdentFile(ssh, topology, check))];
    if (check) {
      actions.push(
        ...(await ensureUnit(ssh, 'patroni', { running: true, enabled: true }, true)),
        state === 'primary' ? `would let Patroni take the running primary as leader, then restart it through Patroni (a pause of writes of a few seconds)` : `would let Patroni start the stopped cluster`,
      );
      return stepResult(actions, '', files.details);
    }
    actions.push(...(await ensureUnit(ssh, 'patroni', { running: true, enabled: true }, false)));
    const leading = await waitFor(
      `Patroni on ${host.name} to take the leader key`,
      async (): Promise<Probe<MemberStatus>> => {
        const response = await restGet(topology, host, '/primary', 2000);
        if (response.status !== 200) return { notYet: `${host.name} answers ${response.status} on /primary` };
        return { done: JSON.parse(response.body) as MemberStatus };
      },
      { timeoutMs: waitMs, intervalMs: 500, remedy: `look at \`journalctl -u patroni\` on ${host.name}; Patroni needs etcd and a login as ${topology.postgresql.superuser.username} over TCP` },
    );
    actions.push(`Patroni on ${host.name} took the leader key for the running primary`);
    const restartedAt = Date.now();
    if (!(await runsUnderPatroniConfig(ssh, topology))) {
      const restarted = await restartThroughPatroni(input, leading, waitMs);
      if (!isPrimaryRole(restarted.role)) throw guardFailed(`${host.name} came back from its restart as ${restarted.role}, not the leader`, `look at \`journalctl -u patroni\` on ${host.name}`);
      if (!(await runsUnderPatroniConfig(ssh, topology))) {
        throw guardFailed(`${host.name}: PostgreSQL restarted, but not with Patroni's configuration (${topology.postgresql.data_dir}/postgresql.conf)`, `look at \`journalctl -u patroni\` on ${host.name}`);
      }
      actions.push(`Patroni restarted PostgreSQL on ${host.name} with its own configuration (${((Date.now() - restartedAt) / 1000).toFixed(1)} s)`);
    }
    return stepResult(actions, '', files.details, { handedOver: true, restartedAt });
  });
}

/**
 * A standby handed to Patroni: Debian's cluster stopped, Patroni started; it starts PostgreSQL as
 * a replica of the leader (the same data and timeline, so no new copy). Refused until the
 * primary is Patroni's leader: Patroni started first on a standby would wait for a leader at best.
 */
export async function adoptStandbyUnderPatroni(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const patroni = await unitState(ssh, 'patroni');
    const before = patroni.active === 'active' ? await statusOf(input) : undefined;
    if (before && memberIsReplica(before.role) && memberRuns(before.state) && (await runsUnderPatroniConfig(ssh, topology))) {
      return stepResult([], `${host.name} runs as a replica under Patroni`);
    }
    const leader = (await patroniCluster(topology).catch(() => ({ members: [] as { name: string; role: string }[] }))).members.find((m) => isPrimaryRole(m.role) || m.role === 'leader');
    // In check mode the primary's handover has not run: what would happen once it has.
    if ((!leader || leader.name === host.name) && !check) {
      throw guardFailed(
        `the cluster has no Patroni leader other than ${host.name}: a standby is handed to Patroni only after the primary`,
        'hand the primary over first (its db.handover step), then `haflow resume <cluster> --retry`',
      );
    }
    const files = await ensureRemoteFiles(ssh, adoptionFiles(topology, host), check);
    const actions = [...files.actions, ...(await carryIdentFile(ssh, topology, check))];
    const { version, name } = classicCluster(topology);
    const debianRuns = patroni.active !== 'active' && (await classicClusterState(ssh, topology)) !== 'stopped';
    if (check) {
      if (debianRuns) actions.push(`would stop the standby ${version}/${name} (Debian's unit)`);
      actions.push(...(await ensureUnit(ssh, 'patroni', { running: true, enabled: true }, true)));
      return stepResult(actions, '', files.details);
    }
    if (debianRuns) {
      await ssh.check(`pg_ctlcluster ${version} ${name} stop -m fast`, { sudo: true, timeoutMs: 120_000 });
      actions.push(`stopped the standby ${version}/${name}`);
    }
    actions.push(...(await ensureUnit(ssh, 'patroni', { running: true, enabled: true }, false)));
    return stepResult(actions, '', files.details, { leader: leader!.name });
  });
}
