// haflow's certificate authority: a CA it creates, a host certificate issued from a CSR that
// openssl made with the host's own key, checked by openssl as a TLS client would, and the rules
// that decide when a host needs a new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certificateFacts, certificateProblem, createAuthority, daysLeft, issueCertificate, loadAuthority, pemCertificates } from '../../activities/tls/certificates';
import type { Host } from '../../topology/schema';

const host: Host = { name: 'node1', address: '127.0.0.12', roles: ['db', 'app'] };
const now = new Date('2026-12-07T00:00:00Z');

function openssl(args: string[], dir: string): string {
  return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A key and a CSR made as a host makes them (openssl, EC P-256); the key stays in `dir`. */
function hostRequest(dir: string, name = 'host'): { csr: string; publicKey: string } {
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-subj', '/CN=whatever-the-host-says', '-out', `${name}.csr`], dir);
  return { csr: openssl(['req', '-in', `${name}.csr`], dir), publicKey: openssl(['pkey', '-in', `${name}.key`, '-pubout'], dir) };
}

test('a host certificate from haflow\'s CA names the host from the topology, verifies with openssl, and matches the host\'s key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'haflow-ca-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const created = await createAuthority('lab', now);
  const authority = await loadAuthority(created.certificate, created.key);
  const { csr, publicKey } = hostRequest(dir);
  const pem = await issueCertificate(authority, csr, host, 'lab', now, 365);
  writeFileSync(join(dir, 'ca.crt'), created.certificate);
  writeFileSync(join(dir, 'host.crt'), pem);

  const facts = certificateFacts(pem);
  assert.equal(facts.subject, 'CN=node1, O=haflow cluster lab', 'the subject is the topology\'s name, not what the CSR asked for');
  assert.deepEqual(facts.dns, ['node1', 'localhost']);
  assert.deepEqual(facts.ips, ['127.0.0.12', '127.0.0.1']);
  assert.equal(facts.isAuthority, false);
  assert.equal(daysLeft(facts, now), 365, 'valid the days asked for');
  assert.match(openssl(['verify', '-CAfile', 'ca.crt', '-purpose', 'sslserver', 'host.crt'], dir), /host\.crt: OK/);
  assert.match(openssl(['verify', '-CAfile', 'ca.crt', '-purpose', 'sslclient', 'host.crt'], dir), /host\.crt: OK/, "etcd's peers present it as clients too");
  assert.match(openssl(['verify', '-CAfile', 'ca.crt', '-verify_ip', '127.0.0.12', 'host.crt'], dir), /OK/);
  assert.throws(() => openssl(['verify', '-CAfile', 'ca.crt', '-verify_ip', '127.0.0.13', 'host.crt'], dir), 'another address is not named');
  const modulusOfKey = openssl(['pkey', '-in', 'host.key', '-pubout'], dir);
  const keyOfCert = openssl(['x509', '-in', 'host.crt', '-noout', '-pubkey'], dir);
  assert.equal(keyOfCert, modulusOfKey, "the certificate carries the host's own public key");

  const wanted = { host, authorities: [created.certificate], now, warningDays: 30, publicKey };
  assert.equal(certificateProblem(pem, wanted), undefined);
});

test('a host needs a new certificate when it has none, another CA issued it, it misses a name, the key changed, or it is near its end', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'haflow-ca-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ours = await createAuthority('lab', now);
  const theirs = await createAuthority('other', now);
  const { csr, publicKey } = hostRequest(dir);
  const pem = await issueCertificate(await loadAuthority(ours.certificate, ours.key), csr, host, 'lab', now, 40);
  const wanted = { host, authorities: [ours.certificate], now, warningDays: 30, publicKey };

  assert.equal(certificateProblem(undefined, wanted), 'there is no certificate');
  assert.equal(certificateProblem('not a pem', wanted), 'the certificate file is not a PEM certificate');
  assert.match(certificateProblem(pem, { ...wanted, authorities: [theirs.certificate] })!, /issued by CN=haflow CA for lab, O=haflow, not by the cluster's CA \(serial [0-9A-F]{12}…\)/);
  assert.equal(certificateProblem(pem, { ...wanted, authorities: [theirs.certificate, ours.certificate] }), undefined, 'a bundle of two CAs trusts either');
  assert.equal(certificateProblem(pem, { ...wanted, host: { ...host, address: '127.0.0.99' } }), 'it does not name 127.0.0.99');
  assert.equal(certificateProblem(pem, { ...wanted, publicKey: hostRequest(dir, 'other').publicKey }), 'it does not match the key on the host');
  assert.equal(certificateProblem(pem, wanted), undefined, '40 days left, 30 days of warning');
  const later = new Date(now.getTime() + 11 * 86_400_000);
  assert.match(certificateProblem(pem, { ...wanted, now: later })!, /^it expires on .*, within 30 days$/);
  const after = new Date(now.getTime() + 41 * 86_400_000);
  assert.match(certificateProblem(pem, { ...wanted, now: after })!, /^it expired on /);
});

test("a CA's key must belong to its certificate, and a bundle's certificates are read in order", async () => {
  const one = await createAuthority('lab', now);
  const two = await createAuthority('lab', now);
  await assert.rejects(loadAuthority(one.certificate, two.key), /the key does not belong to the CA certificate CN=haflow CA for lab, O=haflow/);
  assert.deepEqual(pemCertificates(`${one.certificate}${two.certificate}`).map((p) => certificateFacts(p).serial), [certificateFacts(one.certificate).serial, certificateFacts(two.certificate).serial]);
  assert.equal(certificateFacts(one.certificate).isAuthority, true);
});

test("certs status's report: the CA bundle's certificates and each host's, good or due, and why", async (t) => {
  const { certificateReport } = await import('../../activities/tls/status');
  const { loopbackLab } = await import('../support/topologies');
  const dir = mkdtempSync(join(tmpdir(), 'haflow-ca-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const topology = loopbackLab({ tls: { warning_days: 30 } });
  const ca = await createAuthority('pgha', now);
  const authority = await loadAuthority(ca.certificate, ca.key);
  const node = (name: string) => topology.hosts.find((h) => h.name === name)!;
  const good = hostRequest(dir, 'good');
  const soon = hostRequest(dir, 'soon');
  const read = [
    { host: 'observer', certificate: await issueCertificate(authority, good.csr, node('observer'), 'pgha', now, 365), publicKey: good.publicKey },
    { host: 'node1', certificate: await issueCertificate(authority, soon.csr, node('node1'), 'pgha', now, 20), publicKey: soon.publicKey },
    { host: 'node2', certificate: '' },
  ];
  const report = certificateReport(topology, ca.certificate, read, now);
  assert.equal(report.ok, false);
  assert.deepEqual(
    report.entries.map((e) => [e.where, e.daysLeft, e.problem]),
    [
      ['CA', 3650, undefined],
      ['observer', 365, undefined],
      ['node1', 20, `it expires on ${certificateFacts(read[1].certificate).notAfter}, within 30 days`],
      ['node2', undefined, 'there is no certificate'],
    ],
  );
  assert.equal(certificateReport(topology, ca.certificate, read.slice(0, 1), now).ok, true);
});

test('certs rotate plans the etcd members first, then the replicas, the leader last, each followed by a check of what its ports present', async () => {
  const { rotationSteps } = await import('../../runbooks/certificates');
  const { generic } = await import('../support/topologies');
  const topology = generic({ tls: {}, haproxy: { stats_auth: { password: { env: 'X' } } } });
  const ids = rotationSteps(topology, { leader: 'node-2' }).items.map((s) => ('id' in s ? s.id : ''));
  assert.deepEqual(ids, [
    'certs.gate',
    'postgres.probe-database@node-2',
    'tls.ca',
    'tls.renew@node-1',
    'tls.serving@node-1',
    'tls.renew@node-3',
    'tls.serving@node-3',
    'tls.renew@node-2',
    'tls.serving@node-2',
    'etcd.healthy',
    'certs.write',
    'certs.healthy-after',
  ]);
});

test('a CA rotation plans the new CA first, every host trusting both before any certificate changes, the old CA dropped only after the last one, then trusted by none', async () => {
  const { rotationSteps } = await import('../../runbooks/certificates');
  const { generic } = await import('../support/topologies');
  const topology = generic({ tls: {}, haproxy: { stats_auth: { password: { env: 'X' } } } });
  const ids = rotationSteps(topology, { leader: 'node-2', ca: { replacing: 'abc123' } }).items.map((s) => ('id' in s ? s.id : ''));
  const at = (id: string) => ids.indexOf(id);
  const trustBoth = ids.filter((id) => id.startsWith('tls.trust-both@'));
  const trustNew = ids.filter((id) => id.startsWith('tls.trust-new@'));
  const renewals = ids.filter((id) => id.startsWith('tls.renew@'));
  assert.equal(trustBoth.length, topology.hosts.length, 'every host gets the bundle of both CAs');
  assert.equal(trustNew.length, topology.hosts.length);
  assert.deepEqual(renewals, ['tls.renew@node-1', 'tls.renew@node-3', 'tls.renew@node-2'], 'the leader renews last');
  assert.ok(at('tls.ca') < at('tls.ca.new'));
  assert.ok(trustBoth.every((id) => at('tls.ca.new') < at(id) && at(id) < at(renewals[0])), 'no host presents a certificate of the new CA before every host trusts it');
  assert.ok(renewals.every((id) => at(id) < at('tls.ca.drop')));
  assert.ok(trustNew.every((id) => at('tls.ca.drop') < at(id) && at(id) < at('etcd.healthy')));
  assert.equal(trustBoth.at(-1), 'tls.trust-both@node-2', "the leader's etcd restarts last");
  const renew = rotationSteps(topology, { leader: 'node-2', ca: { replacing: 'abc123' } }).items.find((s) => 'id' in s && s.id === 'tls.renew@node-1');
  assert.deepEqual((renew as unknown as { input: { renew: boolean } }).input.renew, false, 'a retry does not issue twice: the new issuer is the reason to renew');
});

test("a CA rotation on the worker: the new CA signs, the bundle trusts both, the old key is kept; a retry changes nothing; a crash between the key and the bundle is finished with the same CA; the old CA then leaves the bundle", async (t) => {
  const { beginAuthorityRotation, dropAuthority, readAuthority } = await import('../../activities/tls/authority');
  const { loopbackLab } = await import('../support/topologies');
  const { readFileSync, existsSync, statSync, renameSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'haflow-ca-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const topology = loopbackLab({ tls: { ca: { certificate: join(dir, 'ca.crt'), key: { file: join(dir, 'ca.key') } } } });
  const old = await createAuthority('pgha', now);
  writeFileSync(join(dir, 'ca.crt'), old.certificate);
  writeFileSync(join(dir, 'ca.key'), old.key, { mode: 0o600 });
  const oldSerial = certificateFacts(old.certificate).serial;

  const planned = await beginAuthorityRotation(topology, oldSerial, true, now);
  assert.equal(planned.changed, false);
  assert.match(planned.actions[0], /would create a new CA/);
  assert.equal(readFileSync(join(dir, 'ca.key'), 'utf8'), old.key, 'check mode writes nothing');

  assert.match(dropAuthority(topology, oldSerial, true).actions[0], /would make .* stop trusting the CA with serial .* once the new CA signs/, 'check mode of the whole rotation says what its last step would do');
  assert.throws(() => dropAuthority(topology, oldSerial, false), /still signs/, 'the only CA is never dropped');
  const begun = await beginAuthorityRotation(topology, oldSerial, false, now);
  assert.equal(begun.changed, true);
  const bundle = pemCertificates(readFileSync(join(dir, 'ca.crt'), 'utf8'));
  assert.equal(bundle.length, 2);
  assert.equal(certificateFacts(bundle[1]).serial, oldSerial, 'the old CA stays trusted, second');
  assert.notEqual(begun.signing.serial, oldSerial);
  assert.equal((await readAuthority(topology)).certificate, bundle[0], 'the new CA signs with the new key');
  assert.equal(readFileSync(join(dir, `ca.key.${oldSerial}`), 'utf8'), old.key, 'the old key is kept');
  assert.equal(statSync(join(dir, `ca.key.${oldSerial}`)).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'ca.key')).mode & 0o777, 0o600);
  assert.ok(!existsSync(join(dir, 'ca.crt.pending')) && !existsSync(join(dir, 'ca.key.pending')));

  const again = await beginAuthorityRotation(topology, oldSerial, false, now);
  assert.equal(again.changed, false, 'a retry after it completed changes nothing');
  assert.equal(again.signing.serial, begun.signing.serial);

  // A crash after the new key was put in place, before the bundle named the new CA.
  const second = await (async () => {
    const dir2 = mkdtempSync(join(tmpdir(), 'haflow-ca-'));
    t.after(() => rmSync(dir2, { recursive: true, force: true }));
    const topo2 = loopbackLab({ tls: { ca: { certificate: join(dir2, 'ca.crt'), key: { file: join(dir2, 'ca.key') } } } });
    writeFileSync(join(dir2, 'ca.crt'), old.certificate);
    writeFileSync(join(dir2, 'ca.key'), old.key, { mode: 0o600 });
    const pending = await createAuthority('pgha', now);
    writeFileSync(join(dir2, 'ca.crt.pending'), pending.certificate);
    writeFileSync(join(dir2, 'ca.key.pending'), pending.key, { mode: 0o600 });
    renameSync(join(dir2, 'ca.key.pending'), join(dir2, 'ca.key'));
    const finished = await beginAuthorityRotation(topo2, oldSerial, false, now);
    return { finished, pending, topo2 };
  })();
  assert.equal(second.finished.signing.serial, certificateFacts(second.pending.certificate).serial, 'the CA made before the crash is the one that signs');
  assert.equal((await readAuthority(second.topo2)).certificate, second.pending.certificate);

  assert.throws(() => dropAuthority(topology, begun.signing.serial, false), /still signs/, 'the signing CA cannot be dropped');
  const wouldDrop = dropAuthority(topology, oldSerial, true);
  assert.equal(pemCertificates(readFileSync(join(dir, 'ca.crt'), 'utf8')).length, 2, 'check mode writes nothing');
  assert.match(wouldDrop.actions[0], /would make .* stop trusting the CA with serial/);
  const dropped = dropAuthority(topology, oldSerial, false);
  assert.equal(dropped.changed, true);
  assert.deepEqual(pemCertificates(readFileSync(join(dir, 'ca.crt'), 'utf8')), bundle.slice(0, 1));
  assert.equal(dropAuthority(topology, oldSerial, false).changed, false, 'dropping again changes nothing');
});

test("certs status reads a bundle of two CAs as the one that signs and one also trusted", async () => {
  const { certificateReport } = await import('../../activities/tls/status');
  const { loopbackLab } = await import('../support/topologies');
  const topology = loopbackLab({ tls: { warning_days: 30 } });
  const fresh = await createAuthority('pgha', now);
  const old = await createAuthority('pgha', new Date(now.getTime() - 3000 * 86_400_000));
  const report = certificateReport(topology, fresh.certificate + old.certificate, [], now);
  assert.deepEqual(report.entries.map((e) => [e.where, e.daysLeft]), [['CA', 3650], ['CA (also trusted)', 650]]);
});

test('whether a daemon read the CA bundle is told by its start against the file\'s time: before it, stale; after, fresh; not running, stopped', async (t) => {
  const { startedBeforeScript } = await import('../../activities/tls/trust');
  const { spawn, spawnSync } = await import('node:child_process');
  const { chmodSync, utimesSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'haflow-trust-'));
  const daemon = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.after(() => {
    daemon.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  // systemd's answers, as `systemctl is-active` and `systemctl show -p MainPID` print them.
  writeFileSync(join(dir, 'systemctl'), `#!/bin/sh\ncase "$1" in is-active) cat ${dir}/state;; show) echo "MainPID=${daemon.pid}";; esac\n`);
  chmodSync(join(dir, 'systemctl'), 0o755);
  const bundle = join(dir, 'ca.crt');
  writeFileSync(bundle, 'x');
  const state = (active: string, writtenAt: Date) => {
    writeFileSync(join(dir, 'state'), `${active}\n`);
    utimesSync(bundle, writtenAt, writtenAt);
    const out = spawnSync('sh', ['-c', startedBeforeScript('etcd', bundle, false)], { encoding: 'utf8', env: { PATH: `${dir}:/usr/bin:/bin` } });
    return out.stdout.trim() || out.stderr.trim();
  };
  assert.equal(state('active', new Date(Date.now() - 3_600_000)), 'fresh', 'started after the bundle was written');
  assert.equal(state('active', new Date(Date.now() + 3_600_000)), 'stale', 'started before the bundle was written');
  assert.equal(state('inactive', new Date(Date.now() + 3_600_000)), 'stopped');
});
