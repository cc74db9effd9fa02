// Certificates as haflow reads, issues and judges them. Issuing uses @peculiar/x509 (X.509 and
// PKCS#10 over WebCrypto, a maintained library: Node can parse certificates but not make them);
// reading and verifying use Node's own X509Certificate. Everything here is pure but for the
// clock and randomness it is handed or takes: the worker-side files are in ./authority.ts.
import 'reflect-metadata'; // @peculiar/x509's dependency injection needs it, once, before the import below
import * as x509 from '@peculiar/x509';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import type { Host } from '../../topology/schema';
import { certificateNames } from '../../topology/tls';

x509.cryptoProvider.set(webcrypto as never);

const EC_SIGNING = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** What a certificate says, for status reports and decisions. Public facts only. */
export interface CertificateFacts {
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  dns: string[];
  ips: string[];
  /** SHA-256 of the certificate, as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprint: string;
  isAuthority: boolean;
}

export function certificateFacts(pem: string): CertificateFacts {
  const cert = new X509Certificate(pem);
  const names = (cert.subjectAltName ?? '').split(/,\s*/).filter(Boolean);
  return {
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    serial: cert.serialNumber,
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    dns: names.filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4)),
    ips: names.filter((n) => n.startsWith('IP Address:')).map((n) => n.slice(11)),
    fingerprint: cert.fingerprint256,
    isAuthority: cert.ca,
  };
}

/** Node prints a distinguished name one attribute per line. */
const oneLine = (name: string) => name.split('\n').join(', ');

/** The PEM blocks of a bundle, in order. */
export function pemCertificates(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((pem) => `${pem}\n`) ?? [];
}

/** Days from `now` to the certificate's end, rounded down (negative once expired). */
export function daysLeft(facts: Pick<CertificateFacts, 'notAfter'>, now: Date): number {
  return Math.floor((Date.parse(facts.notAfter) - now.getTime()) / DAY_MS);
}

export interface WantedCertificate {
  host: Host;
  /** The CA certificates the host's certificate must chain to (any one of them). */
  authorities: string[];
  now: Date;
  warningDays: number;
  /** The public key of the key on the host (PEM), which the certificate must carry. */
  publicKey?: string;
}

/**
 * Why a host's certificate must be issued again, or undefined when it is good: it names the host,
 * one of the CAs signed it, it matches the host's key, and it is not within the warning window.
 */
export function certificateProblem(pem: string | undefined, wanted: WantedCertificate): string | undefined {
  if (!pem?.trim()) return 'there is no certificate';
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    return 'the certificate file is not a PEM certificate';
  }
  const facts = certificateFacts(pem);
  if (!wanted.authorities.some((ca) => signedBy(cert, ca))) {
    // Two CAs of a rotation share their name: the serial says which one signs now.
    const signing = wanted.authorities.length === 1 ? ` (serial ${certificateFacts(wanted.authorities[0]).serial.slice(0, 12)}…)` : '';
    return `it was issued by ${facts.issuer}, not by the cluster's CA${signing}`;
  }
  const names = certificateNames(wanted.host);
  const missing = [...names.dns.filter((n) => !facts.dns.includes(n)), ...names.ips.filter((ip) => !facts.ips.includes(ip))];
  if (missing.length > 0) return `it does not name ${missing.join(', ')}`;
  if (wanted.publicKey && !samePublicKey(cert, wanted.publicKey)) return 'it does not match the key on the host';
  const left = daysLeft(facts, wanted.now);
  if (left < 0) return `it expired on ${facts.notAfter}`;
  if (left < wanted.warningDays) return `it expires on ${facts.notAfter}, within ${wanted.warningDays} days`;
  return undefined;
}

/** Does the certificate carry this public key (SPKI PEM, as `openssl pkey -pubout` prints it)? */
function samePublicKey(cert: X509Certificate, publicKeyPem: string): boolean {
  try {
    return cert.publicKey.equals(createPublicKey(publicKeyPem));
  } catch {
    return false;
  }
}

/** Did the CA certificate `caPem` sign `cert` (and is it that CA's subject)? */
export function signedBy(cert: X509Certificate, caPem: string): boolean {
  try {
    const ca = new X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/** A certificate authority able to sign: its certificate and its private key. */
export interface Authority {
  certificate: string;
  key: webcrypto.CryptoKey;
  algorithm: typeof EC_SIGNING | { name: 'RSASSA-PKCS1-v1_5'; hash: 'SHA-256' };
}

/** A new CA for `cluster`: an ECDSA P-256 key and a self-signed certificate valid `years`. */
export async function createAuthority(cluster: string, now: Date, years = 10): Promise<{ certificate: string; key: string }> {
  const keys = (await webcrypto.subtle.generateKey(EC_SIGNING, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=haflow CA for ${cluster}, O=haflow`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + years * 365 * DAY_MS),
    signingAlgorithm: EC_SIGNING,
    keys: keys as never,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certificate: cert.toString('pem') + '\n', key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n' };
}

/** The CA from its certificate and key (PEM, PKCS#8 or traditional; ECDSA P-256 or RSA), checked to belong together. */
export async function loadAuthority(certificatePem: string, keyPem: string): Promise<Authority> {
  const cert = new X509Certificate(certificatePem);
  if (!cert.ca) throw new Error(`the certificate ${oneLine(cert.subject)} is not a CA certificate (no basicConstraints CA:TRUE)`);
  const keyObject = createPrivateKey(keyPem);
  if (!cert.checkPrivateKey(keyObject)) throw new Error(`the key does not belong to the CA certificate ${oneLine(cert.subject)}`);
  const pkcs8 = keyObject.export({ type: 'pkcs8', format: 'der' });
  const type = keyObject.asymmetricKeyType;
  if (type === 'ec') {
    if (keyObject.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error(`the CA key is on curve ${keyObject.asymmetricKeyDetails?.namedCurve}; haflow signs with P-256 (prime256v1) or RSA keys`);
    return { certificate: certificatePem, key: await webcrypto.subtle.importKey('pkcs8', pkcs8, EC_SIGNING, false, ['sign']), algorithm: EC_SIGNING };
  }
  if (type === 'rsa') {
    const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
    return { certificate: certificatePem, key: await webcrypto.subtle.importKey('pkcs8', pkcs8, algorithm, false, ['sign']), algorithm };
  }
  throw new Error(`the CA key is a ${type} key; haflow signs with ECDSA P-256 or RSA keys`);
}

/**
 * The host's certificate, from the CSR its own key made: the names come from the topology, not
 * from the request (a host asks only for its key to be certified). Valid `days` from `now`, for
 * servers and for clients (etcd's peers are both).
 */
export async function issueCertificate(authority: Authority, csrPem: string, host: Host, cluster: string, now: Date, days: number): Promise<string> {
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  if (!(await csr.verify())) throw new Error(`the certificate request from ${host.name} is not signed by its own key`);
  const ca = new x509.X509Certificate(authority.certificate);
  const names = certificateNames(host);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${host.name}, O=haflow cluster ${cluster}`,
    issuer: ca.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + days * DAY_MS),
    signingAlgorithm: authority.algorithm,
    publicKey: csr.publicKey,
    signingKey: authority.key as never,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([...names.dns.map((value) => ({ type: 'dns' as const, value })), ...names.ips.map((value) => ({ type: 'ip' as const, value }))]),
      await x509.AuthorityKeyIdentifierExtension.create(ca, false),
      await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
    ],
  });
  return cert.toString('pem') + '\n';
}

/** A positive 128-bit serial: random, so two CAs or two runs never repeat one. */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  return bytes.toString('hex');
}
