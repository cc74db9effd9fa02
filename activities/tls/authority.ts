// The cluster's certificate authority on the worker: its certificate file and its key (a secret
// reference, resolved here and never returned), created once when neither exists yet. Several
// workers share one CA by holding the same two files.
import { ApplicationFailure } from '@temporalio/common';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
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

/** Where a CA rotation stands on the worker. */
export interface AuthorityRotationState {
  /** The CA that now signs (the first of the bundle). */
  signing: { subject: string; serial: string; notAfter: string };
  /** Every CA the bundle trusts, the signing one first. */
  trusted: string[];
  changed: boolean;
  actions: string[];
}

const serialOf = (pem: string) => certificateFacts(pem).serial;

function signingOf(pem: string): AuthorityRotationState['signing'] {
  const { subject, serial, notAfter } = certificateFacts(pem);
  return { subject, serial, notAfter };
}

/** The CA key as a file: rotation writes a new key, which only a file reference allows. */
function keyFile(topology: Topology): { certificatePath: string; keyPath: string; certificate: string; key: string } {
  const ca = certificateAuthority(topology)!;
  if (!('file' in ca.key)) {
    throw refused(
      `the cluster's CA key comes from ${describeSecret(ca.key)}; a CA rotation writes a new key, which haflow does only to a file`,
      'point tls.ca.key at a file ({file: …}) on every worker, or make the new CA yourself and put it first in tls.ca.certificate beside the old one',
    );
  }
  return { certificatePath: expandHome(ca.certificate), keyPath: expandHome(ca.key.file), certificate: ca.certificate, key: ca.key.file };
}

/** Writes a file whole or not at all: beside it, then renamed over it. */
function replaceFile(path: string, content: string, mode: number): void {
  const next = `${path}.next`;
  writeFileSync(next, content, { mode });
  chmodSync(next, mode);
  renameSync(next, path);
}

/**
 * The first half of a CA rotation, on the worker: a new CA signs from now on, and the bundle holds
 * it first and the one it replaces (serial `replacing`) after it, so every host trusts both while
 * their certificates change. The old key is kept beside the new as `<key>.<serial>` (the backup
 * before its file is replaced). Resumable: the new CA waits in `<certificate>.pending` and
 * `<key>.pending` until the bundle names it, so a retry after a crash finishes the same CA.
 */
export async function beginAuthorityRotation(topology: Topology, replacing: string, check: boolean, now: Date): Promise<AuthorityRotationState> {
  const files = keyFile(topology);
  const bundle = pemCertificates(trustedBundle(topology)!);
  const state = (changed: boolean, actions: string[]): AuthorityRotationState => {
    const current = pemCertificates(trustedBundle(topology)!);
    return { signing: signingOf(current[0]), trusted: current.map(serialOf), changed, actions };
  };
  // Another CA signs already: this rotation made it (a retry), or the old one was dropped since.
  if (serialOf(bundle[0]) !== replacing) return state(false, []);
  const pendingCertificate = `${files.certificatePath}.pending`;
  const pendingKey = `${files.keyPath}.pending`;
  const backup = `${files.keyPath}.${replacing}`;
  if (check) return state(false, [`would create a new CA, keep the current key as ${files.key}.${replacing}, and trust both CAs in ${files.certificate} (the new one signs)`]);

  const actions: string[] = [];
  if (!existsSync(backup)) {
    writeExclusive(backup, readFileSync(files.keyPath, 'utf8'), 0o600);
    actions.push(`kept the current CA key as ${files.key}.${replacing} (the backup before its file is replaced)`);
  }
  let pending = existsSync(pendingCertificate) ? readFileSync(pendingCertificate, 'utf8') : undefined;
  const keyMatches = async (keyPath: string) => {
    if (!pending || !existsSync(keyPath)) return false;
    try {
      await loadAuthority(pending, readFileSync(keyPath, 'utf8'));
      return true;
    } catch {
      return false;
    }
  };
  // The key file may already be the new CA's (a crash between the two renames below).
  const keyInPlace = await keyMatches(files.keyPath);
  if (!keyInPlace && !(await keyMatches(pendingKey))) {
    const made = await createAuthority(topology.cluster, now);
    replaceFile(pendingKey, made.key, 0o600);
    replaceFile(pendingCertificate, made.certificate, 0o644);
    pending = made.certificate;
  }
  if (!keyInPlace) renameSync(pendingKey, files.keyPath);
  replaceFile(files.certificatePath, [pending!, ...bundle].join(''), 0o644);
  rmSync(pendingCertificate, { force: true });
  const facts = certificateFacts(pending!);
  actions.push(`created a new CA (${facts.subject}, serial ${facts.serial}, until ${facts.notAfter.slice(0, 10)}): it signs from now on; ${files.certificate} trusts it and the CA it replaces (serial ${replacing})`);
  return state(true, actions);
}

/** The last step of a CA rotation, on the worker: the old CA (serial `dropping`) out of the bundle. Its key stays in its backup file. */
export function dropAuthority(topology: Topology, dropping: string, check: boolean): AuthorityRotationState {
  const files = keyFile(topology);
  const bundle = pemCertificates(trustedBundle(topology)!);
  const kept = bundle.filter((pem) => serialOf(pem) !== dropping);
  if (check && serialOf(bundle[0]) === dropping) {
    // Check mode of a whole CA rotation: the new CA the first step would make is not there to keep.
    return { signing: signingOf(bundle[0]), trusted: bundle.map(serialOf), changed: false, actions: [`would make ${files.certificate} stop trusting the CA with serial ${dropping} once the new CA signs every host's certificate`] };
  }
  if (kept.length === 0 || serialOf(bundle[0]) === dropping) {
    throw refused(
      `the CA with serial ${dropping} still signs for cluster ${topology.cluster}: dropping it would leave no CA`,
      `this step follows a new CA (tls.ca.next); look at ${files.certificate} on this worker`,
    );
  }
  const signing = signingOf(kept[0]);
  if (kept.length === bundle.length) return { signing, trusted: kept.map(serialOf), changed: false, actions: [] };
  const action = `${files.certificate} no longer trusts the CA with serial ${dropping} (its key stays in ${files.key}.${dropping})`;
  if (check) return { signing, trusted: bundle.map(serialOf), changed: false, actions: [`would make ${action.replace('no longer trusts', 'stop trusting')}`] };
  replaceFile(files.certificatePath, kept.join(''), 0o644);
  return { signing, trusted: kept.map(serialOf), changed: true, actions: [action] };
}
