import { loadTopology } from '../../topology';
import { followRun, startInstall } from '../api';
import { connectClient } from '../temporal';

async function installAndWait(file: string): Promise<number> {
  const { topology } = loadTopology(file); // validated; passwords are references, never values
  const client = await connectClient(); // Temporal's environment configuration, else localhost:7233
  const run = await followRun(await startInstall(client, topology), (p) =>
    console.log(`${p.status}: ${p.steps.filter((s) => s.status === 'done').length}/${p.steps.length} steps done`),
  );
  if (run.status === 'completed') console.log(`completed: ${run.outcome.changed} steps changed something`);
  else console.error(run.status === 'blocked' ? `blocked at ${run.step.id}: ${run.step.error?.message}` : run.error.message);
  return run.status === 'completed' ? 0 : 1;
}

installAndWait(process.argv[2]).then((code) => process.exit(code));
