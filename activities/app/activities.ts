// The application tier's install steps, from the Patroni guide's steps 5, 6 and 9 and its
// troubleshooting: the HA directory (an earlier one backed up, then removed; owned by the
// common sudo user), the application's database settings in every file the classic guide
// lists, nginx inactive on the slave, the master serving, and the application answering
// through the observer's HAProxy.
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { ApplicationFailure } from '@temporalio/common';
import type { ClusterInput, HostInput, StepResult } from '../contract';
import { StepFailureTypes } from '../contract';
import { readClusterHealth } from '../cluster/activities';
import { haproxyServers } from '../haproxy/stats';
import { MANAGED_MARKER } from '../shared/component';
import { archiveCommand, backupStamp, BACKUP_DIR, ensureRemoteFile, readRemoteFile, type WriteOptions } from '../shared/remote-files';
import { resolveSecret } from '../shared/secrets';
import { ensureUnit, unitState } from '../shared/services';
import { withHostSsh, targetFor, type SshSession } from '../shared/ssh';
import { shellQuote } from '../shared/shell';
import { guardFailed, hostOf, httpGet, onHost, type Probe, sleep, stepResult, waitFor } from '../shared/step';
import { appHosts, appMaster, hostByName } from '../../topology/derive';
import type { AppConfigFile } from '../../topology/schema';
import { appRoleOf, requireApp } from '../../topology/derive';
import { AppConfigError, type AppDatabaseSettings, appDatabaseUrl, haDirMarkerPath, roleFilePath, setAppDatabaseSettings } from './config';

/** Where an earlier HA directory goes before it is removed (root only, as every haflow backup). */
const haDirBackup = () => `${BACKUP_DIR}/ha-dir-${backupStamp()}.tar.gz`;

/**
 * The HA directory on an app node, as the guide wants it: an earlier one (not haflow's) is
 * archived and then removed ("remove it after taking a backup: rm -rf /opt/HA"), and the
 * directory belongs to the common sudo user, or failover scripts cannot write to it.
 */
export async function prepareHaDir(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const app = requireApp(input.topology);
    const dir = shellQuote(app.ha_dir);
    const user = shellQuote(app.user);
    const out = await ssh.check(
      [
        `if g=$(id -gn ${user} 2>/dev/null); then echo "group=$g"; fi`,
        `if [ -d ${dir} ]; then echo dir=yes`,
        `  if [ -e ${shellQuote(haDirMarkerPath(input.topology))} ]; then echo marker=yes; fi`,
        `  if [ -n "$(ls -A ${dir} 2>/dev/null)" ]; then echo content=yes; fi`,
        '  if [ -n "${g:-}" ]; then',
        `    find ${dir} \\( ! -user ${user} -o ! -group "$g" \\) -printf 'foreign=%p %u:%g\\n' 2>/dev/null | head -5`,
        '  fi',
        'fi',
      ].join('\n'),
      { sudo: true },
    );
    const field = (name: string) => out.match(new RegExp(`^${name}=(.*)$`, 'm'))?.[1];
    const group = field('group');
    if (!group) {
      throw guardFailed(
        `${host.name}: the common sudo user ${app.user} (app.user) does not exist; the guide runs the HA scripts as one user common to every machine`,
        `create it on ${host.name} (useradd -m ${app.user}, with sudo rights), or set app.user to the user every machine has`,
      );
    }
    const owner = `${app.user}:${group}`;
    const actions: string[] = [];
    const earlier = field('dir') === 'yes' && field('marker') !== 'yes' && field('content') === 'yes';
    if (earlier) {
      const archive = haDirBackup();
      if (input.check) actions.push(`would back up the earlier HA configuration ${app.ha_dir} to ${archive}, then remove it`);
      else {
        await ssh.check(`${archiveCommand(archive, [app.ha_dir])} && rm -rf ${dir}`, { sudo: true, lock: 'ha-dir' });
        actions.push(`backed up the earlier HA configuration ${app.ha_dir} to ${archive}, then removed it`);
      }
    }
    const foreign = earlier ? [] : [...out.matchAll(/^foreign=(.*)$/gm)].map((m) => m[1]);
    if (foreign.length > 0) {
      const remedy = `chown -R ${app.user}:${app.user} ${app.ha_dir}`;
      if (app.on_guard === 'block') {
        throw guardFailed(`${host.name}: ${app.ha_dir} is not all owned by ${owner}: ${foreign.join(', ')}; failover scripts cannot write there`, `on ${host.name}: ${remedy}`);
      }
      if (input.check) actions.push(`would chown -R ${owner} ${app.ha_dir} (found ${foreign.join(', ')})`);
      else {
        await ssh.check(`chown -R ${shellQuote(owner)} ${dir}`, { sudo: true });
        actions.push(`chown -R ${owner} ${app.ha_dir} (found ${foreign.join(', ')})`);
      }
    }
    if (earlier || field('dir') !== 'yes') {
      if (input.check) actions.push(`would create ${app.ha_dir} owned by ${owner}`);
      else {
        await ssh.check(`install -d -m 755 -o ${user} -g ${shellQuote(group)} ${dir}`, { sudo: true });
        actions.push(`created ${app.ha_dir} owned by ${owner}`);
      }
    }
    if (!input.check && field('marker') !== 'yes') {
      await ensureRemoteFile(
        ssh,
        { path: haDirMarkerPath(input.topology), content: `${MANAGED_MARKER}: the application's HA directory of cluster ${input.topology.cluster}\n`, owner: app.user, group, mode: 0o644 },
        false,
      );
    }
    return stepResult(actions, `${app.ha_dir} on ${host.name} is haflow's and owned by ${owner}`);
  });
}

/**
 * The application's database settings (the guide's MasterSlaveAppConfig): every configured file
 * points at the observer's HAProxy and carries the one DB password, resolved here on the worker
 * and written to the host over SSH, never through workflow data. Each file keeps its owner and
 * mode. The node's role is recorded in the HA directory. The application restarts when a file changed.
 */
export async function configureAppConfig(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const app = requireApp(topology);
    const settings = { url: appDatabaseUrl(topology, host), password: resolveSecret(app.db_password, 'app.db_password') };
    const { actions, details, changed: configChanged } = await setAppConfigFiles(ssh, app.config_files, settings, check);
    const role = appRoleOf(topology, host);
    const group = (await ssh.check(`id -gn ${shellQuote(app.user)}`)).trim();
    const roleFile = await ensureRemoteFile(ssh, { path: roleFilePath(topology), content: `${role}\n`, owner: app.user, group, mode: 0o644 }, check);
    if (roleFile.changed) actions.push(`${roleFile.summary}: ${role}`);

    const unit = await unitState(ssh, app.service);
    if (!unit.installed) {
      throw guardFailed(`${host.name}: the application's unit ${app.service} (app.service) is not installed`, `install the application on ${host.name}, or set app.service to its systemd unit`);
    }
    if (configChanged && unit.active === 'active') {
      // It reads its settings when it starts.
      actions.push(...(await ensureUnit(ssh, app.service, { running: true, enabled: true, refresh: 'restart' }, check)));
    }
    return stepResult(actions, `${app.config_files.length} file(s) on ${host.name} point at ${settings.url} with the application's password; role ${role}`, details);
  });
}

/**
 * The body of app.config for the files themselves, on any session: every file must exist; each
 * gets the URL and password in place, keeping its other lines, its owner and its mode.
 */
export async function setAppConfigFiles(
  ssh: SshSession,
  files: AppConfigFile[],
  settings: AppDatabaseSettings,
  check: boolean,
  options: WriteOptions = {},
): Promise<{ changed: boolean; actions: string[]; details: string[] }> {
  const current = await Promise.all(files.map(async (file) => ({ file, state: await readRemoteFile(ssh, file.path) })));
  const missing = current.filter((c) => !c.state.exists).map((c) => c.file.path);
  if (missing.length > 0) {
    throw guardFailed(
      `${ssh.target.name}: the application's configuration ${missing.join(', ')} does not exist: the application is not installed there`,
      `install the application on ${ssh.target.name} first (the guide's prerequisite), or remove these paths from app.config_files`,
    );
  }
  const actions: string[] = [];
  const details: string[] = [];
  let changed = false;
  for (const { file, state } of current) {
    let content: string;
    try {
      content = setAppDatabaseSettings(file, state.content, settings);
    } catch (err) {
      if (!(err instanceof AppConfigError)) throw err;
      throw ApplicationFailure.create({ type: StepFailureTypes.invalidConfig, nonRetryable: true, message: `${ssh.target.name}: ${err.message}`, details: [{ remedy: 'fix the file or app.config_files, then `haflow resume <cluster> --retry`' }] });
    }
    // Owner and mode as the application's installer left them; the password under its own key, whatever its name.
    const written = { path: file.path, content, owner: state.owner, group: state.group, mode: state.mode, secret: 'passwords' as const, passwordKeys: [file.password_key] };
    const change = await ensureRemoteFile(ssh, written, check, options);
    if (change.changed) {
      changed = true;
      actions.push(change.summary);
    }
    if (change.diff) details.push(change.diff);
  }
  return { changed, actions, details };
}

/**
 * Processes that listen on the application's port on this host after its nginx unit is stopped:
 * an nginx started by hand (the guide's troubleshooting case), or one its service manager lost
 * track of. `ss` lists the box's sockets; only this host's address (or every address) counts, and
 * only processes this host can see have a PID.
 */
export function strayListeners(ssOutput: string, address: string, port: number): { pids: number[]; seen: string[] } {
  const mine = new Set([`${address}:${port}`, `0.0.0.0:${port}`, `*:${port}`, `[::]:${port}`]);
  const pids = new Set<number>();
  const seen: string[] = [];
  for (const line of ssOutput.split('\n').filter(Boolean)) {
    const local = line.trim().split(/\s+/)[3];
    if (!local || !mine.has(local)) continue;
    const users = line.match(/users:\(\((.*)\)\)/)?.[1] ?? '';
    for (const m of users.matchAll(/"([^"]+)",pid=(\d+)/g)) pids.add(Number(m[2]));
    seen.push(`${local}${users ? ` (${[...users.matchAll(/"([^"]+)",pid=(\d+)/g)].map((m) => `${m[1]} ${m[2]}`).join(', ')})` : ''}`);
  }
  return { pids: [...pids], seen };
}

/** Stops what still listens on the application port (TERM, then KILL); says what it found and did. */
async function stopStrayListeners(ssh: SshSession, address: string, port: number, check: boolean): Promise<string[]> {
  const listing = async () => strayListeners((await ssh.exec(`ss -Hltnp 'sport = :${port}'`, { sudo: true })).stdout, address, port);
  const found = await listing();
  if (found.seen.length === 0) return [];
  if (check || found.pids.length === 0) return [`${check ? 'would stop' : 'found, without a PID it can see,'} what still listens on ${address}:${port}: ${found.seen.join('; ')}`];
  await ssh.exec(`kill -TERM ${found.pids.join(' ')}`, { sudo: true });
  for (let i = 0; i < 30 && (await listing()).pids.length > 0; i++) await sleep(100);
  const left = (await listing()).pids;
  if (left.length > 0) await ssh.exec(`kill -KILL ${left.join(' ')}`, { sudo: true });
  return [`stopped what still listened on ${address}:${port} outside its unit: ${found.seen.join('; ')}`];
}

/**
 * A unit systemd calls active is not always a web server users reach: a start racing a stop at
 * boot (a fence arriving while the machine's units start) can leave the unit active with no
 * process behind its PID file. What counts is the port: nothing listening, nginx is restarted once.
 */
async function nginxListening(ssh: SshSession, unit: string, address: string, port: number): Promise<string[]> {
  const listening = async () => strayListeners((await ssh.exec(`ss -Hltn 'sport = :${port}'`, { sudo: true })).stdout, address, port).seen.length > 0;
  for (let i = 0; i < 20; i++) {
    if (await listening()) return [];
    await sleep(100);
  }
  await ssh.check(`systemctl restart ${shellQuote(unit)}`, { sudo: true });
  for (let i = 0; i < 30; i++) {
    if (await listening()) return [`restart ${unit} (it was active, but nothing listened on ${address}:${port})`];
    await sleep(100);
  }
  throw ApplicationFailure.create({
    type: StepFailureTypes.serviceFailed,
    message: `${ssh.target.name}: ${unit} is active, but nothing listens on ${address}:${port}, even after a restart`,
    details: [{ remedy: `look at \`journalctl -u ${unit}\` and its error log on ${ssh.target.name}, fix the cause, then \`haflow resume <cluster> --retry\`` }],
  });
}

/**
 * The slave application node on standby: the application itself runs (its start, for a Java
 * application a minute or more, is not part of a failover), behind no nginx.
 */
export async function slaveAppStandby(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const app = requireApp(input.topology);
    const actions = await ensureUnit(ssh, app.service, { running: true, enabled: true }, input.check);
    return stepResult(actions, `${app.service} runs on the slave ${host.name}, ready to serve`);
  });
}

/**
 * The guide's rule for the slave application node: nginx inactive and disabled ("an active
 * Nginx service on the Slave causes routing conflicts with the Observer"). Fixed, or blocked
 * with the guide's remedy when app.on_guard is block.
 */
export async function slaveNginxInactive(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const app = requireApp(input.topology);
    const nginx = app.nginx_service;
    const state = await unitState(ssh, nginx);
    const running = state.active === 'active' || state.active === 'activating' || state.active === 'reloading';
    const stray = strayListeners((await ssh.exec(`ss -Hltnp 'sport = :${app.http_port}'`, { sudo: true })).stdout, host.address, app.http_port);
    // A listener with the unit stopped: a web server started by hand, outside its unit.
    const byHand = !running && stray.seen.length > 0;
    if (!running && !state.enabled && !byHand) return stepResult([], `${nginx} is inactive and disabled on the slave ${host.name}`);
    const found = byHand
      ? `something listens on ${host.address}:${app.http_port} on the slave application node ${host.name} while ${nginx} is inactive (started by hand?): ${stray.seen.join('; ')}`
      : `${nginx} is ${running ? 'active' : 'inactive'} and ${state.enabled ? 'enabled' : 'disabled'} on the slave application node ${host.name}`;
    if (app.on_guard === 'block') {
      const remedy = byHand ? `on ${host.name}: stop it (nginx -s stop, or kill ${stray.pids.join(' ') || 'its process'}), then systemctl disable ${nginx}` : `on ${host.name}: systemctl stop ${nginx} && systemctl disable ${nginx}`;
      throw guardFailed(`${found}; an active nginx on the slave causes routing conflicts with the observer`, remedy);
    }
    const actions = [
      ...(await ensureUnit(ssh, nginx, { running: false, enabled: false }, input.check)),
      ...(await stopStrayListeners(ssh, host.address, app.http_port, input.check)),
    ];
    return stepResult(actions.map((a) => `${a} (${found})`), '');
  });
}

/**
 * The application failover's fence: the old master must stop taking users, so nginx and the
 * application stop there and nginx is disabled (a reboot must not bring it back as a second
 * master). A machine that cannot be reached cannot be fenced: that is recorded, not an error,
 * because the failover must go on (HAProxy's health check keeps users off it meanwhile).
 */
const FENCE_CONNECT_MS = 3_000;
/** How long after the stop the fence looks again for a listener. */
const FENCE_RECHECK_MS = 1_000;

export async function fenceAppNode(input: HostInput & { planned?: boolean }): Promise<StepResult> {
  const app = requireApp(input.topology);
  const host = hostOf(input);
  // A failover does not wait long for a machine that is gone: a few seconds to connect.
  const target = targetFor(input.topology, host);
  const connectTimeoutMs = input.planned ? target.connectTimeoutMs : Math.min(target.connectTimeoutMs, FENCE_CONNECT_MS);
  try {
    return await withHostSsh({ ...target, connectTimeoutMs }, async (ssh) => {
      const actions = [
        ...(await ensureUnit(ssh, app.nginx_service, { running: false, enabled: false }, input.check)),
        ...(await ensureUnit(ssh, app.service, { running: false, enabled: false }, input.check)),
        // Fenced means nothing answers users there, whatever the units say; looked at twice, for a
        // web server still starting when its unit was stopped (a machine that has just booted).
        ...(await stopStrayListeners(ssh, host.address, app.http_port, input.check)),
        ...(input.check ? [] : await sleep(FENCE_RECHECK_MS).then(() => stopStrayListeners(ssh, host.address, app.http_port, false))),
      ];
      return stepResult(actions, `${app.nginx_service} and ${app.service} are stopped and disabled on ${host.name}`, [], { fenced: true });
    });
  } catch (err) {
    if (input.planned || !(err instanceof ApplicationFailure) || err.type !== StepFailureTypes.hostUnreachable) throw err;
    return stepResult([`could not fence ${input.host}: it does not answer SSH (${err.message}); HAProxy's health check keeps users off it, and its nginx must be stopped before it serves again`], '', [], { fenced: false });
  }
}

/** The node's role in the HA directory, as the application monitor sees it after a failover or a switchback. */
export async function recordAppRole(input: HostInput & { role: 'master' | 'slave'; bestEffort?: boolean }): Promise<StepResult> {
  const app = requireApp(input.topology);
  const host = hostOf(input);
  const target = targetFor(input.topology, host);
  // Best effort is for a machine that may be gone: a few seconds to find out, as the fence.
  const connectTimeoutMs = input.bestEffort ? Math.min(target.connectTimeoutMs, FENCE_CONNECT_MS) : target.connectTimeoutMs;
  try {
    return await withHostSsh({ ...target, connectTimeoutMs }, async (ssh) => {
      const group = (await ssh.check(`id -gn ${shellQuote(app.user)}`)).trim();
      const change = await ensureRemoteFile(ssh, { path: roleFilePath(input.topology), content: `${input.role}\n`, owner: app.user, group, mode: 0o644 }, input.check);
      return stepResult(change.changed ? [`${change.summary}: ${input.role}`] : [], `${host.name} is recorded as ${input.role}`);
    });
  } catch (err) {
    if (!input.bestEffort || !(err instanceof ApplicationFailure) || err.type !== StepFailureTypes.hostUnreachable) throw err;
    return stepResult([`could not record ${input.host} as ${input.role}: it does not answer SSH; it stays fenced until \`haflow app switchback\``], '');
  }
}

/**
 * An application failover needs a database to fail over to: one Patroni leader that HAProxy
 * sends writes to. Waits up to waitSeconds for one (Patroni may be failing over at the same time).
 */
export async function databaseHasLeader(input: ClusterInput & { waitSeconds?: number }): Promise<StepResult> {
  const { topology } = input;
  const probe = async (): Promise<Probe<string>> => {
    const health = await readClusterHealth(input);
    const routed = health.haproxy.every((h) => health.leader !== undefined && h.routesTo.length === 1 && h.routesTo[0] === health.leader);
    if (health.leader && routed) return { done: `${health.leader} leads the database and HAProxy sends writes to it` };
    return { notYet: health.leader ? `${health.leader} leads but HAProxy does not send writes to it yet` : 'the database tier has no leader' };
  };
  if (input.check || !input.waitSeconds) {
    const seen = await probe();
    if ('done' in seen) return stepResult([], seen.done);
    throw guardFailed(`the application cannot fail over: ${seen.notYet}`, `bring the database tier back first (\`haflow list ${topology.cluster}\`), then retry`);
  }
  return stepResult([], await waitFor('a database leader behind HAProxy', probe, { timeoutMs: input.waitSeconds * 1000, intervalMs: 1000, remedy: `bring the database tier back first (\`haflow list ${topology.cluster}\`), then retry` }));
}

/** The master application node serves: the application and nginx running and enabled. */
export async function masterAppServing(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const app = requireApp(input.topology);
    const nginx = await unitState(ssh, app.nginx_service);
    const nginxRuns = nginx.active === 'active' || nginx.active === 'activating' || nginx.active === 'reloading';
    const actions = [
      ...(await ensureUnit(ssh, app.service, { running: true, enabled: true }, input.check)),
      // A web server its unit does not know of (started by hand, or outliving a stop) would hold
      // the port and keep nginx from starting: it goes first.
      ...(nginxRuns ? [] : await stopStrayListeners(ssh, host.address, app.http_port, input.check)),
      ...(await ensureUnit(ssh, app.nginx_service, { running: true, enabled: true }, input.check)),
    ];
    if (!input.check) actions.push(...(await nginxListening(ssh, app.nginx_service, host.address, app.http_port)));
    return stepResult(actions, `${app.service} and ${app.nginx_service} run on the master ${host.name}`);
  });
}

/**
 * The guide: "Run this script as a normal user. Do not use root or sudo." The application monitor reaches
 * the application nodes as haflow does; that user, logged in, must not be root.
 */
export async function monitorSshUserNotRoot(input: ClusterInput): Promise<StepResult> {
  const { topology } = input;
  const found: string[] = [];
  for (const host of appHosts(topology)) {
    const target = targetFor(topology, host);
    const uid = (await withHostSsh(target, (ssh) => ssh.check('id -u'))).trim();
    if (target.user === 'root' || uid === '0') found.push(`${host.name} as ${target.user} (uid ${uid})`);
  }
  if (found.length > 0) {
    throw guardFailed(
      `the application monitor would reach the application nodes as root: ${found.join(', ')}; the guide runs its Application HA Observer as a normal user`,
      `set ssh.user (or the host's ssh.user) to the common sudo user ${topology.app?.user ?? ''}, with sudo: true`,
    );
  }
  return stepResult([], `the application monitor reaches ${appHosts(topology).map((h) => h.name).join(', ')} as ${[...new Set(appHosts(topology).map((h) => targetFor(topology, h).user))].join(', ')}, not root`);
}

/** GET over HTTPS, certificate not checked against a CA (the site's own, often self-signed): the handshake and the answer are what is verified. */
function httpsGet(url: string, timeoutMs = 3000): Promise<{ status: number; protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      const protocol = (res.socket as TLSSocket).getProtocol?.() ?? 'TLS';
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, protocol }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * The application answers through the observer's HAProxy: its health URL gives 200 on the
 * application port (and over HTTPS when configured), and HAProxy sends users to the master only.
 */
export async function appHealthyThroughHaproxy(input: HostInput & { waitSeconds?: number; master?: string; notOn?: string }): Promise<StepResult> {
  const { topology } = input;
  const proxy = hostOf(input);
  const app = requireApp(topology);
  // After an application failover the monitor's master, not the topology's; in a drill, whichever
  // node is not the one struck (`notOn`).
  const fixed = input.master ? hostByName(topology, input.master) : input.notOn ? undefined : appMaster(topology)!;
  const url = `http://${proxy.address}:${topology.haproxy.app_http_port}${app.health_path}`;
  const tls = topology.haproxy.tls;
  const secureUrl = tls ? `https://${proxy.address}:${tls.port}${app.health_path}` : undefined;
  const expected = fixed ? `the master ${fixed.name} only` : `one node other than ${input.notOn}`;
  let master = fixed;
  const probe = async (): Promise<Probe<string>> => {
    const up = (await haproxyServers(topology, proxy)).filter((s) => s.proxy === 'backend' && s.status.startsWith('UP')).map((s) => s.server);
    const right = up.length === 1 && (fixed ? up[0] === fixed.name : up[0] !== input.notOn);
    if (!right) return { notYet: `HAProxy's application servers UP: ${up.join(', ') || 'none'} (expected ${expected})` };
    master = hostByName(topology, up[0]);
    const plain = await httpGet(url);
    if (plain.status !== 200) return { notYet: `${url} answered HTTP ${plain.status}: ${plain.body.trim().slice(0, 200)}` };
    if (!secureUrl) return { done: `${url} answers 200 from the master ${master!.name}` };
    const secure = await httpsGet(secureUrl);
    if (secure.status !== 200) return { notYet: `${secureUrl} answered HTTP ${secure.status}` };
    return { done: `${url} and ${secureUrl} (${secure.protocol}) answer 200 from the master ${master!.name}` };
  };
  if (input.check) {
    const seen = await probe().catch((err: Error) => ({ notYet: err.message }));
    return stepResult([], 'done' in seen ? seen.done : `not yet: ${seen.notYet}`);
  }
  const summary = await waitFor(`the application to answer through HAProxy on ${proxy.name}`, probe, {
    timeoutMs: (input.waitSeconds ?? 90) * 1000,
    intervalMs: 500,
    remedy: input.notOn
      ? `is the application monitor running? \`haflow monitor status ${topology.cluster}\` (start it: \`haflow monitor start ${topology.cluster}\`); HAProxy's stats: http://${proxy.address}:${topology.haproxy.stats_port}/`
      : `open http://${proxy.address}:${topology.haproxy.stats_port}/ and look at the application servers; on ${fixed!.name}: systemctl status ${app.service} ${app.nginx_service}`,
  });
  return stepResult([], summary);
}
