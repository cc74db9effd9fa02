// `haflow certs status`: every certificate a cluster relies on, read where it is used (each host's
// own file over SSH, the CA bundle on the worker), with its subject, issuer, serial and expiry,
// and what is wrong with it. Public facts only: no key is read but for its public half.
import { certificateHosts, requireTlsPaths, type Topology } from '../../topology';
import { readRemoteFile } from '../shared/remote-files';
import { onEachHost } from '../shared/step';
import { hostPublicKey } from './activities';
import { trustedBundle } from './authority';
import { certificateFacts, certificateProblem, daysLeft, pemCertificates, type CertificateFacts } from './certificates';

export interface CertificateEntry {
  /** `CA` for a certificate of the bundle on the worker, else the host's name. */
  where: string;
  facts?: CertificateFacts;
  daysLeft?: number;
  /** Why it needs renewing (missing, another CA's, expiring within the warning window…); none when good. */
  problem?: string;
}

export interface CertificateReport {
  cluster: string;
  /** ISO time of the reading. */
  readAt: string;
  warningDays: number;
  entries: CertificateEntry[];
  /** True when every certificate is good for longer than the warning window. */
  ok: boolean;
}

/** The report from what was read: pure, so its rules are tested without hosts. */
export function certificateReport(topology: Topology, bundle: string, hosts: { host: string; certificate: string; publicKey?: string }[], now: Date): CertificateReport {
  const warningDays = topology.tls!.warning_days;
  const authorities = pemCertificates(bundle);
  const entries: CertificateEntry[] = authorities.map((pem, i) => {
    const facts = certificateFacts(pem);
    const left = daysLeft(facts, now);
    return {
      where: i === 0 ? 'CA' : 'CA (also trusted)',
      facts,
      daysLeft: left,
      ...(left < warningDays ? { problem: left < 0 ? `expired on ${facts.notAfter}` : `expires on ${facts.notAfter}, within ${warningDays} days: rotate the CA (haflow certs rotate --ca)` } : {}),
    };
  });
  for (const read of hosts) {
    const host = topology.hosts.find((h) => h.name === read.host)!;
    // A site's certificates may come from any CA of its bundle; haflow's must be from its current CA.
    const issuers = topology.tls!.site ? authorities : authorities.slice(0, 1);
    const problem = certificateProblem(read.certificate, { host, authorities: issuers, now, warningDays, ...(read.publicKey ? { publicKey: read.publicKey } : {}) });
    let facts: CertificateFacts | undefined;
    try {
      facts = read.certificate.trim() ? certificateFacts(read.certificate) : undefined;
    } catch {
      facts = undefined;
    }
    entries.push({ where: read.host, ...(facts ? { facts, daysLeft: daysLeft(facts, now) } : {}), ...(problem ? { problem } : {}) });
  }
  return { cluster: topology.cluster, readAt: now.toISOString(), warningDays, entries, ok: entries.every((e) => !e.problem) };
}

export async function readCertificates(input: { topology: Topology }): Promise<CertificateReport> {
  const { topology } = input;
  const paths = requireTlsPaths(topology);
  const bundle = trustedBundle(topology)!;
  const hosts = await onEachHost(topology, certificateHosts(topology), async (ssh, host) => {
    const certificate = (await readRemoteFile(ssh, paths.certificate)).content;
    const publicKey = await hostPublicKey(ssh, paths.key);
    return { host: host.name, certificate, ...(publicKey ? { publicKey } : {}) };
  });
  return certificateReport(topology, bundle, hosts, new Date());
}
