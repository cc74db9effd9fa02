// Patroni's dynamic configuration (kept in etcd, the same for every member): the timings and
// the synchronous mode from the topology, applied to a running cluster with PATCH /config, as
// `patronictl edit-config` would. The bootstrap section of config.yml only counts once, when
// the cluster is created; this is how the install and `haflow tune` change it afterwards.
import { ApplicationFailure } from '@temporalio/common';
import { dbHosts, patroniHasQuorum } from '../../topology';
import { StepFailureTypes, type ClusterInput, type StepResult } from '../contract';
import { guardFailed, stepResult } from '../shared/step';
import { desiredDynamicConfig, type DynamicSettings } from './config';
import { patroniCluster, restGet, restSend } from './rest';

/** The settings that differ, as `key: now → wanted`. */
export function dynamicConfigChanges(current: Partial<Record<keyof DynamicSettings, unknown>>, wanted: DynamicSettings): { key: keyof DynamicSettings; from: unknown; to: unknown }[] {
  // Patroni leaves out what was never set: absent means its default (false for the modes).
  const now = (key: keyof DynamicSettings) => current[key] ?? (key.startsWith('synchronous') ? false : undefined);
  return (Object.keys(wanted) as (keyof DynamicSettings)[]).filter((key) => now(key) !== wanted[key]).map((key) => ({ key, from: now(key), to: wanted[key] }));
}

export async function ensureDynamicConfig(input: ClusterInput): Promise<StepResult> {
  const { topology, check } = input;
  let members: Awaited<ReturnType<typeof patroniCluster>>['members'];
  try {
    ({ members } = await patroniCluster(topology));
  } catch (err) {
    // Before the install has started Patroni there is nothing to compare: it will bootstrap with these settings.
    if (check) return stepResult([], `Patroni is not running yet: the cluster will be created with ttl ${topology.patroni.ttl}, loop_wait ${topology.patroni.loop_wait}, retry_timeout ${topology.patroni.retry_timeout}`);
    throw err;
  }
  const leader = dbHosts(topology).find((h) => h.name === members.find((m) => m.role === 'leader')?.name) ?? dbHosts(topology)[0];
  const read = async () => JSON.parse((await restGet(topology, leader, '/config')).body) as Record<string, unknown>;
  const wanted = desiredDynamicConfig(topology);
  if (wanted.synchronous_mode === 'quorum') {
    // Patroni 3 would take the word as a truthy value and run plain synchronous mode instead.
    const version = (JSON.parse((await restGet(topology, leader, '/patroni')).body) as { patroni?: { version?: string } }).patroni?.version;
    if (!patroniHasQuorum(version)) {
      throw guardFailed(
        `synchronous_mode quorum needs Patroni 4 or later, and ${leader.name} runs Patroni ${version ?? '(its version not reported)'}`,
        'set patroni.synchronous_mode to on or strict in the topology (or upgrade Patroni on every DB node first)',
      );
    }
  }
  const changes = dynamicConfigChanges(await read(), wanted);
  const describe = changes.map((c) => `${c.key}: ${String(c.from)} → ${String(c.to)}`);
  if (changes.length === 0) return stepResult([], `Patroni's dynamic configuration matches the topology (ttl ${wanted.ttl}, loop_wait ${wanted.loop_wait}, retry_timeout ${wanted.retry_timeout}, synchronous_mode ${topology.patroni.synchronous_mode})`);
  if (check) return stepResult([`would change Patroni's dynamic configuration: ${describe.join(', ')}`], '', describe);
  const response = await restSend(topology, leader, '/config', 'PATCH', Object.fromEntries(changes.map((c) => [c.key, c.to])), 10_000);
  const answer = response.body.trim();
  const left = dynamicConfigChanges(await read(), wanted);
  if (response.status !== 200 || left.length > 0) {
    throw ApplicationFailure.create({
      type: StepFailureTypes.commandFailed,
      message: `Patroni on ${leader.name} did not take the dynamic configuration (HTTP ${response.status} ${answer.slice(0, 300)}); still different: ${left.map((c) => c.key).join(', ') || 'nothing'}`,
      details: [{ remedy: `look at \`patronictl -c /etc/patroni/config.yml show-config\` on ${leader.name}` }],
    });
  }
  return stepResult([`changed Patroni's dynamic configuration (PATCH /config): ${describe.join(', ')}`], '', describe);
}
