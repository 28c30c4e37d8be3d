/**
 * The environment slot's two activities (the slot itself is a durable entity, see
 * src/orchestrators/imports/slot.ts): which watched imports have let go of the slot, and waking the
 * imports the slot was granted to. Both need the durable client, which orchestrations have not.
 */
import * as df from 'durable-functions';
import { z } from 'zod';
import { defineActivity } from '../../shared/app/activity.js';
import type { Runtime } from '../../shared/app/runtime.js';
import { staleInstances } from '../../shared/app/durableClient.js';
import { IMPORT_EVENTS } from '../../shared/app/names.js';
import { FINAL_EXECUTION_STATUSES } from '../../shared/dmf/index.js';
import { executionIdFor } from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import { errorMessage } from '../../shared/util.js';
import { knownExecutionStatus } from '../common/executions.js';

const InstancesSchema = z.object({ instanceIds: z.array(z.string()) });

/** How long F&O may not know a holder's execution after it got the slot, when the holder did not say. */
export const DEFAULT_HOLDER_GRACE_MS = 300_000;

/** Input of the check: the watched instances and, to ask F&O about them, the holders among them. */
export const FreedHoldersInputSchema = InstancesSchema.extend({
  /** The slot's environment (whose F&O runs the holders' executions). */
  environment: z.string().optional(),
  /** The asking orchestration's time (ISO): holders' grace periods count on it. */
  now: z.string().optional(),
  /** The holders among `instanceIds`: since when they hold the slot, how long F&O may not know them. */
  holders: z
    .array(z.object({ instanceId: z.string(), since: z.string(), graceMs: z.number().optional() }))
    .optional(),
});

/**
 * The watched instances that have let go of the slot. A waiter that no longer runs has. A holder
 * that no longer runs (terminated, crashed, or ended `TimedOut` while F&O still ran its import) has
 * only once F&O is done with its execution — F&O fails a second ImportFromPackage while one runs:
 * F&O reports the execution final; or F&O does not know it and the holder got the slot longer than
 * its grace ago (it never started it). While F&O runs it, or cannot be asked, the holder keeps the
 * slot. Without `environment`/`holders` (input of older orchestrations) only whether they run counts.
 */
export async function freedHolders(
  runtime: Runtime,
  client: df.DurableClient,
  input: z.infer<typeof FreedHoldersInputSchema>,
  logger: Logger,
): Promise<string[]> {
  const stale = await staleInstances(client, input.instanceIds);
  if (input.environment === undefined || input.holders === undefined) return stale;
  const now = input.now === undefined ? Date.now() : Date.parse(input.now);
  const holders = new Map(input.holders.map((h) => [h.instanceId, h]));
  const freed: string[] = [];
  for (const id of stale) {
    const holder = holders.get(id);
    if (!holder) {
      freed.push(id); // a waiter: it never started anything in F&O
      continue;
    }
    const executionId = executionIdFor(id);
    try {
      const status = await knownExecutionStatus(runtime.clients(input.environment).packages, executionId);
      const heldMs = now - Date.parse(holder.since);
      if (status !== undefined && FINAL_EXECUTION_STATUSES.has(status)) freed.push(id);
      else if (status === undefined && heldMs > (holder.graceMs ?? DEFAULT_HOLDER_GRACE_MS)) freed.push(id);
      else {
        logger.info(
          `Slot holder ${id} no longer runs, but F&O ${status === undefined ? 'may still register' : `still runs (${status})`} execution ${executionId}: it keeps the slot`,
        );
      }
    } catch (error) {
      logger.warn(`Could not ask F&O about ${executionId} of slot holder ${id}: ${errorMessage(error)}`);
    }
  }
  return freed;
}

/** The watched instances that have let go of the slot (see {@link freedHolders}). */
export const findStaleHoldersActivity = defineActivity({
  name: 'importFindStaleHolders',
  input: FreedHoldersInputSchema,
  durableClient: true,
  handler: (input, { context, runtime, logger }) =>
    freedHolders(runtime, df.getClient(context), input, logger),
});

/** Raises `slotGranted` on each given instance. */
export const notifySlotActivity = defineActivity({
  name: 'importNotifySlot',
  input: InstancesSchema,
  durableClient: true,
  handler: async (input, { context }): Promise<void> => {
    const client = df.getClient(context);
    for (const id of input.instanceIds) {
      // an instance that ended meanwhile cannot take the event: the next recheck evicts it
      await client.raiseEvent(id, IMPORT_EVENTS.slotGranted, { granted: true }).catch(() => undefined);
    }
  },
});
