// TLS on the hosts: the cluster's CA on the worker, then on each host the CA bundle, a key made on
// the host (it never leaves it), and a certificate the CA issues from the host's CSR. A host keeps
// its certificate until it is issued by another CA, misses a name, no longer matches its key, or
// nears its end (tls.warning_days); then a new key and certificate are made beside the old ones and
// put in place together, and the services that read them at reload are reloaded.
import { ApplicationFailure } from '@temporalio/common';
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { certificateHosts, classicCluster, keyOwners, requireTlsPaths, type Host, type Topology } from '../../topology';
import { StepFailureTypes, type ClusterInput, type HostInput, type StepResult } from '../contract';
import { ensureRemoteFiles, readRemoteFile, type ManagedFile } from '../shared/remote-files';
import { expandHome, resolveSecret } from '../shared/secrets';
import { unitState } from '../shared/services';
import { shellQuote } from '../shared/shell';
import type { SshSession } from '../shared/ssh';
import { onEachHost, onHost, stepResult } from '../shared/step';
import { beginAuthorityRotation, dropAuthority, ensureAuthorityFiles, readAuthority, trustedBundle, trustedBundleExists } from './authority';
import { certificateFacts, certificateProblem, issueCertificate, pemCertificates } from './certificates';

/** The cluster's CA on the worker: there, or created now (haflow's CA), or the site's bundle readable. */
export async function ensureCertificateAuthority(input: ClusterInput): Promise<StepResult> {
  const { topology, check } = input;
  if (topology.tls?.site) {
    const bundle = pemCertificates(trustedBundle(topology)!).map(certificateFacts);
    return stepResult([], `the site's CA bundle ${topology.tls.site.ca_bundle} holds ${bundle.map((c) => `${c.subject} (until ${c.notAfter.slice(0, 10)})`).join('; ')}`);
  }
  const state = await ensureAuthorityFiles(topology, check, new Date());
  if (state.wouldCreate) return stepResult([`would create the cluster's CA: ${state.certificate} and its key, on this worker`], '');
  const said = `${state.subject}, valid until ${state.notAfter}, at ${state.certificate} on this worker`;
  return stepResult(state.created ? [`created the cluster's CA: ${said}`] : [], `the cluster's CA is ${said}`);
}

/** The CA bundle, readable by every user of the host. */
export function bundleFile(topology: Topology): ManagedFile {
  return { path: requireTlsPaths(topology).caBundle, content: trustedBundle(topology)!, owner: 'root', group: 'root', mode: 0o644 };
}

/** The host's key copies, one per service user (PostgreSQL refuses a key that others can read; so does good sense). */
export function keyCopiesScript(topology: Topology, host: Host, from: string): string {
  return keyOwners(topology, host)
    .map(({ user, path }) => {
      const q = shellQuote(path);
      // install creates the copy with its owner and mode, then it replaces the old in one rename.
      return `if ! cmp -s ${shellQuote(from)} ${q} || [ "$(stat -c %U:%a ${q} 2>/dev/null)" != ${shellQuote(`${user}:600`)} ]; then install -o ${user} -g ${user} -m 600 ${shellQuote(from)} ${q}.next && mv -fT ${q}.next ${q} && echo ${shellQuote(`action: ${path} for ${user}`)}; fi`;
    })
    .join('\n');
}

/** The TLS directory exists, is root's and no link: nobody else may place a file or a link in it. */
export function tlsDirectoryScript(dir: string): string {
  const d = shellQuote(dir);
  return [
    `if [ -L ${d} ]; then echo ${shellQuote(`${dir} is a symbolic link`)} >&2; exit 66; fi`,
    `install -d -m 755 -o root -g root ${d}`,
    `chown root:root ${d} && chmod 755 ${d}`,
  ].join('\n');
}

/**
 * A new key (EC P-256, 0600 root) beside the old one, unless an earlier attempt made one, and a CSR
 * from it on stdout. The subject is only a label: the CA writes the names from the topology.
 */
export function requestScript(topology: Topology, host: Host): string {
  const paths = requireTlsPaths(topology);
  const next = shellQuote(`${paths.key}.next`);
  return [
    'set -eu',
    'umask 077',
    tlsDirectoryScript(paths.dir),
    `if [ ! -s ${next} ] || ! openssl pkey -in ${next} -noout 2>/dev/null; then`,
    `  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ${next}.tmp 2>/dev/null && mv -fT ${next}.tmp ${next}`,
    'fi',
    `openssl req -new -key ${next} -subj ${shellQuote(`/CN=${host.name}`)}`,
  ].join('\n');
}

/**
 * Puts the certificate on stdin in place with the key it was issued for: checked to belong to that
 * key, written beside the old files, then each moved over the old one (a reader sees either pair
 * but for the moment between the renames).
 */
export function installScript(topology: Topology, host: Host): string {
  const paths = requireTlsPaths(topology);
  const key = shellQuote(paths.key);
  const cert = shellQuote(paths.certificate);
  return [
    'set -eu',
    'umask 077',
    tlsDirectoryScript(paths.dir),
    `cat > ${cert}.next`,
    `if [ "$(openssl x509 -in ${cert}.next -noout -pubkey)" != "$(openssl pkey -in ${key}.next -pubout)" ]; then echo 'the certificate does not belong to the new key' >&2; exit 65; fi`,
    `chmod 644 ${cert}.next`,
    ...keyOwners(topology, host).map(({ user, path }) => `install -o ${user} -g ${user} -m 600 ${key}.next ${shellQuote(`${path}.next`)}`),
    ...keyOwners(topology, host).map(({ path }) => `mv -fT ${shellQuote(`${path}.next`)} ${shellQuote(path)}`),
    `mv -fT ${key}.next ${key}`,
    `mv -fT ${cert}.next ${cert}`,
  ].join('\n');
}

/** The public half of the host's key (SPKI PEM), read as root without following a link; undefined when there is no key. */
export async function hostPublicKey(ssh: SshSession, keyPath: string): Promise<string | undefined> {
  const key = shellQuote(keyPath);
  const result = await ssh.exec(`[ -f ${key} ] && [ ! -L ${key} ] && openssl pkey -in ${key} -pubout 2>/dev/null`, { sudo: true });
  return result.code === 0 ? result.stdout : undefined;
}

/** The services on the host that read the certificate when they reload, reloaded where running. */
async function reloadReaders(ssh: SshSession, topology: Topology, host: Host): Promise<string[]> {
  if (!host.roles.includes('db')) return []; // etcd reads its certificate again at every new connection
  const unit = topology.layout === 'classic' ? `postgresql@${classicCluster(topology).name}` : 'patroni';
  if ((await unitState(ssh, unit)).active !== 'active') return [];
  await ssh.check(`systemctl reload ${shellQuote(unit)}`, { sudo: true });
  return [`reloaded ${unit} (PostgreSQL${unit === 'patroni' ? " and Patroni's REST API" : ''} read the new certificate)`];
}

export type HostCertificateInput = HostInput & {
  /** A new key and certificate even if the current ones are good (certificate rotation). */
  renew?: boolean;
};

/** The host's CA bundle, key and certificate as the topology says. */
export async function ensureHostCertificate(input: HostCertificateInput): Promise<StepResult> {
  const { topology, check } = input;
  const paths = requireTlsPaths(topology);
  return onHost(input, async (ssh, host) => {
    const dir = await ssh.exec(`[ -L ${shellQuote(paths.dir)} ]`, { sudo: true });
    if (dir.code === 0) throw failure(`${host.name}: ${paths.dir} is a symbolic link; haflow keeps keys only in a directory of root's own`, `remove the link on ${host.name}, then \`haflow resume ${topology.cluster} --retry\``);
    if (check && !trustedBundleExists(topology)) {
      // The step before creates the CA: until then there is nothing to compare with.
      const serves = certificateHosts(topology).some((h) => h.name === host.name);
      return stepResult([`would write the CA bundle ${paths.caBundle}${serves ? ` and issue ${host.name} a key and certificate from the cluster's CA (created by tls.ca)` : ''}`], '');
    }
    if (!certificateHosts(topology).some((h) => h.name === host.name)) {
      const bundle = await ensureRemoteFiles(ssh, [bundleFile(topology)], check);
      return stepResult(bundle.actions, `${host.name} has the cluster's CA bundle at ${paths.caBundle}`, bundle.details);
    }
    if (topology.tls!.site) return siteCertificate(ssh, topology, host, check);

    const bundle = await ensureRemoteFiles(ssh, [bundleFile(topology)], check);
    const actions = [...bundle.actions];
    const current = await readRemoteFile(ssh, paths.certificate);
    const key = await hostPublicKey(ssh, paths.key);
    const authorities = pemCertificates(trustedBundle(topology)!);
    const problem = input.renew
      ? 'a new key and certificate were asked for'
      : key === undefined
        ? 'there is no key'
        : certificateProblem(current.content, { host, authorities: authorities.slice(0, 1), now: new Date(), warningDays: topology.tls!.warning_days, publicKey: key });
    if (!problem) {
      if (!check) {
        const copies = await ssh.exec(`set -eu\n${keyCopiesScript(topology, host, paths.key)}`, { sudo: true });
        if (copies.code !== 0) throw failure(`${host.name}: copying the key for its services failed: ${copies.stderr.trim().slice(-300)}`, `look at ${paths.dir} on ${host.name}`);
        actions.push(...keyCopyActions(copies.stdout));
      }
      const facts = certificateFacts(current.content);
      return stepResult(actions, `${host.name}'s certificate (serial ${facts.serial}, until ${facts.notAfter.slice(0, 10)}) is from the cluster's CA, names it and matches its key`, bundle.details);
    }
    if (check) return stepResult([...actions, `would issue ${host.name} a new key and certificate: ${problem}`], '', bundle.details);

    const request = await ssh.exec(requestScript(topology, host), { sudo: true });
    if (request.code !== 0 || !request.stdout.includes('BEGIN CERTIFICATE REQUEST')) {
      throw failure(`${host.name}: making a key and a certificate request failed (exit ${request.code}): ${request.stderr.trim().slice(-300)}`, `openssl must be installed on ${host.name}; look at ${paths.dir}`);
    }
    const certificate = await issueCertificate(await readAuthority(topology), request.stdout, host, topology.cluster, new Date(), topology.tls!.days);
    const installed = await ssh.exec(installScript(topology, host), { sudo: true, stdin: certificate });
    if (installed.code !== 0) throw failure(`${host.name}: putting the new certificate in place failed (exit ${installed.code}): ${installed.stderr.trim().slice(-300)}`, `look at ${paths.dir} on ${host.name}, then retry`);
    const facts = certificateFacts(certificate);
    actions.push(`issued ${host.name} a new key and certificate (serial ${facts.serial}, until ${facts.notAfter.slice(0, 10)}, for ${[...facts.dns, ...facts.ips].join(', ')}): ${problem}`);
    actions.push(...(await reloadReaders(ssh, topology, host)));
    return stepResult(actions, '', bundle.details, { serial: facts.serial, notAfter: facts.notAfter });
  });
}

/** The site's certificate and key for the host, written as given, once checked against its bundle and the host's names. */
async function siteCertificate(ssh: SshSession, topology: Topology, host: Host, check: boolean): Promise<StepResult> {
  const paths = requireTlsPaths(topology);
  const given = topology.tls!.site!.hosts[host.name];
  let certificate: string;
  try {
    certificate = readFileSync(expandHome(given.certificate), 'utf8');
  } catch (err) {
    throw failure(`${host.name}: its certificate ${given.certificate} (tls.site.hosts.${host.name}.certificate) cannot be read on this worker (${(err as NodeJS.ErrnoException).code ?? 'error'})`, `put ${host.name}'s certificate at ${given.certificate} on every haflow worker`);
  }
  const key = resolveSecret(given.key, `tls.site.hosts.${host.name}.key`, { multiline: true });
  const publicKey = createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
  const authorities = pemCertificates(trustedBundle(topology)!);
  const problem = certificateProblem(certificate, { host, authorities, now: new Date(), warningDays: 0, publicKey });
  if (problem) throw failure(`${host.name}: the site's certificate ${given.certificate} cannot be used: ${problem}`, `issue ${host.name} a certificate from the CA in ${topology.tls!.site!.ca_bundle} naming ${host.name} and ${host.address}, with its key in tls.site.hosts.${host.name}.key`);
  const files: ManagedFile[] = [
    bundleFile(topology),
    { path: paths.certificate, content: certificate, owner: 'root', group: 'root', mode: 0o644 },
    { path: paths.key, content: key, owner: 'root', group: 'root', mode: 0o600, secret: 'whole' },
    ...keyOwners(topology, host).map(({ user, path }): ManagedFile => ({ path, content: key, owner: user, group: user, mode: 0o600, secret: 'whole' })),
  ];
  const written = await ensureRemoteFiles(ssh, files, check);
  const actions = [...written.actions];
  if (written.changed && !check) actions.push(...(await reloadReaders(ssh, topology, host)));
  const facts = certificateFacts(certificate);
  return stepResult(actions, `${host.name} has the site's certificate (serial ${facts.serial}, until ${facts.notAfter.slice(0, 10)})`, written.details);
}

const keyCopyActions = (out: string) =>
  out
    .split('\n')
    .filter((l) => l.startsWith('action: '))
    .map((l) => `wrote ${l.slice('action: '.length)}`);

function failure(message: string, remedy: string): ApplicationFailure {
  return ApplicationFailure.create({ type: StepFailureTypes.commandFailed, nonRetryable: true, message, details: [{ remedy }] });
}

export type AuthorityRotationInput = ClusterInput & {
  /** The serial of the CA being replaced, as the rotation was planned. */
  replacing: string;
};

/** A CA rotation's first step: a new CA signs, and the worker's bundle trusts it and the one it replaces. */
export async function startAuthorityRotation(input: AuthorityRotationInput): Promise<StepResult> {
  const state = await beginAuthorityRotation(input.topology, input.replacing, input.check, new Date());
  return stepResult(state.actions, `the CA with serial ${state.signing.serial} (${state.signing.subject}, until ${state.signing.notAfter.slice(0, 10)}) signs; the bundle trusts ${state.trusted.length} CA(s)`);
}

/**
 * A CA rotation's last step on the worker: the replaced CA leaves the bundle, once every host's
 * certificate is from the new one (a host still on the old would be refused by its peers).
 */
export async function finishAuthorityRotation(input: AuthorityRotationInput): Promise<StepResult> {
  const { topology, check } = input;
  const paths = requireTlsPaths(topology);
  const signing = pemCertificates(trustedBundle(topology)!)[0];
  const stale = (
    await onEachHost(topology, certificateHosts(topology), async (ssh, host) => {
      const current = (await readRemoteFile(ssh, paths.certificate)).content;
      return certificateProblem(current, { host, authorities: [signing], now: new Date(), warningDays: 0 }) ? host.name : undefined;
    })
  ).filter((name): name is string => name !== undefined);
  if (stale.length > 0 && !check) {
    throw ApplicationFailure.create({
      type: StepFailureTypes.guardFailed,
      nonRetryable: true,
      message: `the old CA (serial ${input.replacing}) cannot leave the bundle: ${stale.join(', ')} still ${stale.length === 1 ? 'has a certificate' : 'have certificates'} from another CA than the one that signs now`,
      details: [{ remedy: `haflow resume ${topology.cluster} --retry after the certificate steps of those hosts completed` }],
    });
  }
  const state = dropAuthority(topology, input.replacing, check);
  return stepResult(state.actions, `the bundle trusts only the CA with serial ${state.signing.serial}`);
}
