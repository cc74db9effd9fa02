// The install runbook's workflow: bare machines to a healthy Patroni + etcd + HAProxy
// database tier. The steps come in with the input (runbooks/install.ts, computed by the
// client), so a run started before an upgrade of haflow resumes with the steps it started with.
import { runPlainRunbook } from './plain';
import type { RunbookInput, RunbookOutcome } from './protocol';

export async function installWorkflow(input: RunbookInput): Promise<RunbookOutcome> {
  return runPlainRunbook('install', input);
}
