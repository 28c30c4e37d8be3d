import * as df from 'durable-functions';
import { z } from 'zod';
import { getStatus } from '../fo.js';
import { IMPORT_ACTIVITIES } from '../names.js';
import { getRuntime } from '../runtime.js';

const Input = z.object({ environment: z.string(), executionId: z.string() });

df.app.activity(IMPORT_ACTIVITIES.getStatus, {
  handler: async (raw: unknown) => getStatus(getRuntime(), Input.parse(raw)),
});
