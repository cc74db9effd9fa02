// Reports of drills and switchovers, as files under haflow's data directory
// (reports/<cluster>/<id>.json, .md and .svg), written when a run completes. Temporal keeps the
// runs themselves: `sync` writes the files of completed runs this machine has not seen (run from
// another machine, or by a worker while nobody followed).
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { DrillReport } from '../runbooks/report';
import { reportId } from '../runbooks/scheduled';
import { clusterWorkflowId } from '../connection/workflow-ids';
import type { MeasuredOutcome } from '../workflows/measured';
import { haflowDataDir } from './data-dir';
import { formatReportMarkdown, reportSvg } from './report';

export { reportId };

export interface StoredReport {
  id: string;
  /** The run it came from. */
  workflowId: string;
  runId: string;
  report: DrillReport;
  files: { json: string; markdown: string; svg: string };
}

export function reportsDir(cluster: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(haflowDataDir(env), 'reports', cluster);
}

export function saveReport(report: DrillReport, run: { workflowId: string; runId: string }, env: NodeJS.ProcessEnv = process.env): StoredReport {
  const dir = reportsDir(report.cluster, env);
  mkdirSync(dir, { recursive: true });
  const id = reportId(report);
  const files = { json: join(dir, `${id}.json`), markdown: join(dir, `${id}.md`), svg: join(dir, `${id}.svg`) };
  writeFileSync(files.json, `${JSON.stringify({ id, ...run, report }, null, 2)}\n`);
  writeFileSync(files.markdown, formatReportMarkdown(report));
  writeFileSync(files.svg, reportSvg(report));
  return { id, ...run, report, files };
}

/** The cluster's stored reports, newest first. */
export function listReports(cluster: string, env: NodeJS.ProcessEnv = process.env): StoredReport[] {
  const dir = reportsDir(cluster, env);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .reverse()
    .map((f) => {
      const stored = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Omit<StoredReport, 'files'>;
      const base = join(dir, stored.id);
      return { ...stored, files: { json: `${base}.json`, markdown: `${base}.md`, svg: `${base}.svg` } };
    });
}

/** Writes the reports of the cluster's completed drills and switchovers that are not stored here yet. */
export async function syncReports(client: Client, cluster: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const known = new Set(listReports(cluster, env).map((r) => r.runId));
  const query = `WorkflowId = '${clusterWorkflowId(cluster)}' AND ExecutionStatus = 'Completed' AND (WorkflowType = 'drillWorkflow' OR WorkflowType = 'switchoverWorkflow')`;
  let added = 0;
  for await (const run of client.workflow.list({ query })) {
    if (known.has(run.runId)) continue;
    const outcome = (await client.workflow.getHandle(run.workflowId, run.runId).result()) as MeasuredOutcome;
    if (!outcome.report) continue;
    saveReport(outcome.report, { workflowId: run.workflowId, runId: run.runId }, env);
    added += 1;
  }
  return added;
}
