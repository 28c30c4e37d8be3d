import * as df from 'durable-functions';
import { z } from 'zod';
import { collectErrors } from '../fo.js';
import { IMPORT_ACTIVITIES } from '../names.js';
import { getRuntime, invocationLogger } from '../runtime.js';

const Input = z.object({
  instanceId: z.string(),
  environment: z.string(),
  executionId: z.string(),
  logicalPath: z.string(),
  entities: z.array(z.string()),
  onlyTargetKeysFor: z.array(z.string()).optional(),
});

df.app.activity(IMPORT_ACTIVITIES.collectErrors, {
  handler: async (raw: unknown, context) => {
    const input = Input.parse(raw);
    return collectErrors(getRuntime(), input, invocationLogger(context, { instanceId: input.instanceId }));
  },
});
