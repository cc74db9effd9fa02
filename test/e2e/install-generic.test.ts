// The tutorials' generic cluster (3 DB nodes that are the 3 etcd members, 1 HAProxy machine)
// installed on the lab from an offline bundle, on machines whose package sources are disabled.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packagesFor } from '../../activities/components';
import type { BundleManifest } from '../../activities/packages/bundle';
import { installTwice, labSecrets, useInstallEnvironment } from '../support/install';
import { labTopology, sshRun, useLab } from '../support/lab';
import { loadTopology } from '../../topology';

/** The lab platform's PostgreSQL major and OS (Debian 12 with 15, or Debian 13 with 17): the bundle is built for that OS. */
const { postgresql: { version: PG }, os: OS = 'debian 12' } = loadTopology(labTopology('generic')).topology;
import { assertHostsHoldRendered, haflowRender } from '../support/rendered';

labSecrets();
const currentLab = useLab(labTopology('generic'));
const installEnv = useInstallEnvironment();

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'haflow-bundle-test-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

function haflow(...args: string[]) {
  return spawnSync(process.execPath, [join(__dirname, '../../bin/haflow.js'), ...args], { encoding: 'utf8', timeout: 300_000 });
}

/** An air-gapped host: no package source at all, and none of the role packages (nor what only they needed). */
const AIR_GAP = (packages: string[]) =>
  [
    'rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*',
    'rm -rf /var/lib/apt/lists/*',
    // As if PostgreSQL had never been installed: no default cluster (the package's own removal script fails to drop it here).
    `{ [ ! -d /etc/postgresql/${PG}/main ] || pg_dropcluster --stop ${PG} main; }`,
    `installed=$(dpkg-query -W -f='\${db:Status-Abbrev} \${Package}\\n' ${packages.join(' ')} 2>/dev/null | awk '/^ii/ {print $2}')`,
    'DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $installed >/dev/null',
    'DEBIAN_FRONTEND=noninteractive apt-get autoremove --purge -y -q >/dev/null',
  ].join(' && ');

test('3 DB nodes with a 3-member etcd install from an offline bundle on hosts without package sources; a second install changes nothing; the files are what `haflow render` shows', async (t) => {
  const lab = currentLab();
  const bundleDir = join(work, 'bundle');
  const built = haflow('bundle', lab.topologyFile, bundleDir);
  assert.equal(built.status, 0, built.stderr + built.stdout);
  assert.match(built.stdout, new RegExp(`${OS} amd64, \\d+ packages, [\\d.]+ MB\n {2}etcd-client `));
  const manifest = JSON.parse(readFileSync(join(bundleDir, 'manifest.json'), 'utf8')) as BundleManifest;
  assert.equal(spawnSync('sha256sum', ['--quiet', '--strict', '-c', 'SHA256SUMS'], { cwd: bundleDir }).status, 0, 'the checksums an operator checks a copy with');
  await Promise.all(
    lab.topology.hosts.map(async (host) => {
      const [first] = packagesFor(lab.topology, host, 'apt');
      const gap = await sshRun(lab, host.name, AIR_GAP(packagesFor(lab.topology, host, 'apt')), { sudo: true });
      assert.equal(gap.code, 0, `${host.name}: ${gap.stderr}`);
      const online = await sshRun(lab, host.name, `apt-get install -s ${first}`, { sudo: true });
      assert.match(online.stderr, new RegExp(`Unable to locate package ${first}|Package '${first}' has no installation candidate`), `${host.name} has no package source left and no ${first}`);
    }),
  );

  const topology = { ...lab.topology, packages: { bundle: bundleDir } };
  const { first, second } = await installTwice(installEnv(), topology);
  const step = (id: string) => first.steps.find((s) => s.id === id)!;
  assert.match(step('preflight.cluster').summary!, new RegExp(`bundle [0-9a-f]{16} \\(${OS} amd64, \\d+ packages\\) intact and complete`));
  for (const host of ['pg1', 'pg2', 'pg3']) {
    assert.match(step(`packages.install@${host}`).summary!, new RegExp(`uploaded from bundle [0-9a-f]{16} the \\d+ file\\(s\\) apt needs \\([\\d.]+ MB\\) to /var/cache/haflow/bundles/[0-9a-f]{16}, checksums verified; installed from it .*postgresql-${PG} ${PG}\\.\\d+`));
  }
  for (const host of lab.topology.hosts) t.diagnostic(`packages.install@${host.name}: ${step(`packages.install@${host.name}`).summary}`);
  assert.match(step('packages.install@proxy').summary!, /installed from it haproxy \d+\.\d+\S*, socat /);
  for (const host of lab.topology.hosts) {
    const wanted = packagesFor(lab.topology, host, 'apt');
    const versions = await sshRun(lab, host.name, `dpkg-query -W -f='\${Package} \${Version}\\n' ${wanted.join(' ')}`);
    assert.deepEqual(versions.stdout.trim().split('\n').sort(), wanted.map((p) => `${p} ${manifest.packages[p]}`).sort(), `${host.name} runs the bundle's versions`);
    const sources = await sshRun(lab, host.name, 'ls -A /etc/apt/sources.list.d; [ ! -e /etc/apt/sources.list ] || echo /etc/apt/sources.list; ls /var/lib/apt/lists | grep Packages || true');
    assert.equal(sources.stdout.trim(), '', `${host.name}: the host's package sources are still disabled and were never read`);
  }

  assert.equal(first.steps.some((s) => s.id.startsWith('db.config')), false, 'no application tier, no DB configuration step');
  assert.match(step('verify.cluster').summary!, /one leader \(pg1\), 2 replica\(s\) running/);
  const members = await sshRun(lab, 'pg2', 'ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.32:2379 --cacert /etc/haflow/tls/ca.crt member list -w simple');
  assert.equal(members.stdout.trim().split('\n').length, 3, `three etcd members: ${members.stdout}`);
  assert.match(step('verify.haproxy@proxy').summary!, /exactly the leader pg1 is UP/);
  assert.equal(second.changed, 0, second.steps.filter((s) => s.changed).map((s) => `${s.id}: ${s.summary}`).join('\n'));
  assert.match(second.steps.find((s) => s.id === 'packages.install@pg1')!.summary!, /installed from bundle [0-9a-f]{16}; no stray services/);
  await assertHostsHoldRendered(lab, haflowRender(lab.topologyFile));
});

test('haflow bundle names a package this machine\'s sources lack, and leaves no directory behind', () => {
  const topology = readFileSync(labTopology('generic'), 'utf8').replace(new RegExp(`^ {2}version: ${PG}\\b`, 'm'), '  version: 16');
  const file = join(work, 'pg16.yaml');
  writeFileSync(file, topology);
  const out = join(work, 'pg16-bundle');
  const run = haflow('bundle', file, out);
  assert.equal(run.status, 1, run.stdout + run.stderr);
  // On this machine's own release its sources are read; for another Debian release, Debian's archive.
  assert.match(run.stderr, OS === 'debian 12'
    ? /this machine's package sources have no postgresql-16 \(debian 12\); add the source that has them \(for another PostgreSQL version: the PGDG repository\)/
    : new RegExp(`${OS}'s archive \\(.*\\) has no postgresql-16; only Debian's archive is read for another release than this machine's`));
  assert.equal(spawnSync('ls', ['-A', work]).stdout.toString().includes('pg16-bundle'), false, 'no half bundle');
});
