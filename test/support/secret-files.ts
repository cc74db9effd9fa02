// Where a secret sits on the lab's machines, found by content rather than from a list: every
// file under the places a configuration, a backup, a log or a temporary file could be that holds
// one of the passwords or a line of the TLS private key, with its mode and owner.
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import type { Lab } from '../../lab';
import { labPaths, LAB_SECRET_VARIABLES } from '../../lab/paths';
import { sshRun } from './lab';


/** `<host> <mode> <owner> <group> <path>` for every file holding a secret, on every machine. */
export async function filesHoldingSecrets(lab: Lab): Promise<string[]> {
  const keyLines = readFileSync(labPaths.tlsKey, 'utf8').trim().split('\n');
  const secrets = [...LAB_SECRET_VARIABLES.map((name) => process.env[name]!), keyLines[Math.floor(keyLines.length / 2)]];
  // The patterns go on stdin, not on a command line. (The lab's own directory holds every
  // machine's disk: a lab artifact, not part of any machine.)
  const search = 'grep -rlF --exclude-dir=haflow-lab -f /dev/stdin /etc /opt /var /home /root /tmp /run /srv | while read -r f; do stat -c "%a %U %G %n" "$f"; done';
  const found: string[] = [];
  for (const host of lab.topology.hosts) {
    const listing = await sshRun(lab, host.name, search, { sudo: true, stdin: `${secrets.join('\n')}\n` });
    assert.equal(listing.code, 0, `the search on ${host.name}: ${listing.stderr.slice(0, 400)}`);
    for (const line of listing.stdout.trim().split('\n').filter(Boolean)) found.push(`${host.name} ${line}`);
  }
  return found;
}

/** The groups of the services that read a secret file: Patroni runs as postgres, pgBackRest on the repository host as its own user. */
const SERVICE_GROUPS = ['postgres', 'pgbackrest'];

/** The files others may read: any bit for others, or the group's when it is not the reading service's. */
export function readableByOthers(found: string[]): string[] {
  return found.filter((line) => {
    const [, mode, , group] = line.split(' ');
    const bits = parseInt(mode, 8);
    return (bits & 0o007) !== 0 || ((bits & 0o070) !== 0 && !SERVICE_GROUPS.includes(group));
  });
}

/** Files haflow was writing when it was stopped (`<path>.haflow-new-<hex>`), on every machine. */
export async function halfWrittenFiles(lab: Lab): Promise<string[]> {
  const left: string[] = [];
  for (const host of lab.topology.hosts) {
    const run = await sshRun(lab, host.name, "find /etc /opt /var /home /root -xdev -name '*.haflow-new-*' -not -path '/var/lib/haflow-lab/*' 2>/dev/null", { sudo: true });
    for (const path of run.stdout.trim().split('\n').filter(Boolean)) left.push(`${host.name} ${path}`);
  }
  return left;
}
