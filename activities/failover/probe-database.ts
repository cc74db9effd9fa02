// The write probe's own database: never the application's. Created on the leader (over SSH,
// psql as the postgres user) before a drill or a switchover; rows older than 30 days go.
import type { HostInput, StepResult } from '../contract';
import { psql } from '../shared/psql';
import { onHost, stepResult } from '../shared/step';

export const PROBE_DATABASE = 'haflow_probe';
export const PROBE_TABLE = 'probe_writes';

export async function ensureProbeDatabase(input: HostInput): Promise<StepResult> {
  return onHost(input, async (ssh, host) => {
    const { topology, check } = input;
    const exists = (await psql(ssh, topology, `SELECT 1 FROM pg_database WHERE datname = '${PROBE_DATABASE}'`)).trim() === '1';
    if (check) return stepResult(exists ? [] : [`would create the probe database ${PROBE_DATABASE} on ${host.name}`], `the probe database ${PROBE_DATABASE} exists`);
    const actions: string[] = [];
    if (!exists) {
      await psql(ssh, topology, `CREATE DATABASE ${PROBE_DATABASE}`);
      actions.push(`created the probe database ${PROBE_DATABASE}`);
    }
    await psql(
      ssh,
      topology,
      [
        `\\connect ${PROBE_DATABASE}`,
        `CREATE TABLE IF NOT EXISTS ${PROBE_TABLE} (drill text NOT NULL, seq bigint NOT NULL, client_at timestamptz NOT NULL, server_at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (drill, seq));`,
        `DELETE FROM ${PROBE_TABLE} WHERE server_at < now() - interval '30 days';`,
        '',
      ].join('\n'),
    );
    return stepResult(actions, `the probe database ${PROBE_DATABASE} is ready on ${host.name}`);
  });
}
