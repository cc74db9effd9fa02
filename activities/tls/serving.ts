// Which certificate each TLS port of a host presents, as a client sees it in the handshake:
// etcd's client and peer ports, Patroni's REST API, PostgreSQL (which starts TLS after its own
// SSLRequest message). After a rotation each must present the certificate now in the host's file.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { requireTlsPaths, type Host, type Topology } from '../../topology';
import type { HostInput, StepResult } from '../contract';
import { readRemoteFile } from '../shared/remote-files';
import { onHost, stepResult, waitFor } from '../shared/step';
import { certificateFacts } from './certificates';

/** PostgreSQL's SSLRequest: length 8, code 80877103. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

export interface TlsPort {
  what: string;
  port: number;
  /** PostgreSQL asks for TLS inside its own protocol first. */
  postgres?: boolean;
}

/** The TLS ports a host serves, by its roles. */
export function tlsPorts(topology: Topology, host: Host): TlsPort[] {
  return [
    ...(host.roles.includes('etcd') ? [{ what: 'etcd (clients)', port: topology.etcd.client_port }, { what: 'etcd (peers)', port: topology.etcd.peer_port }] : []),
    ...(host.roles.includes('db') && topology.layout !== 'classic' ? [{ what: "Patroni's REST API", port: topology.patroni.rest_api_port }] : []),
    ...(host.roles.includes('db') ? [{ what: 'PostgreSQL', port: topology.postgresql.port, postgres: true }] : []),
  ];
}

/** The serial number of the certificate presented on address:port (not verified: this only looks). */
export function presentedSerial(address: string, port: TlsPort, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`no TLS handshake on ${address}:${port.port} within ${timeoutMs} ms`)), timeoutMs);
    let raw: Socket | undefined;
    const fail = (err: Error) => {
      clearTimeout(timer);
      raw?.destroy();
      reject(err);
    };
    const handshake = (socket?: Socket) => {
      const secure = tlsConnect({ ...(socket ? { socket } : { host: address, port: port.port }), rejectUnauthorized: false }, () => {
        const cert: PeerCertificate = secure.getPeerCertificate();
        clearTimeout(timer);
        secure.destroy();
        resolve(cert.serialNumber);
      });
      secure.on('error', fail);
    };
    if (!port.postgres) return handshake();
    raw = netConnect({ host: address, port: port.port }, () => raw!.write(SSL_REQUEST));
    raw.on('error', fail);
    raw.once('data', (answer) => (answer[0] === 0x53 ? handshake(raw) : fail(new Error(`PostgreSQL on ${address}:${port.port} does not offer TLS (answered ${JSON.stringify(String.fromCharCode(answer[0]))})`))));
  });
}

/** Every TLS port of the host presents the certificate in its file: what a rotation's reloads must lead to. */
export async function hostServesCertificate(input: HostInput & { waitSeconds?: number }): Promise<StepResult> {
  const { topology } = input;
  return onHost(input, async (ssh, host) => {
    const file = (await readRemoteFile(ssh, requireTlsPaths(topology).certificate)).content;
    const serial = certificateFacts(file).serial;
    const ports = tlsPorts(topology, host);
    const look = () => Promise.all(ports.map((p) => presentedSerial(host.address, p).then((s) => ({ p, s }), (err: Error) => ({ p, s: err.message }))));
    if (input.check) {
      const seen = await look();
      const stale = seen.filter((x) => x.s.toUpperCase() !== serial.toUpperCase());
      return stepResult([], stale.length === 0 ? `every TLS port of ${host.name} presents serial ${serial}` : `${stale.map((x) => x.p.what).join(', ')} present another certificate than ${host.name}'s file (the rotation reloads them)`);
    }
    await waitFor(
      `every TLS port of ${host.name} to present the certificate of serial ${serial}`,
      async () => {
        const seen = await look();
        const stale = seen.filter((x) => x.s.toUpperCase() !== serial.toUpperCase());
        return stale.length === 0 ? { done: true } : { notYet: stale.map((x) => `${x.p.what} (port ${x.p.port}) presents ${x.s}`).join('; ') };
      },
      { timeoutMs: (input.waitSeconds ?? 60) * 1000, remedy: `reload the service on ${host.name} (systemctl reload patroni; etcd reads it at each new connection) and look at its log` },
    );
    return stepResult([], `${ports.map((p) => `${p.what} (${p.port})`).join(', ')} on ${host.name} present serial ${serial}`);
  });
}
