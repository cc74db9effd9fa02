// The cluster's certificate authority on the worker: its certificate file and its key (a secret
// reference, resolved here and never returned), created once when neither exists yet. Several
// workers share one CA by holding the same two files.
import { ApplicationFailure } from '@temporalio/common';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { certificateAuthority, trustedBundleFile, type Topology } from '../../topology';
import { StepFailureTypes } from '../contract';
import { describeSecret, expandHome, resolveSecret } from '../shared/secrets';
import type { TlsTrust } from '../shared/step';
import { certificateFacts, createAuthority, loadAuthority, pemCertificates, type Authority } from './certificates';

function refused(message: string, remedy: string, type: string = StepFailureTypes.invalidConfig): ApplicationFailure {
  return ApplicationFailure.create({ type, nonRetryable: true, message, details: [{ remedy }] });
}

/** The CA certificates clients of the cluster trust, as the worker has them (PEM, one or more). */
export function trustedBundle(topology: Topology): string | undefined {
  const file = trustedBundleFile(topology);
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(expandHome(file), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw refused(
      `the cluster's CA certificate ${file} cannot be read on this worker (${code})`,
      topology.tls?.site
        ? `put the site's CA bundle at ${file} (tls.site.ca_bundle) on every haflow worker`
        : `\`haflow install\` creates it with the cluster's CA; a second worker needs a copy of ${file} and of the CA key (tls.ca.key) from the first`,
      StepFailureTypes.secretMissing,
    );
  }
  if (pemCertificates(text).length === 0) throw refused(`${file} holds no PEM certificate`, `put the cluster's CA certificate(s) in ${file}, PEM ("-----BEGIN CERTIFICATE-----")`);
  return text;
}

/** Is the CA bundle on this worker yet? (Before the first install's `tls.ca`, haflow's is not.) */
export function trustedBundleExists(topology: Topology): boolean {
  const file = trustedBundleFile(topology);
  return file !== undefined && existsSync(expandHome(file));
}

/** haflow's CA, able to sign: the first certificate of its file and the key that belongs to it. */
export async function readAuthority(topology: Topology): Promise<Authority> {
  const ca = certificateAuthority(topology);
  if (!ca) throw new Error(`cluster ${topology.cluster}: the site issues its certificates (tls.site); haflow has no CA to sign with`);
  const bundle = trustedBundle(topology)!;
  const key = resolveSecret(ca.key, ca.field, { multiline: true });
  try {
    return await loadAuthority(pemCertificates(bundle)[0], key);
  } catch (err) {
    throw refused(`the cluster's CA (${ca.certificate}, key from ${describeSecret(ca.key)}) cannot sign: ${(err as Error).message}`, `give tls.ca a CA certificate and the key that belongs to it`);
  }
}

/** What the CA on the worker is: created now, already there, or (check mode) to be created. */
export interface AuthorityState {
  created: boolean;
  wouldCreate: boolean;
  subject?: string;
  notAfter?: string;
  certificate: string;
}

/**
 * The CA's two files, created when neither exists (key 0600 in a 0700 directory, written with
 * O_EXCL so two workers racing cannot both win). One without the other is the operator's to
 * sort out: haflow never replaces a CA key that signed certificates in use.
 */
export async function ensureAuthorityFiles(topology: Topology, check: boolean, now: Date): Promise<AuthorityState> {
  const ca = certificateAuthority(topology);
  if (!ca) throw new Error('the site issues the certificates (tls.site)');
  const certificatePath = expandHome(ca.certificate);
  const keyPath = 'file' in ca.key ? expandHome(ca.key.file) : undefined;
  const hasCertificate = existsSync(certificatePath);
  const hasKey = keyPath ? existsSync(keyPath) : true;
  if (hasCertificate && hasKey) {
    const authority = await readAuthority(topology);
    const facts = certificateFacts(authority.certificate);
    return { created: false, wouldCreate: false, subject: facts.subject, notAfter: facts.notAfter, certificate: ca.certificate };
  }
  if (!keyPath) {
    throw refused(
      `the cluster's CA certificate ${ca.certificate} does not exist, and its key comes from ${describeSecret(ca.key)}, which haflow cannot create`,
      'create the CA yourself (openssl) and point tls.ca.certificate and tls.ca.key at it, or leave tls.ca out and haflow creates both in ~/.haflow/pki/<cluster>/',
    );
  }
  if (hasCertificate !== hasKey) {
    const [there, missing] = hasCertificate ? [ca.certificate, keyPath] : [keyPath, ca.certificate];
    throw refused(
      `the cluster's CA is half there: ${there} exists but ${missing} does not`,
      'restore the missing file from where the CA was kept (another worker, a backup); to start a new CA instead, move both aside and run the install again: every host then gets a certificate from the new CA',
    );
  }
  if (check) return { created: false, wouldCreate: true, certificate: ca.certificate };
  const made = await createAuthority(topology.cluster, now);
  for (const path of [certificatePath, keyPath]) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  }
  chmodSync(dirname(keyPath), 0o700);
  writeExclusive(keyPath, made.key, 0o600);
  writeExclusive(certificatePath, made.certificate, 0o644);
  const facts = certificateFacts(made.certificate);
  return { created: true, wouldCreate: false, subject: facts.subject, notAfter: facts.notAfter, certificate: ca.certificate };
}

function writeExclusive(path: string, content: string, mode: number): void {
  const fd = openSync(path, 'wx', mode);
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
}

/** What an https:// request to the cluster trusts; undefined without TLS. */
export function clusterTrust(topology: Topology): TlsTrust | undefined {
  const ca = trustedBundle(topology);
  return ca ? { ca } : undefined;
}
