// Fault drivers (activities/failover/drivers.ts) are the operator's own commands, run on the
// worker with this machine's sh: what they get in their environment (haflow's bin first on PATH,
// HOME, the locale, and what HAFLOW_COMMAND_ENV names; never the codec key or a password of the
// worker), and what comes back of their output (never a secret value the worker knows).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { runDriver } from '../../activities/failover/drivers';
import { loadTopology, topologySchema, type Topology } from '../../topology';

const { topology: lab } = loadTopology(join(__dirname, '../../lab/topologies/standalone.yaml'));
const withDriver = (power_off: string): Topology => topologySchema.parse({ ...lab, faults: { ...lab.faults, power_off } });
const host = lab.hosts[1];
const haflowBin = join(__dirname, '../../bin');

/** Values a worker holds: the codec key, passwords of the topology's references, and one it does not know of. */
const secrets = {
  HAFLOW_CODEC_KEY: 'Y29kZWMta2V5LW9mLXRoZS13b3JrZXItMzItYnl0ZXM=',
  HAFLOW_CODEC_KEY_ID: 'drivers-2026-11',
  HAFLOW_PG_SUPERUSER_PASSWORD: 'pg-super-7d1e',
  HAFLOW_ETCD_ROOT_PASSWORD: 'etcd-root-4a90',
  SOME_TOKEN_OF_THE_WORKER: 'tok-55aa',
};
const saved = Object.fromEntries(Object.keys(secrets).map((name) => [name, process.env[name]]));
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'haflow-drivers-'));
  Object.assign(process.env, secrets);
});

after(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  rmSync(dir, { recursive: true, force: true });
});

test("a driver gets haflow's bin first on PATH, HOME and the locale, and nothing else of the worker's environment", async () => {
  const run = await runDriver(withDriver(`env | cut -d= -f1 | sort | tr '\\n' ' '; echo; echo "PATH=$PATH"`), 'power_off', host);
  const [names, path] = run.output.split('\n');
  const passed = names.trim().split(' ').filter((name) => !['PWD', 'OLDPWD', 'SHLVL', '_'].includes(name) && !name.startsWith('LC_') && !['LANG', 'TZ'].includes(name));
  assert.deepEqual(passed, ['HOME', 'PATH']);
  assert.equal(path.split(':')[0], `PATH=${haflowBin}`);
  assert.doesNotMatch(run.output, /HAFLOW_CODEC|HAFLOW_PG_SUPERUSER_PASSWORD|SOME_TOKEN_OF_THE_WORKER/);
});

test('what a driver prints comes back without a secret the worker knows, in its output and in its error', async () => {
  const leak = join(dir, 'leak.txt');
  writeFileSync(leak, `${secrets.HAFLOW_CODEC_KEY} ${secrets.HAFLOW_PG_SUPERUSER_PASSWORD} ${secrets.HAFLOW_ETCD_ROOT_PASSWORD}\n`);
  const run = await runDriver(withDriver(`cat '${leak}'`), 'power_off', host);
  assert.equal(run.output, '<redacted> <redacted> <redacted>');
  const err = await runDriver(withDriver(`cat '${leak}' >&2; exit 4`), 'power_off', host).then(
    () => assert.fail('the driver succeeded'),
    (e: unknown) => e as ApplicationFailure,
  );
  assert.ok(err instanceof ApplicationFailure);
  assert.match(err.message, /^faults\.power_off for node1 failed: `cat .*leak\.txt' >&2; exit 4`: <redacted> <redacted> <redacted>$/);
  for (const value of [secrets.HAFLOW_CODEC_KEY, secrets.HAFLOW_PG_SUPERUSER_PASSWORD, secrets.HAFLOW_ETCD_ROOT_PASSWORD]) {
    assert.doesNotMatch(JSON.stringify({ message: err.message, details: err.details }), new RegExp(value.replace(/[+/=]/g, '\\$&')));
  }
});

test('HAFLOW_COMMAND_ENV passes named variables on (an IPMI password for ipmitool -E), and their values never come back', async () => {
  process.env.HAFLOW_COMMAND_ENV = 'IPMI_PASSWORD';
  process.env.IPMI_PASSWORD = 'ipmi-secret-93b2';
  try {
    const run = await runDriver(withDriver('echo "using $IPMI_PASSWORD"'), 'power_off', host);
    assert.equal(run.output, 'using <redacted>');
  } finally {
    delete process.env.HAFLOW_COMMAND_ENV;
    delete process.env.IPMI_PASSWORD;
  }
});
