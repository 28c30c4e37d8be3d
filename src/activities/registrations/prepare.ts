import * as df from 'durable-functions';
import { z } from 'zod';
import { ImportInputSchema } from '../../orchestrators/input.js';
import { IMPORT_ACTIVITIES } from '../names.js';
import { prepareImport } from '../prepare.js';
import { getRuntime, invocationLogger } from '../runtime.js';

const Input = z.object({ input: ImportInputSchema, instanceId: z.string() });

df.app.activity(IMPORT_ACTIVITIES.prepare, {
  handler: async (raw: unknown, context) => {
    const { input, instanceId } = Input.parse(raw);
    return prepareImport(getRuntime(), input, instanceId, invocationLogger(context, { instanceId }));
  },
});
