// /etc/haproxy/haproxy.cfg for one HAProxy host, in the exact shape of the Patroni guide
// ("Verify the HAProxy Configuration"), plus the classic HA guide's optional TLS frontend
// ("HA-Proxy SSL Configuration"), with basic authentication on the stats page. Pure: topology
// (and the stats page's password) in, file text out.
import type { Host, Topology } from '../../topology/schema';
import { appHosts, dbHosts } from '../../topology/derive';
import { assertIdentifier } from '../../topology/identifiers';
import { tlsPaths } from '../../topology/tls';
import { hashComment, managedHeader, requireRole } from '../shared/render';
import { HAPROXY_RUNTIME_SOCKET, HAPROXY_SERVER_STATE_FILE, POSTGRES_BACKEND } from './runtime';

export const haproxyConfigPath = '/etc/haproxy/haproxy.cfg';

/** Name of the application listen section; the TLS frontend forwards to it. */
export const APP_SECTION = 'backend';

type Section = { header: string; directives: string[] };

/** `statsPassword`: the value of haproxy.stats_auth.password (or a placeholder, for `haflow render`). */
export function renderHaproxyCfg(topology: Topology, host: Host, statsPassword?: string): string {
  requireRole(topology, host, 'haproxy', haproxyConfigPath);
  const bind = bindAddress(topology, host);
  const sections: Section[] = [globalSection(topology), defaultsSection(), statsSection(topology, bind, statsPassword)];
  // In the classic layout each application talks to its own local database: HAProxy sends users only.
  if (topology.layout !== 'classic') sections.push(postgresSection(topology, bind));
  const apps = appHosts(topology);
  if (apps.length > 0) {
    sections.push(appSection(topology, bind, apps));
    // The TLS frontend only forwards to the application servers; without any there is
    // nothing to serve (topology/derive.ts's listeningPorts agrees: no TLS port then).
    const tls = topology.haproxy.tls;
    if (tls) sections.push(tlsFrontend(bind, tls.port, assertIdentifier('hostPath', tls.pem, 'haproxy.tls.pem', haproxyConfigPath)));
  }
  const header = hashComment([...managedHeader(topology, `HAProxy on ${host.name}`), `Check it with: haproxy -c -f ${haproxyConfigPath}`]);
  return `${header}\n\n${sections.map(formatSection).join('\n\n')}\n`;
}

/** `*` (every address, as in the guide) or the HAProxy host's own address. */
function bindAddress(topology: Topology, host: Host): string {
  return topology.haproxy.bind === 'all' ? '*' : host.address;
}

function formatSection(section: Section): string {
  return [section.header, ...section.directives.map((d) => `    ${d}`)].join('\n');
}

function globalSection(topology: Topology): Section {
  return {
    header: 'global',
    directives: [
      // The guide's only global setting comes first.
      `maxconn ${topology.haproxy.maxconn}`,
      // Debian's packaged haproxy.cfg essentials, kept so the packaged unit and
      // `systemctl reload haproxy` (which runs `haproxy -c` first) keep working:
      // drop root into a chroot, and the admin socket the package's tools expect. The socket is
      // also the runtime API a coordinated switchover drives (./runtime.ts): local only.
      'chroot /var/lib/haproxy',
      `stats socket ${HAPROXY_RUNTIME_SOCKET} mode 660 level admin`,
      'user haproxy',
      'group haproxy',
      // Written by haflow just before it reloads HAProxy (./runtime.ts): the new process starts
      // with the servers' states the old one had, rather than every server UP until checked.
      `server-state-file ${HAPROXY_SERVER_STATE_FILE}`,
    ],
  };
}

function defaultsSection(): Section {
  return {
    header: 'defaults',
    directives: [
      'log global',
      'mode tcp',
      'retries 2',
      // Database sessions are long-lived; the guide keeps them open for 30 minutes of silence.
      'timeout client 30m',
      'timeout connect 4s',
      'timeout server 30m',
      'timeout check 5s',
      'load-server-state-from-file global',
    ],
  };
}

function statsSection(topology: Topology, bind: string, password: string | undefined): Section {
  const auth = topology.haproxy.stats_auth;
  if (auth && password === undefined) throw new Error(`cannot write ${haproxyConfigPath}: haproxy.stats_auth is set but its password was not given to the renderer`);
  const username = auth ? assertIdentifier('token', auth.username, 'haproxy.stats_auth.username', haproxyConfigPath) : undefined;
  return {
    header: 'listen stats',
    directives: [
      'mode http',
      `bind ${bind}:${topology.haproxy.stats_port}`,
      'stats enable',
      'stats uri /',
      // Basic authentication: HAProxy answers 401 to a reader without this user and password.
      ...(auth ? [`stats auth ${haproxyQuoted(`${username}:${password}`)}`] : []),
    ],
  };
}

/**
 * One word of haproxy.cfg holding any text: in single quotes HAProxy (2.x) reads every character
 * as it is (blanks, #, double quotes, backslashes, $); a single quote ends the quotes, is written
 * backslash-escaped, and the quotes open again, as in sh.
 */
export function haproxyQuoted(text: string): string {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

/**
 * Writes go to whichever DB node answers 200 on Patroni's REST API: the leader does, replicas
 * answer 503. `on-marked-down shutdown-sessions` cuts clients off a demoted leader at once.
 */
function postgresSection(topology: Topology, bind: string): Section {
  const { haproxy, patroni, postgresql } = topology;
  const { inter, fall, rise } = haproxy.check;
  // With TLS the check speaks HTTPS to Patroni and trusts only certificates from the cluster's CA
  // (which issues them to the DB nodes alone); HAProxy reads the CA file when it starts or reloads.
  const tls = tlsPaths(topology);
  const checkTls = tls ? ` check-ssl verify required ca-file ${tls.caBundle}` : '';
  return {
    header: `listen ${POSTGRES_BACKEND}`,
    directives: [
      `bind ${bind}:${haproxy.postgres_port}`,
      'option httpchk',
      'http-check expect status 200',
      `default-server inter ${haproxyTime(inter)} fall ${fall} rise ${rise} on-marked-down shutdown-sessions`,
      ...dbHosts(topology).map(
        (db) =>
          `server ${db.name} ${db.address}:${postgresql.port} maxconn ${haproxy.server_maxconn} check port ${patroni.rest_api_port}${checkTls}`,
      ),
    ],
  };
}

/**
 * The guide's application section, with one change: the check asks the application's health
 * URL (HTTP 200) instead of opening a TCP connection, so users go only to an application that
 * answers. nginx on the slave is stopped (the guide's rule), so its check fails and the master
 * alone is UP; after an application failover, the other way round.
 */
function appSection(topology: Topology, bind: string, apps: Host[]): Section {
  // app hosts exist, so the layout describes an application; its port defaults to 80.
  const appPort = topology.app?.http_port ?? 80;
  const healthPath = assertIdentifier('urlPath', topology.app?.health_path ?? '/', 'app.health_path', haproxyConfigPath);
  const { inter, fall, rise } = topology.haproxy.check;
  return {
    header: `listen ${APP_SECTION}`,
    directives: [
      `bind ${bind}:${topology.haproxy.app_http_port}`,
      'balance roundrobin',
      'mode tcp',
      `option httpchk GET ${healthPath}`,
      'http-check expect status 200',
      `default-server inter ${haproxyTime(inter)} fall ${fall} rise ${rise} on-marked-down shutdown-sessions`,
      ...apps.map((app) => `server ${app.name} ${app.address}:${appPort} check port ${appPort}`),
    ],
  };
}

/**
 * The classic guide's HTTPS frontend: HAProxy terminates TLS with the combined cert+key PEM.
 *
 * `mode tcp`, not the guide's `mode http` + `option forwardfor`: the application section it
 * forwards to is `mode tcp` (as in the Patroni guide), and HAProxy refuses an HTTP frontend
 * whose default backend is TCP (haproxy -c: "http frontend 'https_front' tries to use
 * incompatible tcp proxy 'backend' as its default backend"). In TCP mode the
 * decrypted bytes go to the same app servers with the same health checks; the price is no
 * X-Forwarded-For header, so the application sees HAProxy's address as the client's.
 */
function tlsFrontend(bind: string, port: number, pem: string): Section {
  return {
    header: 'frontend https_front',
    directives: [`bind ${bind}:${port} ssl crt ${pem}`, 'mode tcp', `default_backend ${APP_SECTION}`],
  };
}

/** HAProxy time: whole seconds as `3s`, fractions as milliseconds (`0.5` -> `500ms`). */
export function haproxyTime(seconds: number): string {
  return Number.isInteger(seconds) ? `${seconds}s` : `${Math.round(seconds * 1000)}ms`;
}
