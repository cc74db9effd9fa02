// Workflow ids are derived from the cluster name, and every haflow operation on a cluster
// uses the same id: Temporal then lets only one run at a time.
export function clusterWorkflowId(cluster: string): string {
  return `haflow-${cluster}`;
}

/** The application monitor's workflow id: one monitor per cluster. */
export function monitorWorkflowId(cluster: string): string {
  return `haflow-monitor-${cluster}`;
}

/** Where an application monitor started before it had its own name runs (found, stopped and replaced by `haflow monitor`). */
export function earlierMonitorWorkflowId(cluster: string): string {
  return `haflow-observer-${cluster}`;
}
