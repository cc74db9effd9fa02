// Lab fixtures for end-to-end tests: bare machines before, nothing left after, even when a
// test fails or the run is interrupted.
import { after, before } from 'node:test';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../lab';
import { labPaths } from '../../lab/paths';
import { targetFor, withSsh, type ExecResult } from '../../activities/shared/ssh';

/**
 * A lab topology by layout. With HAFLOW_LAB_OS=debian13 the same layout on Debian 13 machines
 * (`<name>-debian13.yaml`, the same cluster name): the lab's and end-to-end tests run on that platform.
 */
export function labTopology(name: 'standalone' | 'distributed' | 'generic' | 'classic' | 'classic-patroni' | 'standalone-debian13'): string {
  const onDebian13 = process.env.HAFLOW_LAB_OS === 'debian13' && !name.endsWith('-debian13');
  return join(__dirname, '../../lab/topologies', `${name}${onDebian13 ? '-debian13' : ''}.yaml`);
}

/** The lab of a test file: `current()` is the lab that is up; `wipe()` brings it back to bare machines; `powerOn()` brings a downed lab back. */
export type LabHandle = (() => Lab) & { wipe(): Promise<Lab>; powerOn(): Promise<Lab> };

/** Brings up bare machines for the file's tests and always takes them down; `machineOs` as in Lab.up. */
export function useLab(topologyFile: string, options: { machineOs?: Record<string, string> } = {}): LabHandle {
  let lab: Lab | undefined;
  const stop = async () => {
    // What is on disk: a fault driver (`haflow lab crash|boot`) may have changed the machines since.
    const current = Lab.current() ?? lab;
    lab = undefined;
    await current?.down();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    void stop().finally(() => process.kill(process.pid, signal));
  };
  before(async () => {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    lab = await Lab.up(topologyFile, { wipe: true, machineOs: options.machineOs });
  });
  after(async () => {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await stop();
  });
  const current = () => {
    if (!lab) throw new Error('the lab is not up');
    // Re-read from disk each time: `haflow lab` commands run by fault drivers change the state.
    lab = Lab.current() ?? lab;
    return lab;
  };
  return Object.assign(current, {
    wipe: async () => {
      lab = await current().wipe();
      return lab;
    },
    powerOn: async () => {
      lab = await Lab.up(topologyFile, { machineOs: options.machineOs });
      return lab;
    },
  });
}

/** Runs a command on a lab machine over SSH as the topology's user, as haflow does. */
export function sshRun(lab: Lab, host: string, command: string, options: { sudo?: boolean; user?: string; stdin?: string } = {}): Promise<ExecResult> {
  const target = targetFor(lab.topology, lab.host(host));
  return withSsh({ ...target, user: options.user ?? target.user }, (ssh) => ssh.exec(command, { sudo: options.sudo, stdin: options.stdin }));
}

/** What the lab could leave behind on the box: processes, cgroups, iptables rules, mounts. */
export function labLeftovers(): string[] {
  const left: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      // A zombie has exited and only waits for the box's init to reap it (machines started by
      // an earlier `haflow lab` command are its children once that command has exited).
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes('/haflow-lab')) left.push(`process ${pid} in a lab cgroup`);
    } catch {
      // exited while we looked
    }
  }
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    if (line.includes(labPaths.root)) left.push(`mount ${line}`);
  }
  const cgroupRoot = readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.split(' ')[2] === 'cgroup2')?.split(' ')[1];
  if (cgroupRoot && existsSync(join(cgroupRoot, 'haflow-lab'))) left.push(`cgroup ${join(cgroupRoot, 'haflow-lab')}`);
  if (existsSync(labPaths.state)) left.push(`state file ${labPaths.state}`);
  return left;
}

/**
 * A fingerprint of a machine's disk (content, owner and mode of every file), logs excluded:
 * equal before and after means nothing on the machine was changed.
 */
export function diskFingerprint(name: string, dirs = 'etc home opt data var/lib'): string {
  const root = labPaths.machine(name);
  return execFileSync(
    'sh',
    ['-c', `find ${dirs} -xdev -type f -printf "%p %U:%G %m\\n" | sort; find ${dirs} -xdev -type f -print0 | sort -z | xargs -0 sha256sum`],
    { cwd: root, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
  );
}
