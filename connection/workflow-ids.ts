// Workflow ids are derived from the cluster name, and every haflow operation on a cluster
// uses the same id: Temporal then lets only one run at a time.
export function clusterWorkflowId(cluster: string): string {
  return `haflow-${cluster}`;
}

/** The application observer's workflow id: one observer per cluster. */
export function observerWorkflowId(cluster: string): string {
  return `haflow-observer-${cluster}`;
}
