// The lab's machines behave like separate servers: real sshd, systemctl, namespaces,
// crashes and partitions. Five machines of the distributed layout, all real processes.
import { describe, test } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { renderEtcdDefaults } from '../../activities/etcd/config';
import { renderHaproxyCfg } from '../../activities/haproxy/config';
import { renderPatroniYml } from '../../activities/patroni/config';
import { closeIdleSshSessions, targetFor, withHostSsh, withSsh } from '../../activities/shared/ssh';
import { Lab } from '../../lab';
import type { Topology } from '../../topology';
import { cgroupProcesses, isAlive } from '../../lab/machines';
import { labPaths } from '../../lab/paths';
import { labLeftovers, labTopology, sshRun, useLab } from '../support/lab';

/** The lab's topology without TLS: these tests start the daemons by hand, with no certificates on the machines. */
const plain = (topology: Topology): Topology => ({ ...topology, tls: undefined, security: { insecure: true } });

const currentLab = useLab(labTopology('distributed'));

/** Writes a file on a machine as root, over SSH. */
async function writeRemote(lab: Lab, host: string, path: string, content: string): Promise<void> {
  const target = targetFor(lab.topology, lab.host(host));
  await withSsh(target, (ssh) => ssh.check(`cat > ${path}`, { sudo: true, stdin: content }));
}

/** Can `from` open a TCP connection to address:port? (The probe runs inside `from`, so its cgroup applies.) */
async function reaches(lab: Lab, from: string, address: string, port = 22): Promise<boolean> {
  const probe = await sshRun(lab, from, `timeout 2 bash -c '</dev/tcp/${address}/${port}' && echo open || echo "closed $?"`);
  return probe.stdout.trim() === 'open';
}

/** From the box: does a TCP connect to address:port succeed, get refused, or time out (2 s)? */
function connectOutcome(address: string, port: number): Promise<'open' | 'refused' | 'timeout'> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: address, port });
    const done = (outcome: 'open' | 'refused' | 'timeout') => {
      socket.destroy();
      resolve(outcome);
    };
    socket.setTimeout(2_000, () => done('timeout'));
    socket.once('connect', () => done('open'));
    socket.once('error', () => done('refused'));
  });
}

/** A process that stays until the machine goes: `sleep <seconds>` started on a machine. */
async function startSleeper(lab: Lab, host: string, seconds: number): Promise<void> {
  await sshRun(lab, host, `setsid nohup sleep ${seconds} >/dev/null 2>&1 &`);
}

/** etcd configured, enabled and running on the observer (each test that needs it says so: no test relies on another). */
async function etcdEnabledAndRunning(lab: Lab): Promise<void> {
  if ((await sshRun(lab, 'observer', 'systemctl is-active etcd', { sudo: true })).code !== 0) {
    await writeRemote(lab, 'observer', '/etc/default/etcd', renderEtcdDefaults(plain(lab.topology), lab.host('observer')));
    assert.equal((await sshRun(lab, 'observer', 'systemctl start etcd', { sudo: true })).code, 0, 'etcd starts');
  }
  assert.equal((await sshRun(lab, 'observer', 'systemctl enable etcd', { sudo: true })).code, 0, 'etcd is enabled');
}

describe('lab machines', () => {
  test('a file written under /etc/patroni through one machine is invisible on the others and on the box', async () => {
    const lab = currentLab();
    await writeRemote(lab, 'db1', '/etc/patroni/marker', 'db1 only\n');
    assert.equal((await sshRun(lab, 'db1', 'cat /etc/patroni/marker')).stdout, 'db1 only\n');
    for (const other of ['db2', 'observer', 'app1']) {
      const seen = await sshRun(lab, other, 'test -e /etc/patroni/marker && echo present || echo absent');
      assert.equal(seen.stdout.trim(), 'absent', `${other} must not see db1's file`);
    }
    assert.equal(existsSync('/etc/patroni/marker'), false, 'the box must not see it either');
  });

  test("a package's files and dpkg's records are each machine's own: what one machine writes under /usr and /var/lib/dpkg reaches neither the others nor the box", async () => {
    const lab = currentLab();
    const name = `haflow-lab-marker-${process.pid}`;
    for (const dir of ['/usr/share', '/var/lib/dpkg']) {
      await sshRun(lab, 'db1', `echo db1 > ${dir}/${name}`, { sudo: true });
      assert.equal((await sshRun(lab, 'db1', `cat ${dir}/${name}`)).stdout.trim(), 'db1');
      assert.equal((await sshRun(lab, 'db2', `test -e ${dir}/${name} && echo present || echo absent`)).stdout.trim(), 'absent', `db2's ${dir}`);
      assert.equal(existsSync(`${dir}/${name}`), false, `the box's ${dir}`);
    }
    // What the machine installs stays on its disk, in its overlay's upper layer.
    assert.equal(readFileSync(join(labPaths.machine('db1'), 'usr.upper', 'share', name), 'utf8').trim(), 'db1');
  });

  test('ps on a machine shows only its own processes', async () => {
    const lab = currentLab();
    await startSleeper(lab, 'app1', 4242);
    const onApp1 = await sshRun(lab, 'app1', 'ps -eo pid=,args=');
    const onDb1 = await sshRun(lab, 'db1', 'ps -eo pid=,args=');
    assert.match(onApp1.stdout, /sleep 4242/);
    assert.doesNotMatch(onDb1.stdout, /sleep 4242/);
    assert.match(onDb1.stdout, /^\s*1 \/usr\/bin\/tini/m, "the machine's PID 1 is its own init");
    assert.ok(onDb1.stdout.trim().split('\n').length < 15, `only a handful of processes: ${onDb1.stdout}`);
  });

  test('ssh2 logs in with the lab key as the sudo user and as root, checking host keys against known_hosts', async () => {
    const lab = currentLab();
    const asUser = await sshRun(lab, 'db2', 'id -un; sudo -n id -un; hostname');
    assert.deepEqual(asUser.stdout.trim().split('\n'), ['labadmin', 'root', 'db2']);
    const asRoot = await sshRun(lab, 'db2', 'id -un', { user: 'root' });
    assert.equal(asRoot.stdout.trim(), 'root');
  });

  test('a changed host key is detected and names the host and both fingerprints', async (t) => {
    const lab = currentLab();
    const lines = readFileSync(labPaths.knownHosts, 'utf8').trim().split('\n');
    const app1Keys = lines.filter((l) => l.startsWith('127.0.0.22 ')).map((l) => l.split(' ').slice(1).join(' '));
    // db1 "reinstalled": known_hosts still holds keys, but not the ones db1 presents.
    const tampered = lines.map((l) => (l.startsWith('127.0.0.24 ') ? `127.0.0.24 ${app1Keys[l.includes('ed25519') ? 0 : 1]}` : l));
    const file = join(tmpdir(), `haflow-known-hosts-${process.pid}`);
    writeFileSync(file, tampered.join('\n') + '\n');
    t.after(() => rmSync(file, { force: true }));
    const target = { ...targetFor(lab.topology, lab.host('db1')), knownHosts: file };
    await assert.rejects(
      withSsh(target, async () => undefined),
      (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure);
        assert.equal(err.type, 'HostKeyChanged');
        assert.equal(err.nonRetryable, true);
        assert.match(err.message, /db1 \(127\.0\.0\.24:22\) presented host key SHA256:\S+, but .* expects /);
        assert.match(String((err.details?.[0] as { remedy: string }).remedy), /ssh-keygen -R 127\.0\.0\.24/);
        return true;
      },
    );
  });
});

describe('systemctl on lab machines drives Debian units with systemd exit codes', () => {
  const isActive = async (lab: Lab, host: string, unit: string) => {
    const r = await sshRun(lab, host, `systemctl is-active ${unit}`, { sudo: true });
    return `${r.stdout.trim()} ${r.code}`;
  };

  test('etcd: start, is-active 0, enable, show MainPID, journalctl, stop, is-active 3', async () => {
    const lab = currentLab();
    await sshRun(lab, 'observer', 'systemctl stop etcd; systemctl disable etcd', { sudo: true });
    await writeRemote(lab, 'observer', '/etc/default/etcd', renderEtcdDefaults(plain(lab.topology), lab.host('observer')));
    assert.equal(await isActive(lab, 'observer', 'etcd'), 'inactive 3');
    assert.equal((await sshRun(lab, 'observer', 'systemctl start etcd', { sudo: true })).code, 0);
    assert.equal(await isActive(lab, 'observer', 'etcd'), 'active 0');
    const health = await sshRun(lab, 'observer', 'etcdctl --endpoints 127.0.0.21:2379 endpoint health');
    assert.match(health.stdout + health.stderr, /is healthy/);
    const mainPid = (await sshRun(lab, 'observer', 'systemctl show -p MainPID etcd', { sudo: true })).stdout.trim();
    const etcdPid = (await sshRun(lab, 'observer', 'pgrep -x etcd')).stdout.trim();
    assert.equal(mainPid, `MainPID=${etcdPid}`);
    const journal = await sshRun(lab, 'observer', 'journalctl -u etcd -n 50 --no-pager', { sudo: true });
    assert.match(journal.stdout, /ready to serve client requests/);
    assert.equal((await sshRun(lab, 'observer', 'systemctl disable etcd', { sudo: true })).code, 0);
    assert.equal((await sshRun(lab, 'observer', 'systemctl is-enabled etcd', { sudo: true })).code, 1);
    assert.equal((await sshRun(lab, 'observer', 'systemctl enable etcd', { sudo: true })).code, 0);
    assert.equal((await sshRun(lab, 'observer', 'systemctl is-enabled etcd', { sudo: true })).stdout.trim(), 'enabled');
    await sshRun(lab, 'observer', 'systemctl stop etcd', { sudo: true });
    assert.equal(await isActive(lab, 'observer', 'etcd'), 'inactive 3');
  });

  test('haproxy: start, reload keeps the master process, a broken config fails to start and reports failed', async () => {
    const lab = currentLab();
    // A password of this test's own: the lab's is not needed to start HAProxy by hand.
    const config = renderHaproxyCfg(plain(lab.topology), lab.host('observer'), 'lab-stats-test');
    await writeRemote(lab, 'observer', '/etc/haproxy/haproxy.cfg', config);
    assert.equal((await sshRun(lab, 'observer', 'systemctl start haproxy', { sudo: true })).code, 0);
    assert.equal(await isActive(lab, 'observer', 'haproxy'), 'active 0');
    const before = (await sshRun(lab, 'observer', 'systemctl show -p MainPID haproxy', { sudo: true })).stdout;
    assert.equal((await sshRun(lab, 'observer', 'systemctl reload haproxy', { sudo: true })).code, 0);
    assert.equal((await sshRun(lab, 'observer', 'systemctl show -p MainPID haproxy', { sudo: true })).stdout, before);
    const stats = await sshRun(lab, 'observer', `curl -s -u haflow:lab-stats-test 'http://127.0.0.21:7000/;csv'`);
    assert.match(stats.stdout, /^postgres,db1,/m);
    await sshRun(lab, 'observer', 'systemctl stop haproxy', { sudo: true });
    assert.equal(await isActive(lab, 'observer', 'haproxy'), 'inactive 3');

    await writeRemote(lab, 'observer', '/etc/haproxy/haproxy.cfg', `${config}\nlisten broken\n    bogus_keyword on\n`);
    const start = await sshRun(lab, 'observer', 'systemctl start haproxy', { sudo: true });
    assert.notEqual(start.code, 0, 'starting with a broken config fails');
    assert.equal(await isActive(lab, 'observer', 'haproxy'), 'failed 3');
  });

  test('nginx: start and stop with exit codes; a broken config fails to start and reports failed', async () => {
    const lab = currentLab();
    assert.equal((await sshRun(lab, 'app1', 'systemctl start nginx', { sudo: true })).code, 0);
    assert.equal(await isActive(lab, 'app1', 'nginx'), 'active 0');
    await sshRun(lab, 'app1', 'systemctl disable nginx', { sudo: true });
    assert.equal(await isActive(lab, 'app1', 'nginx'), 'active 0', 'a running unit is active whether or not it is enabled');
    await sshRun(lab, 'app1', 'systemctl stop nginx', { sudo: true });
    assert.equal(await isActive(lab, 'app1', 'nginx'), 'inactive 3');
    await sshRun(lab, 'app1', "echo 'bogus_directive on;' >> /etc/nginx/sites-enabled/serviceops", { sudo: true });
    assert.equal((await sshRun(lab, 'app1', 'systemctl start nginx', { sudo: true })).code, 1);
    assert.equal(await isActive(lab, 'app1', 'nginx'), 'failed 3');
  });

  test('patroni: starts as postgres from /etc/patroni/config.yml and stops', async () => {
    const lab = currentLab();
    const secrets = { superuser: 'lab-super', replication: 'lab-repl', rewind: 'lab-rewind' };
    await writeRemote(lab, 'db1', '/etc/patroni/config.yml', renderPatroniYml(plain(lab.topology), lab.host('db1'), secrets));
    assert.equal((await sshRun(lab, 'db1', 'systemctl start patroni', { sudo: true })).code, 0);
    assert.equal(await isActive(lab, 'db1', 'patroni'), 'active 0');
    const owner = await sshRun(lab, 'db1', 'ps -o user= -p "$(systemctl show -p MainPID patroni | cut -d= -f2)"', { sudo: true });
    assert.equal(owner.stdout.trim(), 'postgres');
    await sshRun(lab, 'db1', 'systemctl stop patroni', { sudo: true });
    assert.equal(await isActive(lab, 'db1', 'patroni'), 'inactive 3');
  });
});

describe('SSH faults: each stops with its own error naming the host and the remedy, and the process stays up', () => {
  const uncaught: Error[] = [];
  const onUncaught = (err: Error) => uncaught.push(err);
  const failure = (type: string, nonRetryable: boolean, message: RegExp, remedy?: RegExp) => (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, type, err.message);
    assert.equal(err.nonRetryable, nonRetryable, `${type} retryable: ${!nonRetryable}`);
    assert.match(err.message, message);
    if (remedy) assert.match(String((err.details?.[0] as { remedy: string } | undefined)?.remedy), remedy);
    return true;
  };
  const scratch = mkdtempSync(join(tmpdir(), 'haflow-ssh-faults-'));

  test('unknown host key, wrong key, wrong password, sudo refused, closed port, no power, a command that hangs, a connection cut mid-command', async () => {
    process.on('uncaughtException', onUncaught);
    try {
      const lab = currentLab();
      const base = targetFor(lab.topology, lab.host('app1'));

      // Unknown host key: not in known_hosts. Not retried: only the operator can vouch for a key.
      const emptyKnownHosts = join(scratch, 'known_hosts');
      writeFileSync(emptyKnownHosts, '');
      await assert.rejects(
        withSsh({ ...base, knownHosts: emptyKnownHosts }, async () => undefined),
        failure('HostKeyUnknown', true, /^app1 \(127\.0\.0\.22:22\) presented host key SHA256:\S+, which is not in /, /ssh-keyscan -p 22 127\.0\.0\.22 >> /),
      );

      // A key the host does not know.
      const strangerKey = join(scratch, 'id_ed25519');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', strangerKey]);
      await assert.rejects(
        withSsh({ ...base, privateKey: strangerKey }, async () => undefined),
        failure('AuthFailed', true, /^labadmin@app1 \(127\.0\.0\.22:22\) refused authentication with key /, /add the public key of .* to ~labadmin\/\.ssh\/authorized_keys on app1/),
      );

      // A wrong password (and no usable key): named by its reference, never shown.
      process.env.HAFLOW_TEST_SSH_PASSWORD = 'not-the-password-4711';
      await assert.rejects(
        withSsh({ ...base, privateKey: join(scratch, 'no-such-key'), password: { env: 'HAFLOW_TEST_SSH_PASSWORD' } }, async () => undefined),
        (err: unknown) => {
          failure('AuthFailed', true, /with the password from environment variable HAFLOW_TEST_SSH_PASSWORD/, /check the password in environment variable HAFLOW_TEST_SSH_PASSWORD/)(err);
          assert.ok(!JSON.stringify({ m: (err as Error).message, d: (err as ApplicationFailure).details }).includes('not-the-password-4711'));
          return true;
        },
      );

      // Sudo refused: a user who may log in but not use sudo. The command never runs; not retried.
      await sshRun(lab, 'app1', 'id nosudo >/dev/null 2>&1 || useradd -m -s /bin/sh nosudo; cp /etc/ssh/authorized_keys/labadmin /etc/ssh/authorized_keys/nosudo', { sudo: true });
      await assert.rejects(
        withSsh({ ...base, user: 'nosudo' }, (ssh) => ssh.exec('touch /root/haflow-was-here', { sudo: true })),
        failure('SudoRefused', true, /^nosudo@app1 \(127\.0\.0\.22\) may not run commands as root with sudo -n: /, /nosudo ALL=\(ALL\) NOPASSWD:ALL' > \/etc\/sudoers\.d\/haflow/),
      );
      assert.equal((await sshRun(lab, 'app1', 'test -e /root/haflow-was-here', { sudo: true })).code, 1, 'the command did not run');

      // A closed port: refused at once; retryable (sshd may be restarting).
      await assert.rejects(
        withSsh({ ...base, port: 2 }, async () => undefined),
        failure('HostUnreachable', false, /^cannot reach labadmin@app1 \(127\.0\.0\.22:2\): connect ECONNREFUSED/, /check that app1 is up, that sshd listens on port 2/),
      );

      // A command that hangs: the session's own time limit, naming the host and the command.
      await assert.rejects(
        withSsh({ ...base, commandTimeoutMs: 1500 }, (ssh) => ssh.exec('sleep 30')),
        failure('CommandTimeout', false, /^app1: command timed out after 1\.5 s: sleep 30/),
      );

      // The connection cut in the middle of a command (its sshd session killed): retryable, and the next attempt works.
      await assert.rejects(
        withSsh(base, async (ssh) => {
          // The sshd session: the parent of `timeout`, which is the command shell's parent.
          const running = ssh.exec('ps -o ppid= -p $PPID > /tmp/haflow-session; sleep 20');
          running.catch(() => undefined); // it fails while the kill below is under way: awaited just after
          await new Promise((resolve) => setTimeout(resolve, 700));
          await sshRun(lab, 'app1', 'kill -9 $(cat /tmp/haflow-session)', { sudo: true });
          return running;
        }),
        failure('HostUnreachable', false, /^app1 \(127\.0\.0\.22\): the connection dropped while running a command/),
      );
      assert.equal((await sshRun(lab, 'app1', 'echo again')).stdout.trim(), 'again');

      // No power: nothing answers, so the connect times out; retryable, with the remedy.
      await lab.crash('app2');
      try {
        const started = Date.now();
        await assert.rejects(
          withSsh({ ...targetFor(lab.topology, lab.host('app2')), connectTimeoutMs: 2000 }, async () => undefined),
          failure('HostUnreachable', false, /^cannot reach labadmin@app2 \(127\.0\.0\.23:22\): Timed out while waiting for handshake/, /check that app2 is up/),
        );
        assert.ok(Date.now() - started < 10_000, 'within its connect timeout');
      } finally {
        await lab.boot('app2');
      }
      assert.deepEqual(uncaught, [], 'no error escaped to the process');
    } finally {
      process.off('uncaughtException', onUncaught);
      delete process.env.HAFLOW_TEST_SSH_PASSWORD;
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});

describe('a command the worker stops waiting for ends on the host too', () => {
  /** The processes on `host` whose command line is exactly `cmdline` (a sleep of a duration no one else uses). */
  const running = async (lab: Lab, host: string, cmdline: string) => (await sshRun(lab, host, `pgrep -fx ${JSON.stringify(cmdline)} || true`)).stdout.trim();

  test('past its time limit: its whole process group is ended on the host, and what it would have done next never happens', async () => {
    const lab = currentLab();
    const base = targetFor(lab.topology, lab.host('app1'));
    const marker = `/tmp/haflow-after-timeout-${Date.now()}`;
    await assert.rejects(withSsh({ ...base, commandTimeoutMs: 1500 }, (ssh) => ssh.exec(`sleep 6.25; touch ${marker}`, { sudo: true })), /command timed out after 1\.5 s/);
    const started = Date.now();
    while ((await running(lab, 'app1', 'sleep 6.25')) !== '' && Date.now() - started < 8_000) await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(await running(lab, 'app1', 'sleep 6.25'), '', 'the sleep is gone from the host');
    assert.ok(Date.now() - started < 8_000, 'ended within seconds of the time limit');
    await new Promise((resolve) => setTimeout(resolve, 6_500));
    assert.equal((await sshRun(lab, 'app1', `test -e ${marker}`)).code, 1, 'the command after the sleep never ran');
  });

  test("a connection gone with its command: the host ends it by itself a few seconds after the worker's limit", async () => {
    const lab = currentLab();
    const base = targetFor(lab.topology, lab.host('app1'));
    await assert.rejects(
      withSsh({ ...base, commandTimeoutMs: 3000 }, async (ssh) => {
        const command = ssh.exec('ps -o ppid= -p $PPID > /tmp/haflow-session; sleep 27.5');
        command.catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 700));
        await sshRun(lab, 'app1', 'kill -9 $(cat /tmp/haflow-session)', { sudo: true });
        return command;
      }),
      /the connection dropped while running a command/,
    );
    assert.notEqual(await running(lab, 'app1', 'sleep 27.5'), '', 'orphaned by its dead session, the command still runs');
    // The worker's limit (3 s) and the host's grace (5 s), then TERM.
    const started = Date.now();
    while ((await running(lab, 'app1', 'sleep 27.5')) !== '' && Date.now() - started < 15_000) await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await running(lab, 'app1', 'sleep 27.5'), '', 'ended by timeout on the host');
  });

  test('a destructive command holds its lock on the host: a second one asking for it waits, then fails as retryable, naming the lock', async () => {
    const lab = currentLab();
    const base = targetFor(lab.topology, lab.host('app1'));
    await withSsh(base, async (ssh) => {
      const first = ssh.exec('sleep 4; echo first done', { sudo: true, lock: 'test-rebuild' });
      await new Promise((resolve) => setTimeout(resolve, 800));
      await assert.rejects(
        withSsh(base, (other) => other.exec('echo second ran', { sudo: true, lock: 'test-rebuild', lockWaitSeconds: 1 })),
        (err: unknown) => {
          assert.ok(err instanceof ApplicationFailure);
          assert.equal(err.nonRetryable, false);
          assert.match(err.message, /^app1: another haflow command still holds the test-rebuild lock \(\/run\/lock\/haflow-test-rebuild\.lock\) after 1 s/);
          return true;
        },
      );
      assert.equal((await first).stdout.trim(), 'first done');
      // Free again: the next one runs.
      assert.equal((await ssh.exec('echo third ran', { sudo: true, lock: 'test-rebuild' })).stdout.trim(), 'third ran');
    });
  });

  test("a connection kept from an earlier step takes the caller's connect bound: a fence of a machine without power gives up within seconds", async () => {
    const lab = currentLab();
    const target = targetFor(lab.topology, lab.host('app2'));
    // One step leaves its connection in the pool…
    await withHostSsh(target, (ssh) => ssh.check('true'));
    await lab.crash('app2');
    try {
      // …and the next, a fence, has 2 s to reach a machine that may be gone.
      const started = Date.now();
      await assert.rejects(withHostSsh({ ...target, connectTimeoutMs: 2000 }, (ssh) => ssh.check('true')), /app2/);
      assert.ok(Date.now() - started < 7_000, `gave up after ${Date.now() - started} ms, not after the topology's ${target.connectTimeoutMs} ms connect timeout`);
    } finally {
      closeIdleSshSessions();
      await lab.boot('app2');
    }
  });
});

describe('crash, boot and partitions', () => {
  test('crash kills every process of the machine and nothing of the others; boot brings back its enabled units', async () => {
    const lab = currentLab();
    const others = ['app1', 'app2', 'db1', 'db2'];
    await etcdEnabledAndRunning(lab);
    await sshRun(lab, 'observer', 'systemctl stop haproxy; systemctl disable haproxy', { sudo: true });
    // Long-lived processes of the other machines: their PID 1 and a sleep on app1.
    await startSleeper(lab, 'app1', 4343);
    const findSleeper = () => cgroupProcesses('app1').find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8') === 'sleep\u00004343\u0000');
    // setsid forks once more before the sleep starts: give it a moment.
    for (let i = 0; i < 40 && !findSleeper(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    const sleeper = findSleeper();
    assert.ok(sleeper, 'the sleep 4343 started on app1 is running');
    const survivors = [...lab.status().filter((m) => others.includes(m.name)).map((m) => m.initPid!), sleeper];
    assert.ok(cgroupProcesses('observer').length > 2);
    await lab.crash('observer');
    assert.deepEqual(cgroupProcesses('observer'), [], 'nothing of the observer survives');
    for (const pid of survivors) assert.ok(isAlive(pid), `process ${pid} of another machine must survive the observer's crash`);
    for (const name of others) assert.equal((await sshRun(lab, name, 'true')).code, 0, `${name} still answers`);
    assert.equal(lab.status().find((m) => m.name === 'observer')!.state, 'off');
    // Like a host without power: connections to it time out, from another machine and from the box.
    assert.equal(await reaches(lab, 'db1', '127.0.0.21'), false);
    const probe = await sshRun(lab, 'db1', `timeout 2 bash -c '</dev/tcp/127.0.0.21/2379' 2>&1; echo "exit $?"`);
    assert.match(probe.stdout, /exit 124/, `timed out, not refused: ${probe.stdout}`);
    assert.equal(await connectOutcome('127.0.0.21', 22), 'timeout', 'from the box too');
    await lab.heal();
    assert.equal(await connectOutcome('127.0.0.21', 22), 'timeout', 'healing partitions does not power it on');

    // Booted from a directory the machine does not have (its /tmp is its own), as a worker
    // started in a clone under /tmp does: the units must start in /, as under systemd.
    const bootedFrom = mkdtempSync(join(tmpdir(), 'haflow-boot-cwd-'));
    const cwd = process.cwd();
    process.chdir(bootedFrom);
    try {
      await lab.boot('observer');
    } finally {
      process.chdir(cwd);
      rmSync(bootedFrom, { recursive: true, force: true });
    }
    assert.equal(await reaches(lab, 'db1', '127.0.0.21'), true, 'reachable again once it boots');
    const etcd = await sshRun(lab, 'observer', 'systemctl is-active etcd', { sudo: true });
    assert.equal(etcd.stdout.trim(), 'active', 'etcd is enabled, so it starts at boot');
    const etcdPid = cgroupProcesses('observer').find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('/usr/bin/etcd'));
    assert.ok(etcdPid, 'etcd runs on the observer');
    assert.equal(readlinkSync(`/proc/${etcdPid}/cwd`), '/', 'a unit started at boot runs in /');
    const haproxy = await sshRun(lab, 'observer', 'systemctl is-active haproxy', { sudo: true });
    assert.equal(haproxy.code, 3, 'haproxy was stopped and disabled before the crash and stays stopped');
  });

  test('partition --from --port drops exactly that traffic, both ways; heal restores it', async () => {
    const lab = currentLab();
    await etcdEnabledAndRunning(lab); // a second port to reach on the observer
    assert.equal(await reaches(lab, 'observer', '127.0.0.24'), true);
    await lab.partition({ host: 'db1', from: 'observer', port: 22 });
    assert.equal(await reaches(lab, 'observer', '127.0.0.24'), false, 'observer -> db1:22 is cut');
    assert.equal(await reaches(lab, 'db1', '127.0.0.21'), false, 'db1 -> observer:22 is cut');
    assert.equal(await reaches(lab, 'app1', '127.0.0.24'), true, 'app1 -> db1 still works');
    assert.equal(await reaches(lab, 'observer', '127.0.0.22'), true, 'observer -> app1 still works');
    assert.equal(await reaches(lab, 'db1', '127.0.0.21', 2379), true, 'other ports between them still work');
    await lab.heal();
    assert.equal(await reaches(lab, 'observer', '127.0.0.24'), true);
    assert.equal(await reaches(lab, 'db1', '127.0.0.21'), true);
  });

  test('a full partition isolates the machine from every other one, and only it', async () => {
    const lab = currentLab();
    await etcdEnabledAndRunning(lab); // a second port to reach on the observer
    await lab.partition({ host: 'db2' });
    assert.equal(await reaches(lab, 'db2', '127.0.0.21', 2379), false);
    assert.equal(await reaches(lab, 'db1', '127.0.0.25'), false);
    assert.equal(await reaches(lab, 'db1', '127.0.0.21', 2379), true);
    assert.equal((await lab.rules()).filter((r) => r.startsWith('-A HAFLOW-LAB')).length, 8, 'two rules per peer');
    await lab.heal();
    assert.equal(await reaches(lab, 'db2', '127.0.0.21', 2379), true);
  });

  test('down leaves no process, cgroup, mount, iptables rule or state of the lab', async () => {
    const lab = currentLab();
    const pids = lab.status().map((m) => m.initPid!);
    const createdMountPoints = lab.createdMountPoints;
    await lab.partition({ host: 'app2' });
    await lab.down();
    assert.deepEqual(labLeftovers(), []);
    assert.deepEqual(await lab.rules(), []);
    for (const pid of pids) assert.equal(isAlive(pid), false, `machine init ${pid} is gone`);
    for (const dir of createdMountPoints) assert.equal(existsSync(dir), false, `the mount point ${dir} the lab created is removed`);
    await currentLab.powerOn(); // for any test that runs after this one
  });
});
