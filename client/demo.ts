// `haflow demo`: a tour on this machine, with nothing to prepare. It grows with haflow:
// validate a topology per layout, show the files haflow writes, then bring up a lab of
// real machines and look at them the way haflow will.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { targetFor, withSsh } from '../activities/ssh';
import { Lab, LAB_PACKAGES, LabError } from '../lab';
import { checkPrerequisites } from '../lab/prereq';

const say = (line = '') => process.stdout.write(`${line}\n`);

/** Installs the lab's Debian packages when they are missing (the demo's "fresh machine" promise). */
async function ensureLabPackages(): Promise<void> {
  try {
    await checkPrerequisites();
  } catch (err) {
    if (!(err instanceof LabError) || !/packages, which are missing/.test(err.message) || process.getuid?.() !== 0) throw err;
    say(`installing the lab's Debian packages: ${LAB_PACKAGES.join(' ')}`);
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...LAB_PACKAGES], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    await checkPrerequisites();
  }
}

export async function demoLab(options: { keep?: boolean }): Promise<void> {
  await ensureLabPackages();
  const file = join(__dirname, '..', 'lab', 'topologies', 'standalone.yaml');
  say(`\nBringing up a lab of real machines for ${file} (namespaces, sshd, systemctl)...`);
  const started = Date.now();
  const lab = await Lab.up(file, { wipe: true });
  say(`up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  try {
    for (const machine of lab.status()) say(`  ${machine.name.padEnd(10)} ${machine.address.padEnd(12)} ${machine.state}`);
    say('\nEach machine is bare, like a freshly provisioned server. Over SSH, as haflow will connect:');
    for (const host of lab.topology.hosts) {
      const target = targetFor(lab.topology, host);
      const seen = await withSsh(target, (ssh) =>
        ssh.exec('echo "${SUDO_USER:-$(whoami)}@$(hostname): patroni $(systemctl is-active patroni), etcd $(systemctl is-active etcd), haproxy $(systemctl is-active haproxy), $(ps -e --no-headers | wc -l) processes"', { sudo: true }),
      );
      say(`  ${seen.stdout.trim()}`);
    }
  } finally {
    if (options.keep) {
      say(`\nThe lab stays up (--keep). Look around: ssh -i ${lab.topology.ssh.private_key} -o UserKnownHostsFile=${lab.topology.ssh.known_hosts} labadmin@127.0.0.12`);
      say('Take it down with: npx haflow lab down');
    } else {
      await lab.down();
      say('\nThe lab is down again (keep it with --keep).');
    }
  }
}
