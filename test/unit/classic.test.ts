// The classic layout without a machine: what haflow writes for its PostgreSQL, its HAProxy and
// firewall matrix (no database port on HAProxy, no Patroni API), the runbooks it refuses, and its
// failover, fence and switchback runbooks (the database moves with the application).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { renderHaproxyCfg } from '../../activities/haproxy/config';
import { appDatabaseUrl } from '../../activities/app/config';
import { classicPostgresFiles, renderClassicPgHba, renderStreamingConf } from '../../activities/postgres/streaming-config';
import { fenceMarkerText, shutdownCheckpoint } from '../../activities/postgres/classic-failover';
import { runbookFor, UnsupportedLayoutError } from '../../client/runbooks';
import { appFailoverSteps, appFenceSteps } from '../../runbooks/app-failover';
import { flattenSteps, isGroup, stepsIn } from '../../runbooks/runbook';
import { firewallMatrix, hostByName, listeningPorts, loadTopology } from '../../topology';
import { classicMaster, classicSlaves } from '../../topology/derive';

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

test('pg_hba.conf: peer on the socket, replication from the DB nodes, clients from the cluster, all with scram over TLS (hostssl: the example has TLS); start.conf: auto', () => {
  assert.equal(
    renderClassicPgHba(topology, master).split('\n').filter((l) => !l.startsWith('#')).join('\n'),
    [
      'local all all peer',
      'hostssl replication replicator 172.16.8.241/32 scram-sha-256',
      'hostssl replication replicator 172.16.8.240/32 scram-sha-256',
      'hostssl replication replicator 127.0.0.1/32 scram-sha-256',
      'hostssl all all 172.16.8.241/32 scram-sha-256',
      'hostssl all all 172.16.8.240/32 scram-sha-256',
      'hostssl all all 172.16.8.100/32 scram-sha-256',
      'hostssl all all 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'),
  );
  assert.deepEqual(
    classicPostgresFiles(topology, master).map((f) => [f.path, f.owner, f.mode.toString(8)]),
    [
      ['/etc/postgresql/16/main/conf.d/haflow-streaming.conf', 'postgres', '644'],
      ['/etc/postgresql/16/main/pg_hba.conf', 'postgres', '640'],
      ['/etc/postgresql/16/main/start.conf', 'postgres', '644'],
    ],
  );
  assert.match(classicPostgresFiles(topology, master)[2].content, /^# Managed by haflow[\s\S]*\nauto\n$/);
});

test('HAProxy sends users only: no database port, nothing asks a Patroni API', () => {
  const cfg = renderHaproxyCfg(topology, hostByName(topology, 'haproxy'), 'stats-password');
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

test('a classic failover fences the old master (database and application) and keeps users off it before the slave is promoted; no Patroni gate', () => {
  const runbook = appFailoverSteps(lab, { from: 'master', to: 'slave', planned: false });
  assert.equal(runbook.name, 'app-failover');
  const [prepare] = runbook.items;
  assert.ok(isGroup(prepare));
  assert.deepEqual(stepsIn(prepare).map((s) => `${s.id} ${s.attempts}`), ['app.fence@master 1', 'db.fence@master 1', 'haproxy.route@observer undefined']);
  assert.deepEqual(
    flattenSteps(runbook).map((s) => s.id),
    ['app.fence@master', 'db.fence@master', 'haproxy.route@observer', 'db.promote@slave', 'app.serving@slave', 'app.role@slave', 'verify.app@observer', 'app.role@master'],
  );
  const promote = flattenSteps(runbook).find((s) => s.id === 'db.promote@slave')!;
  assert.deepEqual(promote.input, { host: 'slave', from: 'master' });
  assert.equal(flattenSteps(runbook).some((s) => s.activity === 'databaseHasLeader'), false);
});

test('a classic switchback rebuilds the old master as a standby first, hands over with the current master shut down cleanly, and ends with both streaming', () => {
  const runbook = appFailoverSteps(lab, { from: 'slave', to: 'master', planned: true });
  assert.equal(runbook.name, 'app-switchback');
  assert.deepEqual(
    flattenSteps(runbook).map((s) => s.id),
    [
      'db.standby@master',
      'db.streaming@master',
      'app.fence@slave',
      'db.fence@slave',
      'db.promote@master',
      'haproxy.route@observer',
      'app.serving@master',
      'app.role@master',
      'verify.app@observer',
      'app.role@slave',
      'db.standby@slave',
      'db.streaming@slave',
    ],
  );
  const input = (id: string) => flattenSteps(runbook).find((s) => s.id === id)!.input;
  assert.deepEqual(input('db.standby@master'), { host: 'master', master: 'slave' });
  assert.deepEqual(input('db.promote@master'), { host: 'master', from: 'slave', planned: true });
  assert.deepEqual(input('db.standby@slave'), { host: 'slave', master: 'master' });
});

test('the late fence of a classic old master covers its database too', () => {
  assert.deepEqual(flattenSteps(appFenceSteps(lab, 'master', 'slave')).map((s) => s.id), ['app.fence@master', 'db.fence@master', 'app.role@master']);
});

test("pg_controldata: the shutdown checkpoint of a cluster that shut down cleanly, nothing for one that did not", () => {
  const clean = 'pg_control version number:            1300\nDatabase cluster state:               shut down\nLatest checkpoint location:           0/3000028\n';
  assert.equal(shutdownCheckpoint(clean), '0/3000028');
  assert.equal(shutdownCheckpoint(clean.replace('shut down', 'in production')), undefined);
  assert.equal(shutdownCheckpoint(clean.replace('shut down', 'shut down in recovery')), undefined);
});

test('the fence marker says why the node is fenced and what brings it back', () => {
  const text = fenceMarkerText(lab, hostByName(lab, 'master'), 'slave', new Date('2026-11-29T12:00:00Z'));
  assert.match(text, /^master was fenced by haflow at 2026-11-29T12:00:00\.000Z: the database of cluster lab-classic failed over to slave\./);
  assert.match(text, /`haflow app switchback lab-classic` rebuilds it as a standby of slave/);
});
