// A standalone lab (one etcd member) installed without TLS, moved to TLS by `haflow install`
// while a client writes (test/support/tls-move.ts). The generic layout's three etcd members: tls-move-generic.test.ts.
import { test } from 'node:test';
import { labSecrets, useInstallEnvironment } from '../support/install';
import { labTopology, useLab } from '../support/lab';
import { moveToTlsWhileWriting } from '../support/tls-move';

labSecrets();
const currentLab = useLab(labTopology('standalone'));
const installEnv = useInstallEnvironment();

test('a standalone cluster installed without TLS moves to TLS on every plane with `haflow install`, a client writing throughout without one failed or lost write', (t) =>
  moveToTlsWhileWriting(t, currentLab(), installEnv()));
