// Role passwords reach PostgreSQL exactly as written, whatever the site sets for
// standard_conforming_strings (a backslash is an escape in a '…' literal when it is off): the
// scripts haflow feeds psql set them, and the role logs in with them. Runs the real psql against
// a throwaway PostgreSQL in a temporary directory, on a loopback port (PostgreSQL's server
// programs come with the lab's packages, which CI installs).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { alterRolePassword, psql, sqlLiteral } from '../../activities/shared/psql';
import { roleStatement } from '../../activities/postgres/streaming';
import type { Topology } from '../../topology';
import { fakeSsh } from '../support/fake-ssh';
import { requires } from '../support/requires';

/** The newest PostgreSQL server programs installed the Debian way. */
function serverBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin/initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

const bin = serverBin();
const asRoot = process.getuid?.() === 0;
/** PostgreSQL refuses to run as root: as root, the server and psql run as the postgres user. */
const asServerUser = (command: string) => (asRoot ? `runuser -u postgres -- ${command}` : command);

let dir: string;
let socketDir: string;
let port: number;
const address = '127.0.0.1';

function run(command: string, input?: string): { code: number; stdout: string; stderr: string } {
  const result = spawnSync('sh', ['-c', command], { input, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

function must(command: string, input?: string): string {
  const result = run(command, input);
  assert.equal(result.code, 0, `${command}: ${result.stderr}`);
  return result.stdout;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const { port: free } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return free;
}

/** haflow's psql(): the same command, with the throwaway server's socket and its user. */
const ssh = fakeSsh((command, options) => {
  const local = command.replace('-h /var/run/postgresql', `-h ${socketDir}`).replace(/^sudo -u postgres /, asRoot ? 'runuser -u postgres -- ' : '');
  return run(local, options.stdin?.toString());
}).ssh;

const topology = () => ({ postgresql: { port } }) as unknown as Topology;

async function logsIn(role: string, password: string): Promise<boolean> {
  const client = new Client({ host: address, port, user: role, password, database: 'postgres', connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function setConformingStrings(value: 'on' | 'off'): Promise<void> {
  await psql(ssh, topology(), `ALTER SYSTEM SET standard_conforming_strings = ${value};\nSELECT pg_reload_conf();\n`);
  // A new session sees the reloaded setting.
  assert.equal((await psql(ssh, topology(), 'SHOW standard_conforming_strings;\n')).trim(), value);
}

/** A backslash, quotes, dollar quotes, a psql variable reference, a backquote, a tab and non-ASCII. */
const HOSTILE = `a\\b'c$$d"e:'pw' :pw \`id\` \\\\x\t\\'; SELECT 1; -- é`;

const noServer = requires(bin ? false : 'PostgreSQL server programs are not installed (/usr/lib/postgresql/<version>/bin: Debian package postgresql-15)');

describe('role passwords with standard_conforming_strings off and on', { skip: noServer }, () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'haflow-pg-'));
    socketDir = join(dir, 'socket');
    must(`mkdir -p ${socketDir} ${join(dir, 'data')}`);
    if (asRoot) {
      for (const path of [dir, socketDir, join(dir, 'data')]) chownSync(path, Number(must('id -u postgres')), Number(must('id -g postgres')));
    }
    port = await freePort();
    must(asServerUser(`${bin}/initdb -D ${dir}/data --auth-local=peer --auth-host=scram-sha-256 -U postgres >/dev/null`));
    must(asServerUser(`${bin}/pg_ctl -D ${dir}/data -l ${dir}/log -w -o "-c listen_addresses=${address} -p ${port} -c unix_socket_directories=${socketDir}" start >/dev/null`));
  });

  after(() => {
    if (!dir) return;
    run(asServerUser(`${bin}/pg_ctl -D ${dir}/data -m immediate -w stop >/dev/null 2>&1`));
    rmSync(dir, { recursive: true, force: true });
  });

  for (const setting of ['off', 'on'] as const) {
    test(`standard_conforming_strings ${setting}: the install's role script sets the password exactly, and the role logs in with it`, async () => {
      await setConformingStrings(setting);
      const role = `app_${setting}`;
      await psql(ssh, topology(), `${roleStatement(role, 'LOGIN', HOSTILE)}\n`);
      assert.equal(await logsIn(role, HOSTILE), true, 'logs in with the password as written');
      assert.equal(await logsIn(role, HOSTILE.replace(/\\\\/g, '\\')), false, 'and not with backslashes read as escapes');
    });

    test(`standard_conforming_strings ${setting}: an existing role's password is changed exactly`, async () => {
      await setConformingStrings(setting);
      const role = `super_${setting}`;
      await psql(ssh, topology(), `CREATE ROLE ${role} LOGIN PASSWORD 'before';\n`);
      await psql(ssh, topology(), `${alterRolePassword(role, HOSTILE)}\n`);
      assert.equal(await logsIn(role, HOSTILE), true);
      assert.equal(await logsIn(role, 'before'), false);
    });

    test(`standard_conforming_strings ${setting}: a text literal haflow writes reads back as written`, async () => {
      await setConformingStrings(setting);
      const read = await psql(ssh, topology(), `SELECT ${sqlLiteral(HOSTILE)} = ${sqlLiteral(HOSTILE)}, md5(${sqlLiteral(HOSTILE)});\n`);
      const md5 = createHash('md5').update(HOSTILE).digest('hex');
      assert.equal(read.trim(), `t|${md5}`);
    });
  }

  test('the password is not on the command line psql runs with', async () => {
    const { ssh: recorder, calls } = fakeSsh(() => ({ code: 0, stdout: '', stderr: '' }));
    await psql(recorder, topology(), `${roleStatement('app', 'LOGIN', HOSTILE)}\n`);
    assert.equal(calls.length, 1);
    assert.ok(!calls[0].command.includes('a\\b'), calls[0].command);
  });
});

describe('the psql script that sets a password', () => {
  test("puts the value in a psql variable by psql's quoting rules, uses it as :'variable', and unsets it", () => {
    assert.equal(
      alterRolePassword('app', "a'b\\c\td", 'LOGIN'),
      ["\\set haflow_password 'a''b\\\\c\\011d'", `ALTER ROLE "app" LOGIN PASSWORD :'haflow_password';`, '\\unset haflow_password'].join('\n'),
    );
  });
});
