/** Activity registrations of the recurring integrations. */
import * as df from 'durable-functions';
import { z } from 'zod';
import {
  RecurringImportInputSchema,
  type AckInput,
  type RecurringImportResult,
} from '../../orchestrators/recurringInput.js';
import {
  ackBatch,
  dequeueBatch,
  enqueueFile,
  executionIdOf,
  finishRecurringImport,
  messageStatus,
  recordFileMissing,
} from '../recurringFo.js';
import { RECURRING_ACTIVITIES } from '../exportNames.js';
import { getRuntime, invocationLogger } from '../runtime.js';

const Target = z.object({ environment: z.string(), activityId: z.string() });
const MessageRef = z.object({ environment: z.string(), messageId: z.string() });
const Ref = z.object({
  correlationId: z.string(),
  lastDequeueDateTime: z.string().optional(),
  raw: z.record(z.string(), z.unknown()),
});

df.app.activity(RECURRING_ACTIVITIES.dequeueBatch, {
  handler: async (raw: unknown, context) => {
    const input = Target.extend({ max: z.number().int().min(1) }).parse(raw);
    return dequeueBatch(getRuntime(), input, invocationLogger(context, input));
  },
});

df.app.activity(RECURRING_ACTIVITIES.ackBatch, {
  // written by our own orchestrator: its shape is the AckInput contract
  handler: async (raw: unknown, context) => {
    const input = raw as { environment: string; activityId: string; items: AckInput[] };
    return ackBatch(getRuntime(), input, invocationLogger(context, { activityId: input.activityId }));
  },
});

df.app.activity(RECURRING_ACTIVITIES.fileMissing, {
  handler: async (raw: unknown) => {
    const input = Target.extend({
      message: Ref,
      fileDownloadErrorMessage: z.string(),
      acked: z.boolean(),
    }).parse(raw);
    return recordFileMissing(getRuntime(), input);
  },
});

df.app.activity(RECURRING_ACTIVITIES.enqueue, {
  handler: async (raw: unknown, context) => {
    const input = RecurringImportInputSchema.extend({ instanceId: z.string() }).parse(raw);
    return enqueueFile(getRuntime(), input, invocationLogger(context, { instanceId: input.instanceId }));
  },
});

df.app.activity(RECURRING_ACTIVITIES.messageStatus, {
  handler: async (raw: unknown) => messageStatus(getRuntime(), MessageRef.parse(raw)),
});

df.app.activity(RECURRING_ACTIVITIES.executionId, {
  handler: async (raw: unknown) => executionIdOf(getRuntime(), MessageRef.parse(raw)),
});

df.app.activity(RECURRING_ACTIVITIES.finish, {
  // written by our own orchestrator: result + where the source is
  handler: async (raw: unknown, context) => {
    const input = raw as { result: RecurringImportResult; container: string; path: string };
    return finishRecurringImport(
      getRuntime(),
      input.result,
      input,
      invocationLogger(context, { instanceId: input.result.id }),
    );
  },
});
