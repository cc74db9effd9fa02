// A production-shaped Temporal cluster on this box, for running haflow unchanged against one:
// Temporal's server (built from the Go module proxy) as four separate services (frontend,
// history, matching, worker) that find each other through membership, on PostgreSQL 15 of its
// own (Debian's binaries, its own data directory), all on loopback addresses the lab does not
// use. `withTemporalCluster` brings it up for a body of code and always takes it down again;
// `node --import tsx lab/temporal-cluster.ts up|down|status` does the same by hand.
// Every process it starts is recorded by PID (with its start time) in the state directory and
// stopped by that record; nothing is killed by name.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';

/** The server release, the Go toolchain that builds it, and where the schema files come from. */
export const TEMPORAL_SERVER_VERSION = 'v1.32.2';
export const GO_TOOLCHAIN = 'go1.27.3';
const SERVER_MODULE = 'go.temporal.io/server';
const BUILD_TARGETS = [`${SERVER_MODULE}/cmd/server@${TEMPORAL_SERVER_VERSION}`, `${SERVER_MODULE}/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`];

/** Loopback addresses outside the lab's 127.0.0.11–127.0.0.53: one for PostgreSQL, one for Temporal's services. */
export const CLUSTER_ADDRESSES = { postgres: '127.0.0.90', temporal: '127.0.0.91' } as const;
export const POSTGRES_PORT = 5432;
export const CLUSTER_NAMESPACE = 'haflow';
/** As `haflow server`: finished runs are kept 30 days. */
/** How long finished runs stay in the namespace, as haflow's embedded server keeps them. */
const NAMESPACE_RETENTION_HOURS = 720;
export const DEFAULT_STATE_DIR = '/var/lib/haflow-temporal-cluster';
const PG_BIN = '/usr/lib/postgresql/15/bin';
const pg = (tool: string) => join(PG_BIN, tool);
const DB_USER = 'temporal';
const DATABASES = { temporal: 'temporal', visibility: 'temporal_visibility' } as const;
/** The services read the database password from their environment (the config is a template), so it is not in the config file. */
const PASSWORD_VARIABLE = 'HAFLOW_TEMPORAL_DB_PASSWORD';

/** Each service in a process of its own, with its own gRPC and membership ports. */
export const SERVICES = {
  frontend: { grpcPort: 7233, membershipPort: 6933 },
  history: { grpcPort: 7234, membershipPort: 6934 },
  matching: { grpcPort: 7235, membershipPort: 6935 },
  worker: { grpcPort: 7239, membershipPort: 6939 },
} as const;
export type ServiceName = keyof typeof SERVICES;
const SERVICE_NAMES = Object.keys(SERVICES) as ServiceName[];

export const CLUSTER_ADDRESS = `${CLUSTER_ADDRESSES.temporal}:${SERVICES.frontend.grpcPort}`;

export class TemporalClusterError extends Error {
  override readonly name = 'TemporalClusterError';
}

export interface TemporalClusterOptions {
  /** Where the cluster keeps its database, configuration, logs and PIDs; default /var/lib/haflow-temporal-cluster. */
  stateDir?: string;
  /** Start from an empty database (the state directory's data is removed first). */
  fresh?: boolean;
  /** One line per phase. */
  log?: (line: string) => void;
}

/** What a client or worker needs: TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE. */
export interface TemporalClusterSettings {
  address: string;
  namespace: string;
}

export interface BringUpTimings {
  /** 'already built': the binaries were there; 'waited': a build already running was waited for; 'built': built now. */
  build: 'already built' | 'waited' | 'built';
  buildSeconds: number;
  postgresSeconds: number;
  schemaSeconds: number;
  servicesSeconds: number;
  namespaceSeconds: number;
  totalSeconds: number;
}

export interface RunningCluster extends TemporalClusterSettings {
  stateDir: string;
  timings: BringUpTimings;
  pids: Record<ServiceName | 'postgres', number>;
}

interface RecordedProcess {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: a PID reused by another process has another start time. */
  startTicks: string;
}

interface ClusterState {
  services: Partial<Record<ServiceName, RecordedProcess>>;
}

export function clusterPaths(stateDir: string) {
  const logs = join(stateDir, 'logs');
  return {
    stateDir,
    pgData: join(stateDir, 'postgres'),
    pgSocket: join(stateDir, 'postgres-socket'),
    logs,
    pgLog: join(logs, 'postgres.log'),
    buildLog: join(logs, 'build.log'),
    serviceLog: (service: ServiceName) => join(logs, `${service}.log`),
    config: join(stateDir, 'temporal.yaml'),
    password: join(stateDir, 'db-password'),
    state: join(stateDir, 'state.json'),
  };
}
type Paths = ReturnType<typeof clusterPaths>;

const since = (start: number) => Math.round((Date.now() - start) / 100) / 10;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------ processes

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** Runs as this user (uid, gid); the caller is root. */
  as?: { uid: number; gid: number };
  stdin?: string;
  timeoutMs?: number;
}

/** Runs a command to its end; rejects only when it cannot be started. */
function run(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: '/',
      stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(options.as ? { uid: options.as.uid, gid: options.as.gid } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (child.stdin) {
      // A command that exits without reading its input is not an error of ours; its exit code says what happened.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.stdin);
    }
  });
}

/** Rejects with what the command said when it fails. */
async function runOk(what: string, command: string, args: string[], options: RunOptions = {}): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    const said = `${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-15).join('\n');
    throw new TemporalClusterError(`${what} failed (exit ${result.code ?? 'by signal'}):\n${said}`);
  }
  return result.stdout;
}

function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return undefined; // exited, waiting to be reaped
    return fields[19];
  } catch {
    return undefined;
  }
}

function isRunning(recorded: RecordedProcess | undefined): recorded is RecordedProcess {
  return recorded !== undefined && startTicks(recorded.pid) === recorded.startTicks;
}

function cmdline(pid: string): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

function executable(pid: string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

/** Temporal servers and postmasters whose command line names the state directory: what a stop must leave none of. */
function processesOf(stateDir: string): { pid: number; command: string }[] {
  const binaries = [join(binaryDir(), 'server'), pg('postgres')];
  return readdirSync('/proc')
    .filter((pid) => /^\d+$/.test(pid) && binaries.includes(executable(pid) ?? ''))
    .map((pid) => ({ pid: Number(pid), args: cmdline(pid) }))
    .filter(({ pid, args }) => startTicks(pid) !== undefined && args.some((a) => a === stateDir || a.startsWith(`${stateDir}/`)))
    .map(({ pid, args }) => ({ pid, command: args.join(' ') }));
}

function userIds(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new TemporalClusterError(`there is no ${name} user on this box: install Debian's PostgreSQL 15 (apt-get install postgresql-15)`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** True when something accepts connections on host:port. */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The environment of the tools: no TEMPORAL_* settings of the caller's leak into them. */
function toolEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_'))), ...extra };
}

// ------------------------------------------------------------------ the build

function goCommand(): string {
  const onPath = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (onPath.status === 0) return 'go';
  if (existsSync('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  throw new TemporalClusterError('the Go toolchain (`go`) was not found: install Go 1.21 or later from https://go.dev/dl (it fetches ' + `${GO_TOOLCHAIN} itself), or build the server elsewhere and put \`server\` and \`sql\` in ~/go/bin`);
}

function goEnv(name: string, fallback: string): string {
  const result = spawnSync(goCommand(), ['env', name], { encoding: 'utf8' });
  return (result.status === 0 && result.stdout.trim()) || fallback;
}

/** Where `go install` puts the binaries: GOBIN, else GOPATH/bin. */
export function binaryDir(): string {
  if (process.env.GOBIN) return process.env.GOBIN;
  const fromGo = spawnSync('go', ['env', 'GOBIN', 'GOPATH'], { encoding: 'utf8' });
  if (fromGo.status === 0) {
    const [gobin, gopath] = fromGo.stdout.split('\n');
    if (gobin) return gobin;
    if (gopath) return join(gopath.split(':')[0], 'bin');
  }
  return join(homedir(), 'go', 'bin');
}

function reportsVersion(binary: string): boolean {
  const result = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return result.status === 0 && result.stdout.includes(TEMPORAL_SERVER_VERSION.replace(/^v/, ''));
}

/** A `go install` of Temporal's server that is running now (someone else's), with the file its output goes to. */
function runningBuild(): { pid: number; log?: string } | undefined {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    const args = cmdline(pid);
    if (args.includes('install') && args.some((a) => a.startsWith(`${SERVER_MODULE}/cmd/server@`)) && startTicks(Number(pid))) {
      let log: string | undefined;
      try {
        log = readlinkSync(`/proc/${pid}/fd/1`);
      } catch {
        // not ours to read
      }
      return { pid: Number(pid), log };
    }
  }
  return undefined;
}

export interface Binaries {
  server: string;
  sql: string;
  how: BringUpTimings['build'];
  seconds: number;
}

/** The server and its schema tool at TEMPORAL_SERVER_VERSION: found, waited for, or built now. */
export async function ensureTemporalBinaries(paths: Paths, log: (line: string) => void = () => undefined): Promise<Binaries> {
  const start = Date.now();
  const dir = binaryDir();
  const server = join(dir, 'server');
  const sql = join(dir, 'sql');
  const ready = () => reportsVersion(server) && reportsVersion(sql);
  const otherBuild = runningBuild();
  if (!otherBuild && ready()) return { server, sql, how: 'already built', seconds: since(start) };
  if (otherBuild) {
    // Two builds into one GOBIN would only race: wait for the one under way.
    log(`waiting for the build of Temporal's server already running (pid ${otherBuild.pid}${otherBuild.log ? `, log ${otherBuild.log}` : ''})`);
    const deadline = Date.now() + 45 * 60_000;
    while (startTicks(otherBuild.pid) && Date.now() < deadline) await sleep(2000);
    if (startTicks(otherBuild.pid)) throw new TemporalClusterError(`the build of Temporal's server (pid ${otherBuild.pid}) still runs after 45 minutes; see ${otherBuild.log ?? 'its output'}`);
    if (!ready()) {
      throw new TemporalClusterError(
        `the build of Temporal's server that was running (pid ${otherBuild.pid}) ended without ${server} and ${sql} at ${TEMPORAL_SERVER_VERSION}; ` +
          `see ${otherBuild.log ?? 'its output'}${otherBuild.log ? `:\n${tail(otherBuild.log, 10)}` : ''}`,
      );
    }
    return { server, sql, how: 'waited', seconds: since(start) };
  }
  log(`building Temporal's server ${TEMPORAL_SERVER_VERSION} and its schema tool with ${GO_TOOLCHAIN} (log ${paths.buildLog}; several minutes the first time)`);
  mkdirSync(paths.logs, { recursive: true });
  const out = openSync(paths.buildLog, 'w');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(goCommand(), ['install', ...BUILD_TARGETS], { env: { ...process.env, GOTOOLCHAIN: GO_TOOLCHAIN }, stdio: ['ignore', out, out] });
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (code !== 0 || !ready()) {
      throw new TemporalClusterError(`building Temporal's server failed (exit ${code}); see ${paths.buildLog}:\n${tail(paths.buildLog, 10)}`);
    }
  } finally {
    closeSync(out);
  }
  return { server, sql, how: 'built', seconds: since(start) };
}

/** The schema files of the server's module, from the Go module cache (downloaded when missing). */
async function schemaDir(): Promise<string> {
  const cached = join(goEnv('GOMODCACHE', join(homedir(), 'go', 'pkg', 'mod')), `${SERVER_MODULE}@${TEMPORAL_SERVER_VERSION}`, 'schema', 'postgresql', 'v12');
  if (existsSync(cached)) return cached;
  const downloaded = await runOk('downloading the server module for its schema files', goCommand(), ['mod', 'download', '-json', `${SERVER_MODULE}@${TEMPORAL_SERVER_VERSION}`], {
    env: { ...process.env, GOTOOLCHAIN: GO_TOOLCHAIN },
  });
  const dir = join((JSON.parse(downloaded) as { Dir: string }).Dir, 'schema', 'postgresql', 'v12');
  if (!existsSync(dir)) throw new TemporalClusterError(`the server module has no PostgreSQL schema at ${dir}`);
  return dir;
}

// ------------------------------------------------------------------ PostgreSQL

function dbPassword(paths: Paths): string {
  if (!existsSync(paths.password)) writeFileSync(paths.password, randomBytes(18).toString('base64url'), { mode: 0o600 });
  return readFileSync(paths.password, 'utf8').trim();
}

async function postgresRunning(paths: Paths, postgres: { uid: number; gid: number }): Promise<boolean> {
  if (!existsSync(join(paths.pgData, 'PG_VERSION'))) return false;
  return (await run(pg('pg_ctl'), ['status', '-D', paths.pgData], { as: postgres })).code === 0;
}

function postmasterPid(paths: Paths): number | undefined {
  try {
    const pid = Number(readFileSync(join(paths.pgData, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return startTicks(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** PostgreSQL 15 in its own data directory, on CLUSTER_ADDRESSES.postgres only, with the temporal role. */
async function startPostgres(paths: Paths, log: (line: string) => void): Promise<void> {
  if (!existsSync(pg('initdb'))) throw new TemporalClusterError(`${pg('initdb')} not found: install Debian's PostgreSQL 15 (apt-get install postgresql-15)`);
  const postgres = userIds('postgres');
  if ((await run('test', ['-x', paths.stateDir], { as: postgres })).code !== 0) {
    throw new TemporalClusterError(`the postgres user cannot reach ${paths.stateDir}: every directory above it must be searchable by others (chmod o+x on the one that is not), or choose another state directory`);
  }
  for (const dir of [paths.pgData, paths.pgSocket]) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chownSync(dir, postgres.uid, postgres.gid);
    chmodSync(dir, 0o700);
  }
  if (!existsSync(join(paths.pgData, 'PG_VERSION'))) {
    log(`initdb ${paths.pgData}`);
    await runOk('initdb', pg('initdb'), ['-D', paths.pgData, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--auth-local=peer', '--auth-host=scram-sha-256'], { as: postgres });
  }
  const settings = [
    `listen_addresses = '${CLUSTER_ADDRESSES.postgres}'`,
    `port = ${POSTGRES_PORT}`,
    `unix_socket_directories = '${paths.pgSocket}'`,
    // Four service processes, each with pools to both databases.
    'max_connections = 200',
    // A failed statement is not logged with its text: the role's password goes through one.
    "log_min_error_statement = 'panic'",
  ];
  writeFileSync(join(paths.pgData, 'haflow-cluster.conf'), `${settings.join('\n')}\n`);
  const conf = join(paths.pgData, 'postgresql.conf');
  if (!readFileSync(conf, 'utf8').includes("include_if_exists = 'haflow-cluster.conf'")) {
    writeFileSync(conf, `${readFileSync(conf, 'utf8')}\ninclude_if_exists = 'haflow-cluster.conf'\n`);
  }
  // The superuser only through the socket as the postgres user; Temporal's role by password over TCP.
  writeFileSync(join(paths.pgData, 'pg_hba.conf'), ['local all postgres peer', `host all ${DB_USER} 127.0.0.0/8 scram-sha-256`, ''].join('\n'));
  for (const file of ['haflow-cluster.conf', 'pg_hba.conf']) chownSync(join(paths.pgData, file), postgres.uid, postgres.gid);

  if (!(await postgresRunning(paths, postgres))) {
    if (await listening(CLUSTER_ADDRESSES.postgres, POSTGRES_PORT)) {
      throw new TemporalClusterError(`something else listens on ${CLUSTER_ADDRESSES.postgres}:${POSTGRES_PORT}: stop it (a cluster of another state directory? \`node --import tsx lab/temporal-cluster.ts down --dir <its directory>\`)`);
    }
    mkdirSync(paths.logs, { recursive: true });
    writeFileSync(paths.pgLog, '', { flag: 'a' });
    chownSync(paths.pgLog, postgres.uid, postgres.gid);
    log(`starting PostgreSQL 15 on ${CLUSTER_ADDRESSES.postgres}:${POSTGRES_PORT}`);
    const started = await run(pg('pg_ctl'), ['start', '-D', paths.pgData, '-l', paths.pgLog, '-w', '-t', '60'], { as: postgres });
    if (started.code !== 0) throw new TemporalClusterError(`PostgreSQL did not start (exit ${started.code}); see ${paths.pgLog}:\n${tail(paths.pgLog, 10)}`);
  }
  // The password travels on standard input, never on a command line.
  const password = dbPassword(paths);
  const sql = [
    `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${DB_USER}') THEN CREATE ROLE ${DB_USER} LOGIN CREATEDB; END IF; END $$;`,
    `ALTER ROLE ${DB_USER} PASSWORD '${password}';`,
  ].join('\n');
  await runOk(`creating PostgreSQL role ${DB_USER}`, pg('psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', paths.pgSocket, '-p', String(POSTGRES_PORT), '-U', 'postgres', '-d', 'postgres'], {
    as: postgres,
    stdin: sql,
  });
}

/** The two databases and their schemas, as Temporal's docs set them up: create, setup-schema -v 0.0, update-schema -d <versioned>. */
async function setupSchemas(paths: Paths, sqlTool: string, log: (line: string) => void): Promise<void> {
  const schemas = await schemaDir();
  const env = toolEnv({ SQL_PASSWORD: dbPassword(paths) });
  for (const [kind, database] of Object.entries(DATABASES)) {
    const common = ['--plugin', 'postgres12', '--ep', CLUSTER_ADDRESSES.postgres, '-p', String(POSTGRES_PORT), '-u', DB_USER, '--db', database];
    const versioned = join(schemas, kind, 'versioned');
    log(`schema of ${database} (${versioned})`);
    await runOk(`creating database ${database}`, sqlTool, [...common, 'create-database'], { env });
    await runOk(`setup-schema of ${database}`, sqlTool, [...common, 'setup-schema', '-v', '0.0'], { env });
    await runOk(`update-schema of ${database}`, sqlTool, [...common, 'update-schema', '-d', versioned], { env });
  }
}

async function stopPostgres(paths: Paths): Promise<void> {
  if (!existsSync(join(paths.pgData, 'PG_VERSION'))) return;
  const postgres = userIds('postgres');
  if (!(await postgresRunning(paths, postgres))) return;
  const fast = await run(pg('pg_ctl'), ['stop', '-D', paths.pgData, '-m', 'fast', '-w', '-t', '60'], { as: postgres });
  if (fast.code !== 0) await run(pg('pg_ctl'), ['stop', '-D', paths.pgData, '-m', 'immediate', '-w', '-t', '30'], { as: postgres });
  const left = postmasterPid(paths);
  if (left) {
    process.kill(left, 'SIGKILL');
    await sleep(500);
  }
}

// ------------------------------------------------------------------ Temporal's services

function serverConfig(): string {
  const datastore = (database: string, maxConns: number) =>
    [
      '      sql:',
      '        pluginName: postgres12',
      `        databaseName: ${database}`,
      `        connectAddr: "${CLUSTER_ADDRESSES.postgres}:${POSTGRES_PORT}"`,
      '        connectProtocol: tcp',
      `        user: ${DB_USER}`,
      `        password: '{{ env "${PASSWORD_VARIABLE}" }}'`,
      `        maxConns: ${maxConns}`,
      `        maxIdleConns: ${maxConns}`,
      '        maxConnLifetime: 1h',
    ].join('\n');
  const services = SERVICE_NAMES.map((name) =>
    [`  ${name}:`, '    rpc:', `      grpcPort: ${SERVICES[name].grpcPort}`, `      membershipPort: ${SERVICES[name].membershipPort}`, `      bindOnIP: ${CLUSTER_ADDRESSES.temporal}`].join('\n'),
  );
  return [
    '# enable-template',
    '# Temporal cluster of haflow\'s lab (lab/temporal-cluster.ts): four services in processes of their own, on loopback.',
    '# The database password comes from the environment of each service, not from this file.',
    'log:',
    '  stdout: true',
    '  level: info',
    'persistence:',
    '  defaultStore: default',
    '  visibilityStore: visibility',
    '  numHistoryShards: 4',
    '  datastores:',
    '    default:',
    datastore(DATABASES.temporal, 20),
    '    visibility:',
    datastore(DATABASES.visibility, 10),
    'global:',
    '  membership:',
    '    maxJoinDuration: 30s',
    `    broadcastAddress: "${CLUSTER_ADDRESSES.temporal}"`,
    'services:',
    ...services,
    'clusterMetadata:',
    '  enableGlobalNamespace: false',
    '  failoverVersionIncrement: 10',
    '  masterClusterName: active',
    '  currentClusterName: active',
    '  clusterInformation:',
    '    active:',
    '      enabled: true',
    '      initialFailoverVersion: 1',
    '      rpcName: frontend',
    `      rpcAddress: "${CLUSTER_ADDRESS}"`,
    'dcRedirectionPolicy:',
    '  policy: noop',
    '',
  ].join('\n');
}

function readState(paths: Paths): ClusterState {
  try {
    return JSON.parse(readFileSync(paths.state, 'utf8')) as ClusterState;
  } catch {
    return { services: {} };
  }
}

function writeState(paths: Paths, state: ClusterState): void {
  writeFileSync(paths.state, `${JSON.stringify(state, null, 2)}\n`);
}

function startService(paths: Paths, server: string, service: ServiceName): RecordedProcess {
  const out = openSync(paths.serviceLog(service), 'a');
  try {
    // Detached, with its output in a file: it outlives `up`, and `down` stops it by its PID.
    const child = spawn(server, ['--config-file', paths.config, '--allow-no-auth', 'start', '--service', service], {
      env: toolEnv({ [PASSWORD_VARIABLE]: dbPassword(paths) }),
      cwd: paths.stateDir,
      stdio: ['ignore', out, out],
      detached: true,
    });
    child.unref();
    const pid = child.pid;
    const ticks = pid ? startTicks(pid) : undefined;
    if (!pid || !ticks) throw new TemporalClusterError(`the ${service} service did not start; see ${paths.serviceLog(service)}`);
    return { pid, startTicks: ticks };
  } finally {
    closeSync(out);
  }
}

/** Asks the frontend over gRPC (the SDK's own connection); a failure is a value, not an exception. */
async function askFrontend<T>(ask: (connection: Connection) => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address: CLUSTER_ADDRESS, connectTimeout: 3_000 });
    return { ok: true, value: await ask(connection) };
  } catch (err) {
    return { ok: false, error: (err as Error).message.split('\n')[0] };
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** The frontend's gRPC health: SERVING when it takes requests. */
const frontendHealth = (connection: Connection) =>
  connection.healthService
    .check({ service: 'temporal.api.workflowservice.v1.WorkflowService' })
    .then((answer) => (answer.status === 1 ? 'SERVING' : `not serving (status ${answer.status})`));

const describeNamespace = (connection: Connection) => connection.workflowService.describeNamespace({ namespace: CLUSTER_NAMESPACE });

/** Fails, with the service's log, when a started service is no longer running. */
function assertServicesRunning(paths: Paths, state: ClusterState): void {
  const dead = SERVICE_NAMES.find((s) => state.services[s] && !isRunning(state.services[s]));
  if (dead) throw new TemporalClusterError(`the ${dead} service exited; see ${paths.serviceLog(dead)}:\n${tail(paths.serviceLog(dead))}`);
}

/** Until the service accepts connections on its gRPC port. */
async function waitForPort(paths: Paths, state: ClusterState, service: ServiceName, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await listening(CLUSTER_ADDRESSES.temporal, SERVICES[service].grpcPort))) {
    assertServicesRunning(paths, state);
    if (Date.now() > deadline) throw new TemporalClusterError(`the ${service} service did not listen on ${CLUSTER_ADDRESSES.temporal}:${SERVICES[service].grpcPort} within ${timeoutMs / 1000} s; see ${paths.serviceLog(service)}`);
    await sleep(250);
  }
}

/** Until the frontend says SERVING; fails early, with the service's log, when a service dies. */
async function waitForFrontend(paths: Paths, state: ClusterState, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    assertServicesRunning(paths, state);
    const health = await askFrontend(frontendHealth);
    last = health.ok ? health.value : health.error;
    if (health.ok && health.value === 'SERVING') return;
    await sleep(500);
  }
  throw new TemporalClusterError(`the frontend on ${CLUSTER_ADDRESS} did not answer within ${timeoutMs / 1000} s (last: ${last}); see ${paths.logs}`);
}

/** The namespace, created when missing, and usable: a workflow starts in it (frontend and history know it). */
async function ensureNamespace(timeoutMs: number): Promise<void> {
  if (!(await askFrontend(describeNamespace)).ok) {
    const created = await askFrontend((connection) =>
      connection.workflowService.registerNamespace({ namespace: CLUSTER_NAMESPACE, workflowExecutionRetentionPeriod: msToTs(`${NAMESPACE_RETENTION_HOURS}h`) }),
    );
    if (!created.ok && !/already (exists|registered)/i.test(created.error)) {
      throw new TemporalClusterError(`creating namespace ${CLUSTER_NAMESPACE} failed: ${created.error}`);
    }
  }
  const connection = await Connection.connect({ address: CLUSTER_ADDRESS, connectTimeout: 5_000 });
  try {
    const client = new Client({ connection, namespace: CLUSTER_NAMESPACE });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        // Never picked up: nothing polls this queue. Terminated at once.
        const probe = await client.workflow.start('haflowNamespaceProbe', { taskQueue: 'haflow-namespace-probe', workflowId: `haflow-namespace-probe-${randomUUID()}`, workflowExecutionTimeout: '1m' });
        await probe.terminate('namespace probe');
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new TemporalClusterError(`namespace ${CLUSTER_NAMESPACE} was not usable within ${timeoutMs / 1000} s: ${(err as Error).message}`);
        await sleep(500);
      }
    }
  } finally {
    await connection.close();
  }
}

// ------------------------------------------------------------------ up, down, status

/**
 * Brings the cluster up (idempotent: what runs already is kept) and returns its settings and how
 * long each phase took. On failure, whatever it started is stopped again and the error names the log.
 */
export async function startTemporalCluster(options: TemporalClusterOptions = {}): Promise<RunningCluster> {
  const start = Date.now();
  const log = options.log ?? (() => undefined);
  const paths = clusterPaths(options.stateDir ?? DEFAULT_STATE_DIR);
  if (process.getuid?.() !== 0) throw new TemporalClusterError('the Temporal cluster runs PostgreSQL as the postgres user: run this as root');
  if (options.fresh) await stopTemporalCluster({ stateDir: paths.stateDir, wipe: true });
  // Traversable by the postgres user (its data and socket directories are inside), readable by root only.
  mkdirSync(paths.stateDir, { recursive: true, mode: 0o711 });
  chmodSync(paths.stateDir, 0o711);
  mkdirSync(paths.logs, { recursive: true, mode: 0o755 });

  const binaries = await ensureTemporalBinaries(paths, log);
  log(`Temporal server ${TEMPORAL_SERVER_VERSION}: ${binaries.how} (${binaries.seconds} s), ${binaries.server}`);
  try {
    let phase = Date.now();
    await startPostgres(paths, log);
    const postgresSeconds = since(phase);
    phase = Date.now();
    await setupSchemas(paths, binaries.sql, log);
    const schemaSeconds = since(phase);

    phase = Date.now();
    writeFileSync(paths.config, serverConfig(), { mode: 0o600 });
    const state = readState(paths);
    const missing = SERVICE_NAMES.filter((s) => !isRunning(state.services[s]));
    for (const service of missing) {
      const { grpcPort, membershipPort } = SERVICES[service];
      for (const port of [grpcPort, membershipPort]) {
        if (await listening(CLUSTER_ADDRESSES.temporal, port)) {
          throw new TemporalClusterError(`something else listens on ${CLUSTER_ADDRESSES.temporal}:${port} (the ${service} service's port): stop it first`);
        }
      }
    }
    // Every service writes the cluster's metadata record when it finds none, and on a fresh
    // database the losers of that race exit: history goes first, alone, the others once it serves.
    const [first, ...others] = [...missing.filter((s) => s === 'history'), ...missing.filter((s) => s !== 'history')];
    const launch = (service: ServiceName) => {
      const { grpcPort, membershipPort } = SERVICES[service];
      log(`starting the ${service} service (gRPC ${CLUSTER_ADDRESSES.temporal}:${grpcPort}, membership ${membershipPort}; log ${paths.serviceLog(service)})`);
      state.services[service] = startService(paths, binaries.server, service);
      writeState(paths, state);
    };
    if (first) {
      launch(first);
      await waitForPort(paths, state, first, 120_000);
    }
    others.forEach(launch);
    await waitForFrontend(paths, state, 120_000);
    const servicesSeconds = since(phase);

    phase = Date.now();
    log(`namespace ${CLUSTER_NAMESPACE} (retention ${NAMESPACE_RETENTION_HOURS} h)`);
    await ensureNamespace(60_000);
    const namespaceSeconds = since(phase);
    // A service that died after the frontend answered would only show as "Not enough hosts" later.
    assertServicesRunning(paths, state);
    const pids = Object.fromEntries(SERVICE_NAMES.map((s) => [s, state.services[s]!.pid])) as Record<ServiceName, number>;
    return {
      address: CLUSTER_ADDRESS,
      namespace: CLUSTER_NAMESPACE,
      stateDir: paths.stateDir,
      pids: { ...pids, postgres: postmasterPid(paths) ?? 0 },
      timings: { build: binaries.how, buildSeconds: binaries.seconds, postgresSeconds, schemaSeconds, servicesSeconds, namespaceSeconds, totalSeconds: since(start) },
    };
  } catch (err) {
    await stopTemporalCluster({ stateDir: paths.stateDir }).catch(() => undefined);
    throw err;
  }
}

/**
 * Stops the four services (SIGTERM, SIGKILL after 20 s) and PostgreSQL, then checks that no
 * process of the state directory is left. `wipe` removes the state directory too.
 */
export async function stopTemporalCluster(options: { stateDir?: string; wipe?: boolean } = {}): Promise<void> {
  const paths = clusterPaths(options.stateDir ?? DEFAULT_STATE_DIR);
  if (!existsSync(paths.stateDir)) return;
  const state = readState(paths);
  const running = SERVICE_NAMES.map((s) => state.services[s]).filter(isRunning);
  for (const p of running) process.kill(p.pid, 'SIGTERM');
  const deadline = Date.now() + 20_000;
  while (running.some(isRunning) && Date.now() < deadline) await sleep(200);
  for (const p of running.filter(isRunning)) process.kill(p.pid, 'SIGKILL');
  while (running.some(isRunning)) await sleep(100);
  writeState(paths, { services: {} });
  await stopPostgres(paths);
  const left = processesOf(paths.stateDir);
  if (left.length > 0) {
    throw new TemporalClusterError(`processes of ${paths.stateDir} are still running after the stop: ${left.map((p) => `${p.pid} (${p.command})`).join('; ')}`);
  }
  if (options.wipe) rmSync(paths.stateDir, { recursive: true, force: true });
}

/** For a process about to exit without its cleanup: SIGKILL to the services, an immediate stop of PostgreSQL. */
export function killTemporalClusterNow(stateDir: string = DEFAULT_STATE_DIR): void {
  const paths = clusterPaths(stateDir);
  for (const p of Object.values(readState(paths).services)) {
    if (isRunning(p)) process.kill(p.pid, 'SIGKILL');
  }
  if (postmasterPid(paths)) {
    const postgres = userIds('postgres');
    spawnSync(pg('pg_ctl'), ['stop', '-D', paths.pgData, '-m', 'immediate', '-w', '-t', '20'], { uid: postgres.uid, gid: postgres.gid, cwd: '/' });
  }
}

export interface ClusterStatus {
  stateDir: string;
  postgres?: number;
  services: Record<ServiceName, number | undefined>;
  /** The frontend's own answer to a health check, or why there is none. */
  frontend: string;
  namespace?: string;
}

export async function temporalClusterStatus(options: { stateDir?: string } = {}): Promise<ClusterStatus> {
  const paths = clusterPaths(options.stateDir ?? DEFAULT_STATE_DIR);
  const state = readState(paths);
  const services = Object.fromEntries(SERVICE_NAMES.map((s) => [s, isRunning(state.services[s]) ? state.services[s]!.pid : undefined])) as Record<ServiceName, number | undefined>;
  let frontend = 'not running';
  let namespace: string | undefined;
  if (services.frontend) {
    const health = await askFrontend(frontendHealth);
    frontend = health.ok ? health.value : `no answer: ${health.error}`;
    namespace = (await askFrontend(describeNamespace)).ok ? CLUSTER_NAMESPACE : undefined;
  }
  return { stateDir: paths.stateDir, postgres: existsSync(paths.pgData) ? postmasterPid(paths) : undefined, services, frontend, namespace };
}

/**
 * Runs `body` against a fresh cluster in a state directory of its own (a temp directory unless
 * given) and always stops it afterwards; the state directory is removed when the body succeeded.
 * A process that exits without reaching the cleanup still kills what it started.
 */
export async function withTemporalCluster<T>(
  body: (settings: TemporalClusterSettings, cluster: RunningCluster) => Promise<T>,
  options: TemporalClusterOptions = {},
): Promise<T> {
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'haflow-temporal-cluster-'));
  // mkdtemp makes it 0700: the postgres user must pass through it to its data directory.
  chmodSync(stateDir, 0o711);
  const onExit = () => killTemporalClusterNow(stateDir);
  process.once('exit', onExit);
  let result: T;
  try {
    const cluster = await startTemporalCluster({ ...options, stateDir, fresh: options.fresh ?? true });
    result = await body({ address: cluster.address, namespace: cluster.namespace }, cluster);
  } catch (err) {
    // The body's error is the one to see; the logs stay in the state directory for a post-mortem.
    await stopTemporalCluster({ stateDir }).catch(() => undefined);
    process.off('exit', onExit);
    throw err;
  }
  await stopTemporalCluster({ stateDir, wipe: true });
  process.off('exit', onExit);
  return result;
}

// ------------------------------------------------------------------ the command

const USAGE = [
  'usage: node --import tsx lab/temporal-cluster.ts <command> [--dir <state directory>]',
  '  up [--fresh]   build the server if needed, start PostgreSQL and the four services, create the namespace',
  '  down [--wipe]  stop the services and PostgreSQL (--wipe: remove the state directory too)',
  '  status         what runs',
  `The state directory defaults to ${DEFAULT_STATE_DIR}.`,
].join('\n');

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const dirAt = rest.indexOf('--dir');
  const stateDir = dirAt >= 0 ? rest[dirAt + 1] : undefined;
  if (dirAt >= 0 && !stateDir) throw new TemporalClusterError('--dir needs a directory');
  const log = (line: string) => console.error(`temporal cluster: ${line}`);
  switch (command) {
    case 'up': {
      const cluster = await startTemporalCluster({ stateDir, fresh: rest.includes('--fresh'), log });
      const t = cluster.timings;
      console.log(`Temporal cluster up in ${t.totalSeconds} s (build: ${t.build}, ${t.buildSeconds} s; PostgreSQL ${t.postgresSeconds} s; schemas ${t.schemaSeconds} s; services ${t.servicesSeconds} s; namespace ${t.namespaceSeconds} s)`);
      console.log(`state and logs in ${cluster.stateDir}; pids ${Object.entries(cluster.pids).map(([k, v]) => `${k} ${v}`).join(', ')}`);
      console.log(`export TEMPORAL_ADDRESS=${cluster.address} TEMPORAL_NAMESPACE=${cluster.namespace}`);
      return 0;
    }
    case 'down':
      await stopTemporalCluster({ stateDir, wipe: rest.includes('--wipe') });
      console.log(`Temporal cluster of ${stateDir ?? DEFAULT_STATE_DIR} stopped${rest.includes('--wipe') ? ' and removed' : ''}`);
      return 0;
    case 'status': {
      const status = await temporalClusterStatus({ stateDir });
      console.log(`state directory  ${status.stateDir}`);
      console.log(`postgresql       ${status.postgres ? `running, pid ${status.postgres}, ${CLUSTER_ADDRESSES.postgres}:${POSTGRES_PORT}` : 'stopped'}`);
      for (const service of SERVICE_NAMES) {
        const pid = status.services[service];
        console.log(`${service.padEnd(17)}${pid ? `running, pid ${pid}, ${CLUSTER_ADDRESSES.temporal}:${SERVICES[service].grpcPort}` : 'stopped'}`);
      }
      console.log(`frontend health  ${status.frontend}`);
      console.log(`namespace        ${status.namespace ?? `${CLUSTER_NAMESPACE} not found`}`);
      const up = status.postgres !== undefined && SERVICE_NAMES.every((s) => status.services[s]) && status.namespace !== undefined;
      return up ? 0 : 1;
    }
    default:
      console.error(USAGE);
      return command === undefined || command === '--help' || command === '-h' ? 0 : 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      console.error(err instanceof TemporalClusterError ? err.message : err);
      process.exit(1);
    },
  );
}
