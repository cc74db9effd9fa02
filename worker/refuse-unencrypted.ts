// Workflow interceptors of a worker with HAFLOW_CODEC_KEY: a run, an update or a query whose
// input arrived in clear (connection/refused-payloads.ts) is refused before workflow code sees it.
// A run fails at once, non-retryably, saying why; an update or a query fails alone; a signal is
// dropped (haflow's workflows take none). Bundled with the workflows, so it imports only
// Temporal's workflow API and modules that do.
import { log, type WorkflowInboundCallsInterceptor, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { refusalOf } from '../connection/refused-payloads';

const refuseUnencrypted: WorkflowInboundCallsInterceptor = {
  async execute(input, next) {
    const refusal = refusalOf(input.args);
    if (refusal) throw refusal;
    return next(input);
  },
  validateUpdate(input, next) {
    const refusal = refusalOf(input.args);
    if (refusal) throw refusal;
    next(input);
  },
  async handleUpdate(input, next) {
    const refusal = refusalOf(input.args);
    if (refusal) throw refusal;
    return next(input);
  },
  async handleQuery(input, next) {
    const refusal = refusalOf(input.args);
    if (refusal) throw refusal;
    return next(input);
  },
  async handleSignal(input, next) {
    const refusal = refusalOf(input.args);
    if (refusal) {
      log.warn(`signal ${input.signalName} dropped: ${refusal.message}`);
      return;
    }
    return next(input);
  },
};

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [refuseUnencrypted] });
