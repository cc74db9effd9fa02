// `haflow lab …`: real machines on this box for a topology with loopback addresses.
import { InvalidArgumentError, type Command } from 'commander';
import { Lab, type MachineStatus } from '../lab';
import { exits } from './support';

function currentLab(): Lab {
  const lab = Lab.current();
  if (!lab) throw new Error('no lab is up; start one with `haflow lab up lab/topologies/standalone.yaml`');
  return lab;
}

function printStatus(lab: Lab): void {
  const rows: MachineStatus[] = lab.status();
  process.stdout.write(`lab ${lab.topology.cluster} (${lab.topologyFile})\n`);
  for (const m of rows) {
    process.stdout.write(`  ${m.name.padEnd(12)} ${m.address.padEnd(15)} ${m.state.padEnd(8)} ${m.processes} processes\n`);
  }
  for (const p of lab.partitions) {
    process.stdout.write(`  partition: ${p.host} ✕ ${p.from ?? 'every other machine'}${p.port ? ` (port ${p.port})` : ''}\n`);
  }
}

const port = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('must be a TCP port (1-65535)');
  return n;
};

export function registerLabCommands(program: Command): void {
  const lab = program.command('lab');
  lab.description('real machines on this box (namespaces, sshd, systemctl) for tests and the demo; needs root');
  lab
    .command('up')
    .description('create (bare) or power on the machines of a topology whose hosts have loopback addresses')
    .argument('<topology>', 'e.g. lab/topologies/standalone.yaml')
    .option('--wipe', 'start from bare machines even if they exist')
    .action(async (file: string, opts: { wipe?: boolean }) => {
      const started = Date.now();
      const up = await Lab.up(file, { wipe: opts.wipe, progress: (line) => process.stderr.write(`${line}\n`) });
      printStatus(up);
      process.stdout.write(`up in ${((Date.now() - started) / 1000).toFixed(1)} s; ssh with: ssh -i ${up.topology.ssh.private_key} -o UserKnownHostsFile=${up.topology.ssh.known_hosts} ${up.topology.ssh.user}@${up.topology.hosts[0].address}\n`);
    });
  lab.command('down').description('power off every machine and remove the lab\'s cgroups and iptables rules (disks stay)').action(async () => {
    const current = Lab.current();
    if (current) await current.down();
    process.stdout.write('lab is down\n');
  });
  lab.command('status').description('machines, their state and partitions').action(exits(() => {
    const current = Lab.current();
    if (!current) {
      process.stdout.write('no lab is up\n');
      return 3;
    }
    printStatus(current);
    return 0;
  }));
  lab
    .command('crash')
    .description('power cut: every process of the machine dies at once')
    .argument('<host>')
    .action(async (host: string) => currentLab().crash(host));
  lab
    .command('boot')
    .description('power a crashed machine on again with its disk; its enabled units start')
    .argument('<host>')
    .action(async (host: string) => currentLab().boot(host));
  lab
    .command('partition')
    .description('drop traffic between a machine and the others (or one other, or one port)')
    .argument('<host>')
    .option('--from <host>', 'only between <host> and this machine')
    .option('--port <n>', 'only traffic to this TCP port', port)
    .action(async (host: string, opts: { from?: string; port?: number }) => currentLab().partition({ host, from: opts.from, port: opts.port }));
  lab.command('heal').description('remove every partition').action(async () => currentLab().heal());
  lab.command('wipe').description('back to bare machines (new disks, new host keys)').action(async () => {
    printStatus(await currentLab().wipe());
  });
}
