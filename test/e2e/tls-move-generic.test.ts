// The generic layout's three etcd members, each a DB node, moved to TLS one at a time while a
// client writes (test/support/tls-move.ts). A long test: the standalone lab's move runs in every suite.
import { test } from 'node:test';
import { labSecrets, useInstallEnvironment } from '../support/install';
import { labTopology, useLab } from '../support/lab';
import { longTest } from '../support/long';
import { moveToTlsWhileWriting } from '../support/tls-move';

labSecrets();
const currentLab = useLab(labTopology('generic'));
const installEnv = useInstallEnvironment();

test('a generic cluster (three etcd members on the DB nodes) installed without TLS moves to TLS with `haflow install`, a client writing throughout without one failed or lost write', longTest(), (t) =>
  moveToTlsWhileWriting(t, currentLab(), installEnv()));
