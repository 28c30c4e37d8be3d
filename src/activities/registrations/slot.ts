import * as df from 'durable-functions';
import { z } from 'zod';
import { staleInstances } from '../durableClient.js';
import { IMPORT_ACTIVITIES, IMPORT_EVENTS } from '../names.js';

const Input = z.object({ instanceIds: z.array(z.string()) });

df.app.activity(IMPORT_ACTIVITIES.findStaleHolders, {
  extraInputs: [df.input.durableClient()],
  handler: async (raw: unknown, context) =>
    staleInstances(df.getClient(context), Input.parse(raw).instanceIds),
});

df.app.activity(IMPORT_ACTIVITIES.notifySlot, {
  extraInputs: [df.input.durableClient()],
  handler: async (raw: unknown, context) => {
    const client = df.getClient(context);
    for (const id of Input.parse(raw).instanceIds) {
      // an instance that ended meanwhile cannot take the event: the next recheck evicts it
      await client.raiseEvent(id, IMPORT_EVENTS.slotGranted, { granted: true }).catch(() => undefined);
    }
  },
});
