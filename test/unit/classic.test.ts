// The classic layout without a machine: what haflow writes for its PostgreSQL, its HAProxy and
// firewall matrix (no database port on HAProxy, no Patroni API), and the runbooks it refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { renderHaproxyCfg } from '../../activities/haproxy/config';
import { appDatabaseUrl } from '../../activities/app/config';
import { classicMaster, classicSlaves } from '../../activities/postgres/streaming';
import { classicPostgresFiles, renderClassicPgHba, renderStreamingConf } from '../../activities/postgres/streaming-config';
import { runbookFor, UnsupportedLayoutError } from '../../client/runbooks';
import { firewallMatrix, hostByName, listeningPorts, loadTopology } from '../../topology';

const { topology } = loadTopology(join(__dirname, '../../topology/examples/classic.yaml'));
const lab = loadTopology(join(__dirname, '../../lab/topologies/classic.yaml')).topology;
const master = hostByName(topology, 'master');

test('the master is app.master (else the first app host); every other DB host is a slave', () => {
  assert.equal(classicMaster(topology).name, 'master');
  assert.deepEqual(classicSlaves(topology).map((h) => h.name), ['slave']);
  const swapped = { ...topology, app: { ...topology.app!, master: 'slave' } };
  assert.equal(classicMaster(swapped).name, 'slave');
  assert.deepEqual(classicSlaves(swapped).map((h) => h.name), ['master']);
});

test("the replication settings: the host's own address only, WAL for a standby and for pg_rewind, the operator's parameters last", () => {
  const conf = renderStreamingConf({ ...topology, postgresql: { ...topology.postgresql, parameters: { max_connections: 300, hot_standby_feedback: true } } }, master);
  assert.match(conf, /^# Managed by haflow \(cluster serviceops-classic\)/);
  assert.match(conf, /\nlisten_addresses = '172\.16\.8\.241'\nport = 5432\nwal_level = 'replica'\n/);
  assert.match(conf, /\nwal_log_hints = 'on'\n/);
  assert.match(conf, /\nmax_connections = 300\nhot_standby_feedback = 'on'\n$/);
});

test('pg_hba.conf: peer on the socket, replication from the DB nodes, clients from the cluster, all with scram', () => {
  assert.equal(
    renderClassicPgHba(topology, master).split('\n').filter((l) => !l.startsWith('#')).join('\n'),
    [
      'local all all peer',
      'host replication replicator 172.16.8.241/32 scram-sha-256',
      'host replication replicator 172.16.8.240/32 scram-sha-256',
      'host replication replicator 127.0.0.1/32 scram-sha-256',
      'host all all 172.16.8.241/32 scram-sha-256',
      'host all all 172.16.8.240/32 scram-sha-256',
      'host all all 172.16.8.100/32 scram-sha-256',
      'host all all 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'),
  );
  assert.deepEqual(
    classicPostgresFiles(topology, master).map((f) => [f.path, f.owner, f.mode.toString(8)]),
    [
      ['/etc/postgresql/16/main/conf.d/haflow-streaming.conf', 'postgres', '644'],
      ['/etc/postgresql/16/main/pg_hba.conf', 'postgres', '640'],
    ],
  );
});

test('HAProxy sends users only: no database port, nothing asks a Patroni API', () => {
  const cfg = renderHaproxyCfg(topology, hostByName(topology, 'haproxy'));
  assert.doesNotMatch(cfg, /listen postgres|8008|:5000/);
  assert.match(cfg, /listen backend[\s\S]*server master 172\.16\.8\.241:80 check port 80\n\s+server slave 172\.16\.8\.240:80 check port 80/);
  assert.match(cfg, /frontend https_front\n\s+bind 172\.16\.8\.100:443 ssl crt \/etc\/ssl\/example\.pem/);
  assert.deepEqual(listeningPorts(topology, hostByName(topology, 'haproxy')).map((p) => p.owner), ['ssh', 'haproxy.stats_port', 'haproxy.app_http_port', 'haproxy.tls.port']);
  const paths = firewallMatrix(topology).map((r) => `${r.from.name}>${r.to.name}:${r.port}`);
  assert.deepEqual(paths.sort(), ['haproxy>master:80', 'haproxy>slave:80', 'master>slave:5432', 'slave>master:5432'].sort());
});

test("each application node's files point at its own database", () => {
  assert.equal(appDatabaseUrl(lab, hostByName(lab, 'master')), 'jdbc:postgresql://127.0.0.42:5432/flotomate');
  assert.equal(appDatabaseUrl(lab, hostByName(lab, 'slave')), 'jdbc:postgresql://127.0.0.43:5432/flotomate');
});

test('the install runs on a classic topology; the runbooks that work through Patroni refuse it, naming the layout', () => {
  const install = runbookFor('install', topology, undefined);
  assert.ok(install.items.length > 0);
  assert.throws(
    () => runbookFor('switchover', topology, { leader: 'master', candidate: 'slave' }),
    (err: Error) => err instanceof UnsupportedLayoutError && /^layout: classic \(cluster serviceops-classic\): haflow's switchover runbook works through Patroni and runs on the layouts standalone, distributed, patroni; haflow install sets up a classic cluster/.test(err.message),
  );
});
