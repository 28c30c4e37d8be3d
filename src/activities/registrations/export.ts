/** Activity registrations of the package export. */
import * as df from 'durable-functions';
import { z } from 'zod';
import type { ExportResult } from '../../orchestrators/exportInput.js';
import { finishExport, startExport, storeExport } from '../exportFo.js';
import { EXPORT_ACTIVITIES } from '../exportNames.js';
import { getRuntime, invocationLogger } from '../runtime.js';

const StartInput = z.object({
  environment: z.string(),
  executionId: z.string(),
  definitionGroupId: z.string(),
  packageName: z.string(),
  reExecute: z.boolean(),
  legalEntity: z.string(),
});

const StoreInput = z.object({
  environment: z.string(),
  executionId: z.string(),
  folder: z.string(),
  fileName: z.string(),
  unpack: z.boolean(),
});

df.app.activity(EXPORT_ACTIVITIES.start, {
  handler: async (raw: unknown, context) => {
    const input = StartInput.parse(raw);
    return startExport(getRuntime(), input, invocationLogger(context, { executionId: input.executionId }));
  },
});

df.app.activity(EXPORT_ACTIVITIES.store, {
  handler: async (raw: unknown, context) => {
    const input = StoreInput.parse(raw);
    return storeExport(getRuntime(), input, invocationLogger(context, { executionId: input.executionId }));
  },
});

df.app.activity(EXPORT_ACTIVITIES.finish, {
  // written by our own orchestrator (never by a user): its shape is the ExportResult contract
  handler: async (raw: unknown, context) => {
    const result = raw as ExportResult;
    return finishExport(getRuntime(), result, invocationLogger(context, { instanceId: result.id }));
  },
});
