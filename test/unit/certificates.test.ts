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
  assert.match(certificateProblem(pem, { ...wanted, authorities: [theirs.certificate] })!, /issued by CN=haflow CA for lab, O=haflow, not by the cluster's CA/);
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
