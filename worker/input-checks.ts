// Every activity the worker runs checks what it is handed before it does anything: no argument
// may have arrived in clear at a worker with HAFLOW_CODEC_KEY, and the topology must be valid. A
// topology reaches an activity from whoever started the workflow, and its fields end up in
// commands run as root on every host and on the worker: the client validates a file before it
// starts a run, but the worker cannot know that the run came from haflow's client (another tool,
// an older or newer haflow, anyone with access to the namespace). So it validates again, with
// the same schema and checks as a topology file, once for every activity (as an interceptor,
// whatever wrapper the activity is registered through). The activity then gets the topology as
// validated, defaults applied.
//
// Workflows do not check it themselves: workflow code cannot load zod, and everything a topology
// can cause happens in an activity.
import type { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, ActivityInterceptorsFactory, Next } from '@temporalio/worker';
import { StepFailureTypes } from '../activities/contract';
import { refusalOf } from '../connection/refused-payloads';
import { assertValidTopology, type Topology } from '../topology';

/** The topology an activity was handed, validated; a non-retryable InvalidInput failure naming every problem otherwise. */
export function checkedTopology(value: unknown, activity: string): Topology {
  try {
    return assertValidTopology(value as Topology);
  } catch (err) {
    throw ApplicationFailure.create({
      type: StepFailureTypes.invalidInput,
      nonRetryable: true,
      message: `activity ${activity} did not run: ${(err as Error).message}`,
      details: [
        {
          remedy:
            'start the run again from a topology file that `haflow validate <file>` accepts; a run started by anything ' +
            "but haflow's own client, or by a haflow of another version, can carry a topology this worker refuses",
        },
      ],
    });
  }
}

class ActivityInputCheck implements ActivityInboundCallsInterceptor {
  constructor(private readonly activity: string) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    // An argument that arrived in clear at a worker with the key (connection/refused-payloads.ts).
    const refusal = refusalOf(input.args);
    if (refusal) throw refusal;
    const [first, ...rest] = input.args;
    if (!first || typeof first !== 'object' || !('topology' in first)) return next(input);
    const topology = checkedTopology((first as { topology: unknown }).topology, this.activity);
    return next({ ...input, args: [{ ...first, topology }, ...rest] });
  }
}

/** For WorkerOptions.interceptors.activity. */
export const checkActivityInputs: ActivityInterceptorsFactory = (ctx: Context) => ({ inbound: new ActivityInputCheck(ctx.info.activityType) });
