// Passwords are the one kind of operator text that reaches the hosts' commands and files as it is
// (names, paths and the rest are validated tokens). Here every password of the standalone lab
// carries shell syntax that would create a marker file if any shell ever ran it ($(…), backticks,
// ;, |, &&), quotes of both kinds, pgpass's and YAML's own syntax (:, \, #, ": ") and SQL's ('; --).
// The install must complete, nothing may run, and every service must work with exactly those
// passwords: PostgreSQL through HAProxy, the application (its health page answers only while it
// writes to its database), patronictl (etcd's login from patroni.yml), and a switchover (Patroni's
// REST API password in haflow's request), and a drill (its write probe logs in as the superuser).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { postgresTls } from '../../activities/postgres/superuser';
import { waitHealthy } from '../support/cluster';
import { completedOrBlocked, haflowCli, startInstall, useInstallEnvironment } from '../support/install';
import { labTopology, sshRun, useLab } from '../support/lab';
import { longTest } from '../support/long';

const MARKER_DIR = '/tmp';
const marker = (name: string) => `${MARKER_DIR}/haflow-ran-${name}`;

/** A password that creates `marker(name)` if any shell runs it, or ends a quoted string early. */
function hostile(name: string, options: { blanks: boolean; backslash: boolean; ascii?: boolean }): string {
  const m = marker(name);
  return [
    `x'$(touch\${IFS}${m}-a)`,
    `"\`touch\${IFS}${m}-b\`"`,
    `;touch\${IFS}${m}-c;`,
    '|&&',
    "';--",
    ':',
    options.backslash ? '\\' : '',
    '#',
    options.blanks ? ': y ' : ':y',
    '%s{}*?[]!~^',
    options.ascii ? '' : 'ünï',
  ].join('');
}

// etcdctl reads passwords from stdin up to the first blank (haflow refuses blanks there); the
// application's properties file refuses a backslash; Patroni crashes creating a role whose
// password is not ASCII (haflow refuses those at preflight: the first test).
const PASSWORDS: Record<string, string> = {
  HAFLOW_PG_SUPERUSER_PASSWORD: hostile('superuser', { blanks: true, backslash: true, ascii: true }),
  HAFLOW_PG_REPLICATION_PASSWORD: hostile('replication', { blanks: true, backslash: true, ascii: true }),
  HAFLOW_PG_REWIND_PASSWORD: hostile('rewind', { blanks: true, backslash: true, ascii: true }),
  // The lab's application reads an env file, sourced by sh with the value unquoted: haflow refuses
  // shell syntax there (a unit test), so this one carries what such a file can.
  HAFLOW_APP_DB_PASSWORD: 'app:=@,%+./^-ünï_x',
  HAFLOW_PATRONI_API_PASSWORD: hostile('patroni-api', { blanks: true, backslash: true }),
  HAFLOW_ETCD_ROOT_PASSWORD: hostile('etcd-root', { blanks: false, backslash: true }),
  HAFLOW_ETCD_PATRONI_PASSWORD: hostile('etcd-patroni', { blanks: false, backslash: true }),
  // HAProxy's stats page: written single-quoted in haproxy.cfg, sent by haflow as basic authentication.
  HAFLOW_HAPROXY_STATS_PASSWORD: hostile('haproxy-stats', { blanks: true, backslash: true }),
  // pgBackRest's configuration file trims a value's blanks (haflow refuses them there).
  HAFLOW_BACKUP_PASSPHRASE: hostile('backup', { blanks: false, backslash: true }),
};
Object.assign(process.env, PASSWORDS);
process.env.XDG_DATA_HOME = mkdtempSync(join(tmpdir(), 'haflow-hostile-data-'));

const currentLab = useLab(labTopology('standalone'));
const installEnv = useInstallEnvironment();

test("a superuser password Patroni's bootstrap would crash on blocks preflight, naming it, before anything changes", longTest(), async () => {
  const lab = await currentLab.wipe();
  process.env.HAFLOW_PG_SUPERUSER_PASSWORD = `${PASSWORDS.HAFLOW_PG_SUPERUSER_PASSWORD}ü`;
  const handle = await startInstall(installEnv(), lab.topology);
  try {
    await assert.rejects(completedOrBlocked(handle), (err: Error) => {
      assert.match(err.message, /"blocked":"preflight\.cluster".*postgresql\.superuser\.password: the value of environment variable HAFLOW_PG_SUPERUSER_PASSWORD has a character outside printable ASCII/);
      assert.ok(!err.message.includes(process.env.HAFLOW_PG_SUPERUSER_PASSWORD!), 'not the password itself');
      return true;
    });
  } finally {
    process.env.HAFLOW_PG_SUPERUSER_PASSWORD = PASSWORDS.HAFLOW_PG_SUPERUSER_PASSWORD;
  }
  await handle.executeUpdate('decide', { args: [{ stepId: 'preflight.cluster', decision: 'abort', reason: 'password refused' }] });
  await handle.result().catch(() => undefined);
  for (const host of lab.topology.hosts) {
    const written = await sshRun(lab, host.name, "grep -rl 'Managed by haflow' /etc 2>/dev/null; true", { sudo: true });
    assert.equal(written.stdout.trim(), '', `${host.name}: no file written`);
  }
});

test('passwords full of shell, SQL, YAML and pgpass syntax: the install completes, nothing runs, and every service works with exactly those passwords', longTest(), async () => {
  const lab = await currentLab.wipe();
  const outcome = await completedOrBlocked(await startInstall(installEnv(), lab.topology));
  assert.equal(outcome.status, 'completed');
  await waitHealthy(lab);

  // PostgreSQL through HAProxy, as the superuser, with its password byte for byte.
  const client = new Client({ host: '127.0.0.11', port: 5000, user: 'postgres', password: PASSWORDS.HAFLOW_PG_SUPERUSER_PASSWORD, database: 'postgres', ssl: postgresTls(lab.topology, { host: '127.0.0.11', port: 5000 }) });
  await client.connect();
  try {
    assert.equal((await client.query<{ one: number }>('select 1 as one')).rows[0].one, 1);
    // The application's user logs in with its own.
    const app = new Client({ host: '127.0.0.11', port: 5000, user: lab.topology.app!.db_user, password: PASSWORDS.HAFLOW_APP_DB_PASSWORD, database: lab.topology.app!.db_name, ssl: postgresTls(lab.topology, { host: '127.0.0.11', port: 5000 }) });
    await app.connect();
    await app.end();
  } finally {
    await client.end();
  }
  // The application answers through HAProxy: it reached its database with the password from its files.
  assert.equal((await fetch('http://127.0.0.11/health')).status, 200);
  // patronictl reads etcd's login from patroni.yml.
  const list = await sshRun(lab, 'node1', 'patronictl -c /etc/patroni/config.yml list -f json', { sudo: true });
  assert.equal(list.code, 0, list.stderr);
  assert.equal((JSON.parse(list.stdout) as { Role: string }[]).filter((m) => m.Role === 'Leader').length, 1);
  // A switchover: haflow's request carries the REST API password; Patroni checks it.
  const before = await waitHealthy(lab);
  const to = before.leader === 'node1' ? 'node2' : 'node1';
  const switched = await haflowCli(installEnv(), 'switchover', lab.topologyFile, '--to', to, '--plain');
  assert.equal(switched.code, 0, switched.out);
  assert.equal((await waitHealthy(lab)).leader, to);
  // The old leader streams from the new one with the replication password.
  assert.deepEqual((await waitHealthy(lab)).streaming, [before.leader]);
  // A drill: its write probe logs in as the superuser; Patroni restarts PostgreSQL after the kill.
  const drilled = await haflowCli(installEnv(), 'drill', lab.topologyFile, '--fault', 'kill-postgres');
  assert.equal(drilled.code, 0, drilled.out);
  assert.match(drilled.out, /drill kill-postgres on \S+ on cluster lab-standalone: PASS/);
  await waitHealthy(lab);

  // Nothing ran: no marker on any machine, nor on the worker's.
  for (const host of lab.topology.hosts) {
    const left = await sshRun(lab, host.name, `ls -d ${MARKER_DIR}/haflow-ran-* 2>/dev/null; true`, { sudo: true });
    assert.equal(left.stdout.trim(), '', `${host.name}: a password was run as a command`);
  }
  assert.deepEqual(readdirSync(MARKER_DIR).filter((f) => f.startsWith('haflow-ran-')), [], 'nor on the worker\'s machine');
  for (const password of Object.values(PASSWORDS)) assert.ok(!(switched.out + drilled.out).includes(password), 'no password in what the CLI printed');
});
