// Every workflow the worker registers. Workflow code is deterministic and does no I/O:
// it sees activities only as types.
export { runbookWorkflow } from './runbook-workflow';
export { installWorkflow } from './install';
export { clusterHealthWorkflow } from './cluster-health';
export { certificateRotationWorkflow, certificateStatusWorkflow } from './certificates';
export { drillWorkflow } from './drill';
export { switchoverWorkflow } from './switchover';
export { tuneWorkflow } from './tune';
export { restartWorkflow } from './restart';
export { upgradeWorkflow } from './upgrade';
export { scheduledDrillWorkflow } from './scheduled-drill';
export { appFailoverWorkflow } from './app-failover';
export { appMonitorWorkflow } from './app-monitor';
// Application monitors started before it had its own name run as this type: the same workflow.
export { appMonitorWorkflow as appObserverWorkflow } from './app-monitor';
export { migrateWorkflow } from './migrate';
export { backupReportWorkflow, backupWorkflow, restoreWorkflow } from './backup';
