// Preflight resolves every password the install will use, with the rules of the file or command it
// goes into, so that one that cannot work blocks before anything changes: not set, a line break, a
// character Patroni's bootstrap crashes on (found by installing with it: Patroni 3.0 quotes the
// role passwords it creates as Latin-1), a blank etcdctl would cut at, shell syntax in a password
// an application's env file would hold unquoted.
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { installSecretsUsable } from '../../activities/preflight';
import { LAB_SECRET_VARIABLES } from '../../lab';
import { loadTopology } from '../../topology';
import { CLASSIC_APP_CONFIG_FILES } from '../../topology/schema';
import { labTopology } from '../support/lab';

// Without HAProxy's TLS key: its file is made by `haflow lab up`, which this test does not need.
const lab = loadTopology(labTopology('standalone')).topology;
const topology = { ...lab, haproxy: { ...lab.haproxy, tls: undefined } };

beforeEach(() => {
  for (const name of LAB_SECRET_VARIABLES) process.env[name] = `ok-${name.toLowerCase()}-"'$;:#\\`;
  // The lab's application has an env file (sourced by sh, the value unquoted): no shell syntax there.
  process.env.HAFLOW_APP_DB_PASSWORD = 'ok-app:%+=,./^@';
});

function refusal(run: () => unknown): ApplicationFailure {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, String(err));
    return err;
  }
  assert.fail('the passwords were taken');
}

test('every password set and usable: counted, one per file, command and step that uses it', () => {
  // patroni.yml on two DB nodes (superuser, replication, rewind, REST API, etcd), haproxy.cfg's stats page and pgBackRest's passphrase on the observer, plus etcd's two and the application's.
  assert.equal(installSecretsUsable(topology), 2 * 5 + 2 + 2 + 1);
});

test('a PostgreSQL role password with a character outside ASCII is refused, naming the field and the position, not the character', () => {
  process.env.HAFLOW_PG_REPLICATION_PASSWORD = 'abü-secret';
  const err = refusal(() => installSecretsUsable(topology));
  assert.equal(err.nonRetryable, true);
  assert.match(err.message, /^postgresql\.replication\.password: the value of environment variable HAFLOW_PG_REPLICATION_PASSWORD has a character outside printable ASCII \(its character 3\): Patroni creates this role/);
  assert.doesNotMatch(err.message, /ü|secret/);
  assert.match(JSON.stringify(err.details), /choose a password of printable ASCII characters/);
});

test("the application's password may hold characters outside ASCII: haflow creates its role itself", () => {
  process.env.HAFLOW_APP_DB_PASSWORD = 'ünïcødé-ok';
  assert.equal(installSecretsUsable(topology), 15);
});

test("an application password one of its files could not carry as written is refused, naming the file", () => {
  process.env.HAFLOW_APP_DB_PASSWORD = 'ok$(id)';
  const err = refusal(() => installSecretsUsable(topology));
  assert.match(err.message, /^app\.db_password: \/etc\/flotomate_env: the value for DB_PASSWORD has a character sh would read as syntax/);
  assert.doesNotMatch(err.message, /ok\$\(id\)/);
});

test('an application password with shell syntax is refused for a shell-format file too, where its -D options may sit unquoted, naming the file and the option', () => {
  const shellOnly = { ...topology, app: { ...topology.app!, config_files: CLASSIC_APP_CONFIG_FILES.filter((f) => f.format === 'shell') } };
  process.env.HAFLOW_APP_DB_PASSWORD = 'ok;touch-x';
  const err = refusal(() => installSecretsUsable(shellOnly));
  assert.equal(err.nonRetryable, true);
  assert.match(err.message, /^app\.db_password: \/opt\/flotomate\/cm-analytics\/lib\/analytics-hosted-exec\.conf: the value for -Dspring\.datasource\.password has a character sh would read as syntax/);
  assert.doesNotMatch(err.message, /ok;touch-x/);
});

test('an etcd password with a blank, a password with a line break, and one not set are each refused by name', () => {
  process.env.HAFLOW_ETCD_ROOT_PASSWORD = 'two words';
  assert.match(refusal(() => installSecretsUsable(topology)).message, /^etcd\.auth\.root_password: .*HAFLOW_ETCD_ROOT_PASSWORD has a space or a tab: etcdctl reads a password only up to its first blank/);
  process.env.HAFLOW_ETCD_ROOT_PASSWORD = 'one';
  process.env.HAFLOW_PATRONI_API_PASSWORD = 'line\nbreak';
  assert.match(refusal(() => installSecretsUsable(topology)).message, /^patroni\.rest_api_auth\.password: .*contains a line break/);
  delete process.env.HAFLOW_PATRONI_API_PASSWORD;
  assert.match(refusal(() => installSecretsUsable(topology)).message, /HAFLOW_PATRONI_API_PASSWORD is not set on the worker/);
});
