import * as df from 'durable-functions';
import { z } from 'zod';
import { uploadAndStart } from '../fo.js';
import { IMPORT_ACTIVITIES } from '../names.js';
import { getRuntime, invocationLogger } from '../runtime.js';

const Input = z.object({
  instanceId: z.string(),
  executionId: z.string(),
  environment: z.string(),
  packageBlob: z.object({ container: z.string(), path: z.string() }),
  definitionGroupId: z.string(),
  legalEntity: z.string(),
  execute: z.boolean(),
  overwrite: z.boolean(),
});

df.app.activity(IMPORT_ACTIVITIES.uploadAndStart, {
  handler: async (raw: unknown, context) => {
    const input = Input.parse(raw);
    return uploadAndStart(getRuntime(), input, invocationLogger(context, { instanceId: input.instanceId }));
  },
});
