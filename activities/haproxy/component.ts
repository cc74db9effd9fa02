// HAProxy as a component: it sends writes to the Patroni leader, found by its health checks,
// and users to the application node that answers its health URL (over HTTPS too, when the
// topology gives a certificate and key).
import type { Topology } from '../../topology/schema';
import type { Component, SecretText } from '../shared/component';
import type { ManagedFile } from '../shared/remote-files';
import { haproxyConfigPath, renderHaproxyCfg } from './config';

/**
 * HAProxy's own check of a combined PEM: a one-frontend configuration that loads it. `{}` is
 * the new file's path (see ManagedFile.validate); nothing listens, `-c` only parses.
 */
const pemCheck =
  "printf 'defaults\\n  mode tcp\\n  timeout client 1s\\n  timeout server 1s\\n  timeout connect 1s\\n" +
  "frontend pem_check\\n  bind 127.0.0.1:1 ssl crt %s\\n' {} | haproxy -c -f /dev/stdin";

/** The combined certificate + key HAProxy serves HTTPS with, when the topology gives both. */
export function tlsPemFile(topology: Topology, secret: SecretText): ManagedFile | undefined {
  const tls = topology.haproxy.tls;
  if (!tls?.certificate || !tls.key) return undefined;
  const part = (text: string) => (text.endsWith('\n') ? text : `${text}\n`);
  return {
    path: tls.pem,
    content: part(secret(tls.certificate, 'haproxy.tls.certificate', { multiline: true })) + part(secret(tls.key, 'haproxy.tls.key', { multiline: true })),
    owner: 'root',
    group: 'root',
    mode: 0o600,
    // A private key: no line of it, old or new, is ever shown.
    secret: 'whole',
    validate: pemCheck,
  };
}

export const haproxyComponent: Component = {
  name: 'haproxy',
  role: 'haproxy',
  service: 'haproxy',
  // socat talks to the runtime socket (./runtime.ts) for a coordinated switchover.
  packages: () => ['haproxy', 'socat'],
  files: (topology, host, secret) => {
    const pem = tlsPemFile(topology, secret);
    const auth = topology.haproxy.stats_auth;
    const statsPassword = auth ? secret(auth.password, 'haproxy.stats_auth.password') : undefined;
    return [
      {
        path: haproxyConfigPath,
        content: renderHaproxyCfg(topology, host, statsPassword),
        owner: 'root',
        group: 'root',
        // With the stats page's password in it, root's alone (HAProxy reads it as root, then drops to its user).
        mode: auth ? 0o600 : 0o644,
        ...(auth ? { secret: 'passwords' as const } : {}),
        // An invalid file is never put in place (nor reloaded).
        validate: 'haproxy -c -q -f {}',
      },
      ...(pem ? [pem] : []),
    ];
  },
  foreignConfigs: [{ path: haproxyConfigPath, pattern: 'check port' }],
};
