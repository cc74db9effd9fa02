// The iptables rules of a lab partition, read back as options (nothing is applied: no
// iptables, no root). A cut between two machines drops both directions; the sender is known
// by its cgroup (every machine sends from 127.0.0.1), the receiver by its address.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { partitionRules } from '../../lab/network';
import { CGROUP_PARENT } from '../../lab/paths';

const db1 = { name: 'db1', address: '127.0.10.1' };
const db2 = { name: 'db2', address: '127.0.10.2' };
const db3 = { name: 'db3', address: '127.0.10.3' };
const app1 = { name: 'app1', address: '127.0.20.1' };

interface Rule {
  cgroupPath?: string;
  destination?: string;
  protocol?: string;
  dport?: string;
  comment?: string;
  target?: string;
}

/** One rule's argv read back into its matches; fails on any option it does not expect. */
function readRule(argv: string[]): Rule {
  const rule: Rule = {};
  const modules: string[] = [];
  for (let i = 0; i < argv.length; i += 2) {
    const [option, value] = [argv[i], argv[i + 1]];
    assert.ok(value !== undefined, `option ${option} has no value in ${argv.join(' ')}`);
    switch (option) {
      case '-m':
        modules.push(value);
        break;
      case '--path':
        assert.equal(modules.at(-1), 'cgroup', '--path outside -m cgroup');
        rule.cgroupPath = value;
        break;
      case '-d':
        rule.destination = value;
        break;
      case '-p':
        rule.protocol = value;
        break;
      case '--dport':
        assert.equal(rule.protocol, 'tcp', '--dport before -p tcp');
        rule.dport = value;
        break;
      case '--comment':
        assert.equal(modules.at(-1), 'comment', '--comment outside -m comment');
        rule.comment = value;
        break;
      case '-j':
        rule.target = value;
        break;
      default:
        assert.fail(`unexpected option ${option} in ${argv.join(' ')}`);
    }
  }
  return rule;
}

test('a partition drops both directions between the host and each peer, sender by cgroup, receiver by /32 address', () => {
  const rules = partitionRules(db1, [db2, db3]).map(readRule);
  assert.deepEqual(
    rules.map(({ cgroupPath, destination, target }) => ({ cgroupPath, destination, target })),
    [
      { cgroupPath: `${CGROUP_PARENT}/db1`, destination: '127.0.10.2/32', target: 'DROP' },
      { cgroupPath: `${CGROUP_PARENT}/db2`, destination: '127.0.10.1/32', target: 'DROP' },
      { cgroupPath: `${CGROUP_PARENT}/db1`, destination: '127.0.10.3/32', target: 'DROP' },
      { cgroupPath: `${CGROUP_PARENT}/db3`, destination: '127.0.10.1/32', target: 'DROP' },
    ],
  );
});

test('the cgroup path is under haflow-lab, where the lab puts each machine', () => {
  assert.equal(CGROUP_PARENT, 'haflow-lab');
  const [out, back] = partitionRules(db1, [app1]).map(readRule);
  assert.equal(out.cgroupPath, 'haflow-lab/db1');
  assert.equal(back.cgroupPath, 'haflow-lab/app1');
});

test('without a port, a partition cuts all traffic: no protocol or port match', () => {
  for (const rule of partitionRules(db1, [db2, app1]).map(readRule)) {
    assert.equal(rule.protocol, undefined);
    assert.equal(rule.dport, undefined);
  }
});

test('with a port, every rule matches only TCP to that port, in both directions', () => {
  const rules = partitionRules(db1, [db2, db3], 2380).map(readRule);
  assert.equal(rules.length, 4);
  for (const rule of rules) {
    assert.equal(rule.protocol, 'tcp');
    assert.equal(rule.dport, '2380');
    assert.equal(rule.target, 'DROP');
  }
});

test('each rule is labelled with its direction, the comment one argv element', () => {
  const comments = partitionRules(db1, [db2]).map((argv) => readRule(argv).comment);
  assert.deepEqual(comments, ['haflow-lab db1->db2', 'haflow-lab db2->db1']);
});

test('every rule ends by dropping (a cut times out, it is not refused)', () => {
  for (const argv of partitionRules(db1, [db2, db3, app1], 5432)) {
    assert.deepEqual(argv.slice(-2), ['-j', 'DROP']);
  }
});

test('no peers, no rules', () => {
  assert.deepEqual(partitionRules(db1, []), []);
  assert.deepEqual(partitionRules(db1, [], 5432), []);
});

test('partitioning from either side gives the same set of rules', () => {
  const key = (argv: string[]) => argv.join(' ');
  assert.deepEqual(new Set(partitionRules(db1, [db2], 8008).map(key)), new Set(partitionRules(db2, [db1], 8008).map(key)));
});
