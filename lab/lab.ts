// The lab: real machines on one box for a topology whose hosts have loopback addresses.
// haflow talks to them exactly as to servers: addresses, an SSH user, a key, known_hosts.
import { existsSync, mkdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadTopology, type Host, type Topology } from '../topology';
import { createMachineDisk, diskOs, ensureImages, imageOf, machineOs, writeKnownHosts } from './disk';
import {
  bootMachine,
  cgroupProcesses,
  isAlive,
  killMachine,
  removeCgroup,
  removeCgroupParent,
  shutdownMachine,
  waitForMachineGone,
  type RunningMachine,
} from './machines';
import { addPartition, dropTrafficTo, healAll, listRules, removeChain, restoreTrafficTo, type Partition } from './network';
import { BOX_OS, labPaths, PRIVATE_DIRS, USR_OVERLAY } from './paths';
import { checkPrerequisites, ensureKeyPair, ensureTlsCertificate, installSystemctl, LabError } from './prereq';


interface LabState {
  topologyFile: string;
  cluster: string;
  machines: Record<string, { address: string; sshPort: number; os?: string; running?: RunningMachine }>;
  partitions: Partition[];
  /** Empty directories the lab created on the box to mount machine disks on (e.g. /data). */
  createdMountPoints: string[];
}

export interface MachineStatus {
  name: string;
  address: string;
  state: 'running' | 'crashed' | 'off';
  initPid?: number;
  processes: number;
}

function readState(): LabState | undefined {
  if (!existsSync(labPaths.state)) return undefined;
  return JSON.parse(readFileSync(labPaths.state, 'utf8')) as LabState;
}

/** Written to a temp file and renamed: a `haflow lab` command reading it meanwhile sees the old state or the new, never half of one. */
function writeState(state: LabState): void {
  const temp = `${labPaths.state}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(state, null, 2) + '\n');
  renameSync(temp, labPaths.state);
}

function assertLoopback(topology: Topology, file: string): void {
  const outside = topology.hosts.filter((h) => !/^127\.\d+\.\d+\.\d+$/.test(h.address));
  if (outside.length > 0) {
    throw new LabError(
      `${file}: the lab creates machines on loopback addresses (127.0.0.0/8) only; ` +
        `${outside.map((h) => `${h.name} has ${h.address}`).join(', ')}`,
    );
  }
}

/** The machine's disk has every directory a machine keeps of its own, and the OS its topology says. */
function diskComplete(name: string, os: string): boolean {
  const root = labPaths.machine(name);
  return (diskOs(name) ?? BOX_OS) === os && [...PRIVATE_DIRS, USR_OVERLAY.upper, USR_OVERLAY.work].every((dir) => existsSync(join(root, dir)));
}

export class Lab {
  private constructor(
    readonly topology: Topology,
    private state: LabState,
  ) {}

  /**
   * Brings up every machine of the topology, bare on first creation. Replaces any lab already up.
   * `machineOs` boots a machine as another OS than its topology says, as a site's machine
   * installed with the wrong release would be (what the preflight must refuse).
   */
  static async up(topologyFile: string, options: { wipe?: boolean; progress?: (line: string) => void; machineOs?: Record<string, string> } = {}): Promise<Lab> {
    const file = resolve(topologyFile);
    const { topology } = loadTopology(file);
    assertLoopback(topology, file);
    for (const name of Object.keys(options.machineOs ?? {})) {
      if (!topology.hosts.some((h) => h.name === name)) throw new LabError(`machineOs names ${name}, which is not a host of ${file}`);
    }
    // What each machine boots as: the topology's word, unless machineOs says otherwise.
    const machines = { ...topology, hosts: topology.hosts.map((h) => (options.machineOs?.[h.name] ? { ...h, os: options.machineOs[h.name] } : h)) };
    const oses = new Map(machines.hosts.map((h) => [h.name, machineOs(machines, h)]));
    await checkPrerequisites();
    const previous = readState();
    if (previous) await Lab.fromState(previous).down();
    await Promise.all([installSystemctl(), ensureKeyPair(), ensureTlsCertificate(), ensureImages([...oses.values()], options.progress)]);
    const state: LabState = { topologyFile: file, cluster: topology.cluster, machines: {}, partitions: [], createdMountPoints: [] };
    for (const dir of PRIVATE_DIRS.map((d) => `/${d}`)) {
      if (!existsSync(dir)) {
        mkdirSync(dir);
        state.createdMountPoints.push(dir);
      }
    }
    const sameLab = previous?.topologyFile === file && !options.wipe;
    // A disk made by an older recipe (without a directory a machine now has of its own) is made again, bare.
    const fresh = topology.hosts.filter((h) => !sameLab || !diskComplete(h.name, oses.get(h.name)!));
    const knownHosts = await Promise.all(machines.hosts.map((h, i) => (fresh.includes(topology.hosts[i]) ? createMachineDisk(machines, h) : undefined)));
    if (fresh.length > 0) writeKnownHosts(mergeKnownHosts(topology, knownHosts));
    for (const host of topology.hosts) {
      state.machines[host.name] = { address: host.address, sshPort: host.ssh?.port ?? topology.ssh.port, os: oses.get(host.name) };
    }
    writeState(state);
    const lab = new Lab(topology, state);
    await Promise.all(topology.hosts.map((h) => lab.start(h, fresh.includes(h))));
    return lab;
  }

  /** The lab that is up now, if any. */
  static current(): Lab | undefined {
    const state = readState();
    return state ? Lab.fromState(state) : undefined;
  }

  private static fromState(state: LabState): Lab {
    let topology: Topology;
    try {
      topology = loadTopology(state.topologyFile).topology;
    } catch {
      // The file changed or went away: the state still says which machines to stop.
      topology = { cluster: state.cluster, hosts: Object.entries(state.machines).map(([name, m]) => ({ name, address: m.address, roles: [] })) } as unknown as Topology;
    }
    return new Lab(topology, state);
  }

  get topologyFile(): string {
    return this.state.topologyFile;
  }

  host(name: string): Host {
    const host = this.topology.hosts.find((h) => h.name === name);
    if (!host || !this.state.machines[name]) {
      throw new LabError(`no machine named ${name} in the lab; machines are ${Object.keys(this.state.machines).join(', ')}`);
    }
    return host;
  }

  private async start(host: Host, firstBoot: boolean): Promise<void> {
    const machine = this.state.machines[host.name];
    const image = imageOf(machine.os ?? machineOs(this.topology, host));
    machine.running = await bootMachine(host.name, machine.address, machine.sshPort, firstBoot, image.rootfs ? image.path : undefined);
    writeState(this.state);
  }

  /**
   * The machines as the state file has them now: another process (`haflow lab crash` run by a
   * fault driver, say) may have changed them since this object read it.
   */
  private refresh(): void {
    const onDisk = readState();
    if (onDisk && onDisk.topologyFile === this.state.topologyFile) this.state = onDisk;
  }

  status(): MachineStatus[] {
    this.refresh();
    return Object.entries(this.state.machines).map(([name, m]) => {
      const alive = m.running && isAlive(m.running.initPid, 'tini');
      return {
        name,
        address: m.address,
        state: alive ? 'running' : m.running ? 'crashed' : 'off',
        initPid: alive ? m.running!.initPid : undefined,
        processes: cgroupProcesses(name).length,
      };
    });
  }

  get createdMountPoints(): string[] {
    return [...(this.state.createdMountPoints ?? [])];
  }

  get partitions(): Partition[] {
    return [...this.state.partitions];
  }

  /**
   * Power cut: every process of the machine dies at once; its disk stays. Until it boots, packets
   * to its address are dropped, so to the others it looks like a host without power.
   */
  async crash(name: string): Promise<void> {
    this.refresh();
    const host = this.host(name);
    const running = this.state.machines[name].running;
    if (!running) throw new LabError(`machine ${name} is not running`);
    await dropTrafficTo(host);
    killMachine(running);
    if (!(await waitForMachineGone(name, running))) throw new LabError(`machine ${name}: processes survived the crash`);
    this.state.machines[name].running = undefined;
    writeState(this.state);
  }

  /** Powers a machine on again with its disk: sshd, then every enabled unit. */
  async boot(name: string): Promise<void> {
    this.refresh();
    const host = this.host(name);
    const running = this.state.machines[name].running;
    if (running && isAlive(running.initPid, 'tini')) throw new LabError(`machine ${name} is already running`);
    await restoreTrafficTo(host);
    await this.start(host, false);
  }

  /** Cuts traffic between a machine and the others (or one other, or one port). */
  async partition(partition: Partition): Promise<void> {
    this.refresh();
    const host = this.host(partition.host);
    const peers = partition.from ? [this.host(partition.from)] : this.topology.hosts.filter((h) => h.name !== host.name);
    await addPartition(host, peers, partition.port);
    this.state.partitions.push(partition);
    writeState(this.state);
  }

  /** Removes every partition; a machine that is powered off stays unreachable. */
  async heal(): Promise<void> {
    this.refresh();
    await healAll();
    for (const [name, machine] of Object.entries(this.state.machines)) if (!machine.running) await dropTrafficTo(this.host(name));
    this.state.partitions = [];
    writeState(this.state);
  }

  /** Back to bare: every machine re-created from the image, with new host keys. */
  async wipe(): Promise<Lab> {
    const file = this.state.topologyFile;
    await this.down();
    return Lab.up(file, { wipe: true });
  }

  /** Stops every machine (gracefully, then by force), removes its cgroups and iptables rules. */
  async down(): Promise<void> {
    this.refresh();
    await Promise.all(
      Object.entries(this.state.machines).map(async ([name, m]) => {
        if (m.running) await shutdownMachine(name, m.running);
        m.running = undefined;
        removeCgroup(name);
      }),
    );
    await removeChain();
    removeCgroupParent();
    for (const dir of this.state.createdMountPoints ?? []) if (existsSync(dir)) rmdirSync(dir);
    rmSync(labPaths.state, { force: true });
  }

  async rules(): Promise<string[]> {
    return listRules();
  }
}

/** known_hosts for the lab: new keys for re-created machines, the recorded ones for the rest. */
function mergeKnownHosts(topology: Topology, fresh: (string[] | undefined)[]): string[] {
  const existing = existsSync(labPaths.knownHosts) ? readFileSync(labPaths.knownHosts, 'utf8').split('\n').filter(Boolean) : [];
  return topology.hosts.flatMap((host, i) => {
    const lines = fresh[i];
    if (lines) return lines;
    return existing.filter((line) => line.split(' ')[0].replace(/^\[|\]:\d+$/g, '') === host.address);
  });
}
