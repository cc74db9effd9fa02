// systemd unit renderers, read back as INI sections and checked against the tutorial's
// patroni.service (the five-node tutorial, Step 7) adapted to Debian, and against Debian's own units when the
// packages are installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { etcdDefaultsPath } from '../../activities/etcd/config';
import { etcdUnitPath, renderEtcdUnit } from '../../activities/etcd/unit';
import { patroniConfigPath } from '../../activities/patroni/config';
import { patroniUnitPath, renderPatroniUnit } from '../../activities/patroni/unit';
import { findExecutable, loopbackLab } from '../support/topologies';
import { requires } from '../support/requires';

// ---- reading a unit back ----

/** Section name -> its Key=Value pairs in order (keys such as After= may repeat). */
type Unit = Map<string, [string, string][]>;

function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let current: [string, string][] | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      assert.ok(!unit.has(header[1]), `[${header[1]}] twice`);
      current = [];
      unit.set(header[1], current);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(current && eq > 0, `not a Key=Value line inside a section: ${line}`);
    current.push([line.slice(0, eq), line.slice(eq + 1)]);
  }
  return unit;
}

function section(unit: Unit, name: string): [string, string][] {
  const found = unit.get(name);
  assert.ok(found, `no [${name}] section`);
  return found;
}

/** The single value of a key that may appear once. */
function value(unit: Unit, sectionName: string, key: string): string | undefined {
  const values = section(unit, sectionName).filter(([k]) => k === key);
  assert.ok(values.length <= 1, `${key}= set ${values.length} times`);
  return values[0]?.[1];
}

// ---- topology ----

const t = loopbackLab();

/** A skip reason unless Debian's packaged unit is installed here. */
function unlessInstalled(unitFile: string, debianPackage: string): string | false {
  return requires(existsSync(unitFile) ? false : `${unitFile} is not installed (Debian package ${debianPackage})`);
}

// ---- patroni.service ----

test("patroni.service: the tutorial's unit, adapted to Debian", () => {
  const unit = parseUnit(renderPatroniUnit(t));
  assert.deepEqual([...unit.keys()], ['Unit', 'Service', 'Install']);
  assert.deepEqual(section(unit, 'Unit'), [
    ['Description', 'High availability PostgreSQL Cluster (Patroni)'],
    ['After', 'network-online.target'],
    ['Wants', 'network-online.target'],
    ['ConditionPathExists', '/etc/patroni/config.yml'],
  ]);
  assert.deepEqual(section(unit, 'Service'), [
    ['Type', 'simple'],
    ['User', 'postgres'],
    ['Group', 'postgres'],
    ['ExecStart', '/usr/bin/patroni /etc/patroni/config.yml'], // Debian's path, not pip's /usr/local/bin
    ['ExecReload', '/bin/kill -s HUP $MAINPID'],
    ['KillMode', 'process'],
    ['TimeoutSec', '30'],
    ['Restart', 'on-failure'], // not the tutorial's Restart=no: see units.ts
  ]);
  assert.deepEqual(section(unit, 'Install'), [['WantedBy', 'multi-user.target']]);
  assert.equal(value(unit, 'Service', 'ExecStart'), `/usr/bin/patroni ${patroniConfigPath}`);
  assert.equal(patroniUnitPath, '/etc/systemd/system/patroni.service');
});

const debianPatroni = '/lib/systemd/system/patroni.service';
test(
  "patroni.service runs Patroni the way Debian's packaged unit does",
  { skip: unlessInstalled(debianPatroni, 'patroni') },
  () => {
    const ours = parseUnit(renderPatroniUnit(t));
    const debian = parseUnit(readFileSync(debianPatroni, 'utf8'));
    for (const key of ['Type', 'User', 'Group', 'ExecStart', 'ExecReload', 'KillMode', 'TimeoutSec', 'Restart']) {
      assert.equal(value(ours, 'Service', key), value(debian, 'Service', key), `Service.${key}`);
    }
    assert.equal(value(ours, 'Unit', 'ConditionPathExists'), value(debian, 'Unit', 'ConditionPathExists'));
    assert.equal(value(ours, 'Install', 'WantedBy'), value(debian, 'Install', 'WantedBy'));
  },
);

// ---- etcd.service ----

test('etcd.service: notify, runs as etcd, settings from /etc/default/etcd', () => {
  const unit = parseUnit(renderEtcdUnit(t));
  assert.deepEqual([...unit.keys()], ['Unit', 'Service', 'Install']);
  assert.deepEqual(section(unit, 'Unit'), [
    ['Description', 'etcd - highly-available key value store'],
    ['Documentation', 'https://etcd.io/docs'],
    ['Documentation', 'man:etcd'],
    ['After', 'network-online.target'],
    ['Wants', 'network-online.target'],
  ]);
  assert.deepEqual(section(unit, 'Service'), [
    ['Type', 'notify'],
    ['User', 'etcd'],
    ['EnvironmentFile', '-/etc/default/etcd'],
    ['ExecStart', '/usr/bin/etcd'],
    ['Restart', 'on-failure'],
    ['LimitNOFILE', '65536'],
  ]);
  assert.deepEqual(section(unit, 'Install'), [['WantedBy', 'multi-user.target']]);
  // The environment file is the one the etcd renderer writes.
  assert.equal(value(unit, 'Service', 'EnvironmentFile'), `-${etcdDefaultsPath}`);
  assert.equal(etcdUnitPath, '/etc/systemd/system/etcd.service');
});

const debianEtcd = '/lib/systemd/system/etcd.service';
test(
  "etcd.service keeps what Debian's packaged unit relies on",
  { skip: unlessInstalled(debianEtcd, 'etcd-server') },
  () => {
    const ours = parseUnit(renderEtcdUnit(t));
    const debian = parseUnit(readFileSync(debianEtcd, 'utf8'));
    for (const key of ['Type', 'User', 'LimitNOFILE']) {
      assert.equal(value(ours, 'Service', key), value(debian, 'Service', key), `Service.${key}`);
    }
    // Debian spells the same file as /etc/default/%p (%p = "etcd").
    assert.equal(value(debian, 'Service', 'EnvironmentFile'), '-/etc/default/%p');
  },
);

// ---- file-level properties ----

test('units say haflow manages them, and rendering is deterministic', () => {
  for (const render of [renderPatroniUnit, renderEtcdUnit]) {
    const text = render(t);
    assert.match(text.split('\n')[0], /^# Managed by haflow \(cluster pgha\)/);
    assert.equal(render(t), text);
  }
});

// ---- systemd's own parser ----

const analyze = findExecutable('systemd-analyze');

test(
  'systemd-analyze verify finds nothing wrong with either unit',
  { skip: requires(analyze ? false : 'systemd-analyze is not installed (Debian package systemd)') },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'haflow-units-'));
    try {
      for (const [name, text] of [
        ['patroni.service', renderPatroniUnit(t)],
        ['etcd.service', renderEtcdUnit(t)],
      ]) {
        const file = join(dir, name);
        writeFileSync(file, text);
        const run = spawnSync(analyze as string, ['verify', file], { encoding: 'utf8' });
        // verify exits 0 even for unknown keys, so read what it says. A program or man page
        // that is not installed on this machine is not a fault of the unit.
        const complaints = `${run.stdout}${run.stderr}`
          .split('\n')
          .filter((l) => l.trim() !== '')
          .filter((l) => !/Command \S+ is not executable|Command 'man \S+' failed/.test(l));
        assert.deepEqual(complaints, [], `${name}:\n${complaints.join('\n')}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
