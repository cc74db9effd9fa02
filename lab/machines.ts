// Lab machines as processes: each is `unshare` (new mount, UTS, IPC and PID namespaces)
// running tini as the machine's PID 1, placed in its own cgroup. Every process is tracked
// by PID; nothing is ever killed by name (the box sees every machine's postgres).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { CGROUP_PARENT, PRIVATE_DIRS, labPaths, labSources } from './paths';
import { cgroup2Root, LabError } from './prereq';

export interface RunningMachine {
  /** The `unshare` process on the box; when it dies the machine's PID 1 is killed with it (--kill-child). */
  unsharePid: number;
  /** tini, PID 1 inside the machine; killing it with SIGKILL kills every process of the machine at once. */
  initPid: number;
  bootedAt: string;
}

export function cgroupDir(name: string): string {
  return join(cgroup2Root(), CGROUP_PARENT, name);
}

/** Alive and not a zombie, and still the process we started (PIDs get reused). */
export function isAlive(pid: number, expect?: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    if (!expect) return true;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(expect);
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 500 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function consoleTail(name: string): string {
  try {
    return readFileSync(labPaths.console(name), 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no console output)';
  }
}

/**
 * Powers a machine on. On its first boot nothing but sshd starts (a bare, freshly
 * provisioned server); on later boots its enabled units start, as after a reboot.
 * `rootfsImage`: the machine runs another OS, whose root file system (this image's /usr under
 * the machine's own) it pivots into; without it, the machine runs the box's OS.
 */
export async function bootMachine(name: string, address: string, sshPort: number, firstBoot: boolean, rootfsImage?: string): Promise<RunningMachine> {
  const cgroup = cgroupDir(name);
  mkdirSync(cgroup, { recursive: true });
  mkdirSync(labPaths.consoles, { recursive: true });
  const consoleFd = openSync(labPaths.console(name), 'a');
  // The shell joins the machine's cgroup before exec, so every process of the machine is in it.
  const script = 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"';
  const child = spawn(
    '/bin/sh',
    [
      '-c', script, 'lab-boot', cgroup,
      'unshare', '--mount', '--uts', '--ipc', '--pid', '--fork', '--kill-child', '--mount-proc', '--propagation', 'private',
      '/usr/bin/tini', '-s', '--',
      labSources.init, name, address, labPaths.machine(name), labPaths.bin, firstBoot ? '1' : '0', rootfsImage ?? '-',
    ],
    { detached: true, stdio: ['ignore', consoleFd, consoleFd], env: { ...process.env, LAB_PRIVATE_DIRS: PRIVATE_DIRS.join(' ') } },
  );
  closeSync(consoleFd);
  child.unref();
  const unsharePid = child.pid!;
  const deadline = Date.now() + 15_000;
  let initPid = 0;
  while (Date.now() < deadline) {
    if (!isAlive(unsharePid)) throw new LabError(`machine ${name} did not boot:\n${consoleTail(name)}`);
    if (!initPid) {
      const children = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim();
      initPid = Number(children.split(' ')[0]) || 0;
    }
    const booted = initPid > 0 && existsSync(`/proc/${initPid}/root/run/lab-booted`);
    if (booted && (await tcpOpen(address, sshPort))) {
      return { unsharePid, initPid, bootedAt: new Date().toISOString() };
    }
    await sleep(50);
  }
  killMachine({ unsharePid, initPid, bootedAt: '' });
  throw new LabError(`machine ${name} did not finish booting (sshd on ${address}:${sshPort}, enabled units) within 15 s:\n${consoleTail(name)}`);
}

/** Power cut: SIGKILL to the machine's PID 1 makes the kernel kill every process in it at once. */
export function killMachine(machine: RunningMachine): void {
  for (const pid of [machine.initPid, machine.unsharePid]) {
    if (pid && isAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/**
 * Waits until none of the machine's processes is left (bounded); false if some survived. What is
 * left in its cgroup once its init is gone is killed too: a machine whose pids the state file lost
 * (a lab command interrupted between a crash and a boot) still powers off.
 */
export async function waitForMachineGone(name: string, machine: RunningMachine, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const left = cgroupProcesses(name);
    if (!isAlive(machine.unsharePid) && !isAlive(machine.initPid) && left.length === 0) return true;
    if (!isAlive(machine.initPid)) {
      for (const pid of left) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
    await sleep(50);
  }
  return false;
}

/** Graceful poweroff: PID 1 forwards SIGTERM to the machine's init, which stops its units. */
export async function shutdownMachine(name: string, machine: RunningMachine, graceMs = 10_000): Promise<void> {
  if (isAlive(machine.initPid)) {
    try {
      process.kill(machine.initPid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  if (await waitForMachineGone(name, machine, graceMs)) return;
  killMachine(machine);
  if (!(await waitForMachineGone(name, machine, 5_000))) {
    throw new LabError(`machine ${name}: processes ${cgroupProcesses(name).join(' ')} survived SIGKILL`);
  }
}

/** Every process in the machine's cgroup, as the box sees them. */
export function cgroupProcesses(name: string): number[] {
  const procs = join(cgroupDir(name), 'cgroup.procs');
  if (!existsSync(procs)) return [];
  return readFileSync(procs, 'utf8').split('\n').filter(Boolean).map(Number);
}

export function removeCgroup(name: string): void {
  const dir = cgroupDir(name);
  if (existsSync(dir)) rmdirSync(dir);
}

export function removeCgroupParent(): void {
  const dir = join(cgroup2Root(), CGROUP_PARENT);
  if (existsSync(dir)) rmdirSync(dir);
}
