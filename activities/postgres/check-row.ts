// The install's end-to-end check of a database tier: a row written where writes go, then read on
// each standby. Shared by the Patroni layouts (written through HAProxy) and the classic one
// (written on the master).
import type { Client } from 'pg';
import type { Host, Topology } from '../../topology';
import { psql, sqlLiteral } from '../shared/psql';
import { targetFor, withHostSsh } from '../shared/ssh';
import { waitFor } from '../shared/step';

/** Writes the row `token` on the server `client` is connected to. */
export async function writeCheckRow(client: Client, token: string): Promise<void> {
  await client.query('CREATE TABLE IF NOT EXISTS haflow_install_check (token text PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT now())');
  await client.query('INSERT INTO haflow_install_check (token) VALUES ($1)', [token]);
}

/** Waits until every standby, still in recovery, holds the row `token` (at most 60 s each). */
export async function checkRowOnStandbys(topology: Topology, standbys: Host[], token: string): Promise<void> {
  await Promise.all(
    standbys.map((standby) =>
      withHostSsh(targetFor(topology, standby), (ssh) =>
        waitFor(
          `the row to reach ${standby.name}`,
          async () => {
            const seen = (await psql(ssh, topology, `SELECT pg_is_in_recovery(), count(*) FROM haflow_install_check WHERE token = ${sqlLiteral(token)}`)).trim();
            return seen === 't|1' ? { done: true } : { notYet: `${standby.name} answered ${seen || 'nothing'}` };
          },
          { timeoutMs: 60_000, intervalMs: 500 },
        ),
      ),
    ),
  );
}
