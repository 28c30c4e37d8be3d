/**
 * The environment slot's two activities (the slot itself is a durable entity, see
 * src/orchestrators/imports/slot.ts): which watched instances no longer run, and waking the
 * imports the slot was granted to. Both need the durable client, which orchestrations have not.
 */
import * as df from 'durable-functions';
import { z } from 'zod';
import { defineActivity } from '../../shared/app/activity.js';
import { staleInstances } from '../../shared/app/durableClient.js';
import { IMPORT_EVENTS } from '../../shared/app/names.js';

const InstancesSchema = z.object({ instanceIds: z.array(z.string()) });

/** The instances among the given ones that no longer run (they hold or wait for the slot in vain). */
export const findStaleHoldersActivity = defineActivity({
  name: 'importFindStaleHolders',
  input: InstancesSchema,
  durableClient: true,
  handler: (input, { context }) => staleInstances(df.getClient(context), input.instanceIds),
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
