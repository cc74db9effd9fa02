// The application's database settings as haflow writes them into the classic guide's files,
// the role of each node, and the HTTPS PEM HAProxy serves: pure, no host needed (the PEM's
// check runs the real haproxy -c of this machine).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppConfigError, appDatabaseUrl, setAppDatabaseSettings } from '../../activities/app/config';
import { strayListeners } from '../../activities/app/activities';
import { tlsPemFile } from '../../activities/haproxy/component';
import { fileDiff } from '../../activities/shared/remote-files';
import { CLASSIC_APP_CONFIG_FILES, type AppConfigFile } from '../../topology/schema';
import { loadTopology, parseTopology } from '../../topology';
import { appRoleOf, appSlaves } from '../../topology/derive';

const root = join(__dirname, '../..');
const standalone = loadTopology(join(root, 'lab/topologies/standalone.yaml')).topology;
const settings = { url: 'jdbc:postgresql://127.0.0.11:5000/flotomate', password: 'S3cret-pass_word' };
const [properties, , env, shell] = [
  CLASSIC_APP_CONFIG_FILES[0],
  CLASSIC_APP_CONFIG_FILES[1],
  CLASSIC_APP_CONFIG_FILES[2],
  CLASSIC_APP_CONFIG_FILES[3],
] as AppConfigFile[];

test('the database URL is the observer HAProxy, its PostgreSQL port, the application database', () => {
  assert.equal(appDatabaseUrl(standalone, standalone.hosts[1]), 'jdbc:postgresql://127.0.0.11:5000/flotomate');
});

test('roles: the first app host (or app.master) is the master, the others slaves', () => {
  const [node1, node2] = standalone.hosts.filter((h) => h.roles.includes('app'));
  assert.equal(appRoleOf(standalone, node1), 'master');
  assert.equal(appRoleOf(standalone, node2), 'slave');
  const swapped = { ...standalone, app: { ...standalone.app!, master: 'node2' } };
  assert.equal(appRoleOf(swapped, node2), 'master');
  assert.deepEqual(appSlaves(swapped).map((h) => h.name), ['node1']);
});

test('a properties file: the URL and password keys are set in place, every other line is kept', () => {
  const before = [
    '# ServiceOps',
    'server.port=8080',
    'spring.datasource.url=jdbc:postgresql://localhost:5432/flotomate',
    'spring.datasource.username=flotomate',
    'spring.datasource.password = old',
    'spring.datasource.password=duplicate',
    'logging.level=INFO',
    '',
  ].join('\n');
  const after = setAppDatabaseSettings(properties, before, settings);
  assert.equal(
    after,
    [
      '# ServiceOps',
      'server.port=8080',
      `spring.datasource.url=${settings.url}`,
      'spring.datasource.username=flotomate',
      `spring.datasource.password = ${settings.password}`,
      'logging.level=INFO',
      '',
    ].join('\n'),
  );
  assert.equal(setAppDatabaseSettings(properties, after, settings), after, 'a second run changes nothing');
});

test('an env file: keys are set, `export` kept, a missing key is added', () => {
  const after = setAppDatabaseSettings(env, 'export DB_URL=jdbc:postgresql://localhost:5432/x\nDB_USER=flotomate\n', settings);
  assert.equal(after, `export DB_URL=${settings.url}\nDB_USER=flotomate\nDB_PASSWORD=${settings.password}\n`);
});

test('a shell file: every -D option is set where it is, quoting kept; a missing option or an unquotable value is refused', () => {
  const before = 'JAVA_OPTS="-Xmx2g -Dspring.datasource.url=jdbc:postgresql://localhost:5432/flotomate -Dspring.datasource.password=old -Dother=1"\n';
  assert.equal(
    setAppDatabaseSettings(shell, before, settings),
    `JAVA_OPTS="-Xmx2g -Dspring.datasource.url=${settings.url} -Dspring.datasource.password=${settings.password} -Dother=1"\n`,
  );
  assert.throws(() => setAppDatabaseSettings(shell, 'JAVA_OPTS="-Xmx2g"\n', settings), (err: Error) => err instanceof AppConfigError && /no -Dspring\.datasource\.url=… option/.test(err.message));
  assert.throws(
    () => setAppDatabaseSettings(shell, before, { ...settings, password: 'has space' }),
    (err: Error) => err instanceof AppConfigError && /space, quote/.test(err.message) && !err.message.includes('has space'),
  );
});

test('a check-mode diff of an application file shows the URL change and never a password', () => {
  const before = 'spring.datasource.url=jdbc:postgresql://localhost:5432/flotomate\nspring.datasource.password=oldsecret\n';
  const diff = fileDiff(properties.path, before, setAppDatabaseSettings(properties, before, settings), { secret: 'passwords' });
  assert.match(diff, /\+spring\.datasource\.url=jdbc:postgresql:\/\/127\.0\.0\.11:5000\/flotomate/);
  assert.match(diff, /\+spring\.datasource\.password=<redacted, changed>/);
  assert.doesNotMatch(diff, /oldsecret|S3cret/);
  const shellBefore = 'JAVA_OPTS="-Dspring.datasource.url=x -Dspring.datasource.password=oldsecret"\n';
  const shellDiff = fileDiff(shell.path, shellBefore, setAppDatabaseSettings(shell, shellBefore, settings), { secret: 'passwords' });
  assert.doesNotMatch(shellDiff, /oldsecret|S3cret/);
});

test('app.user root is refused at its line', () => {
  const text = readFileSync(join(root, 'lab/topologies/standalone.yaml'), 'utf8').replace('  user: labadmin            # the common sudo user', '  user: root            # the common sudo user');
  assert.throws(() => parseTopology(text, 'standalone.yaml'), /standalone\.yaml:\d+:\d+.*app\.user is root/s);
});

test('haproxy.tls with a certificate and key: haflow writes the combined PEM, mode 600 owner root, and haproxy -c accepts it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'haflow-pem-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=haflow-test'], { stdio: 'ignore' });
  const topology = { ...standalone, haproxy: { ...standalone.haproxy, tls: { pem: '/etc/haproxy/certs/app.pem', port: 443, certificate: { file: join(dir, 'cert.pem') }, key: { file: join(dir, 'key.pem') } } } };
  const read = (ref: { file: string } | { env: string }) => readFileSync((ref as { file: string }).file, 'utf8');
  const pem = tlsPemFile(topology, read)!;
  assert.deepEqual({ path: pem.path, owner: pem.owner, group: pem.group, mode: pem.mode, secret: pem.secret }, { path: '/etc/haproxy/certs/app.pem', owner: 'root', group: 'root', mode: 0o600, secret: 'whole' });
  assert.match(pem.content, /^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----[\s\S]+-----END PRIVATE KEY-----\n$/);

  // The check the host runs before the PEM is put in place: accepts it, refuses a certificate without its key.
  const check = (content: string) => {
    const file = join(dir, `candidate-${Math.random().toString(36).slice(2)}.pem`);
    writeFileSync(file, content);
    return spawnSync('sh', ['-c', pem.validate!.replaceAll('{}', `'${file}'`)], { encoding: 'utf8' });
  };
  assert.equal(check(pem.content).status, 0, check(pem.content).stderr);
  const certOnly = check(read({ file: join(dir, 'cert.pem') }));
  assert.notEqual(certOnly.status, 0);
  assert.match(certOnly.stdout + certOnly.stderr, /pem_check|ssl|certificate|key/i);

  const withoutTls = { ...standalone, haproxy: { ...standalone.haproxy, tls: undefined } };
  assert.equal(tlsPemFile(withoutTls, read), undefined, 'no tls: no PEM');
  const pemOnHost = { ...standalone, haproxy: { ...standalone.haproxy, tls: { pem: '/etc/ssl/app.pem', port: 443 } } };
  assert.equal(tlsPemFile(pemOnHost, read), undefined, 'a PEM already on the host: haflow writes none');
});

test('haproxy.tls with a certificate but no key is refused, naming both', () => {
  const lab = readFileSync(join(root, 'lab/topologies/standalone.yaml'), 'utf8');
  const text = lab.replace(/\n {4}key: \{ file: [^}]+\}/, '');
  assert.notEqual(text, lab);
  assert.throws(() => parseTopology(text, 'standalone.yaml'), /haproxy\.tls.*both certificate and key/s);
});

test("what still listens on the application port is read from `ss -Hltnp`: this host's address or every address, with the PIDs it can see", () => {
  const ss = [
    'LISTEN 0      511        127.0.0.12:80        0.0.0.0:*    users:(("nginx",pid=4242,fd=6),("nginx",pid=4241,fd=6))',
    'LISTEN 0      511        127.0.0.13:80        0.0.0.0:*',
    'LISTEN 0      128           0.0.0.0:80        0.0.0.0:*    users:(("python3",pid=77,fd=3))',
    'LISTEN 0      511        127.0.0.12:8080      0.0.0.0:*    users:(("python3",pid=99,fd=3))',
  ].join('\n');
  const found = strayListeners(ss, '127.0.0.12', 80);
  assert.deepEqual(found.pids.sort((a, b) => a - b), [77, 4241, 4242]);
  assert.deepEqual(found.seen, ['127.0.0.12:80 (nginx 4242, nginx 4241)', '0.0.0.0:80 (python3 77)']);
  assert.deepEqual(strayListeners('', '127.0.0.12', 80), { pids: [], seen: [] });
});
