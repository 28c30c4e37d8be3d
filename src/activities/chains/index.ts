/**
 * The chain's own activity (durable names `chain…`): its end. Each step is an import job of its
 * own (the `importPackage` orchestration and its activities); the batch check is shared
 * (src/activities/common/batches.ts).
 */
import { z } from 'zod';
import { defineActivity, ownValue } from '../../shared/app/activity.js';
import type { Runtime } from '../../shared/app/runtime.js';
import { CHAIN_EVENT_SOURCE, CHAIN_EVENT_TYPES } from '../../shared/events/index.js';
import { BlobRefSchema, type ParentResult } from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import { archiveBatchFiles, publishOutcome, recordFinal, storeResult } from '../common/results.js';

/** Input of the chain's finish (written by the chain orchestration). */
export const ChainFinishInputSchema = z.object({
  result: ownValue<ParentResult>('the chain result'),
  /** The batch folder: results under `{folder}/{chainId}/`, leftovers archived beside the steps'. */
  folder: z.string(),
  /** The batch's files no step took (its trigger file, the files of steps that never ran). */
  leftovers: z.array(BlobRefSchema),
});
/** See {@link ChainFinishInputSchema}. */
export type ChainFinishInput = z.infer<typeof ChainFinishInputSchema>;

/**
 * Ends a chain: the files no step took are archived (`succeeded|failed/{folder}/{chainId}/`), the
 * result JSON written, the job listed as final, `…chain.completed` / `…chain.failed` published.
 * Idempotent.
 */
export async function finishChain(
  runtime: Runtime,
  input: ChainFinishInput,
  logger: Logger,
): Promise<ParentResult> {
  let result: ParentResult = { ...input.result };
  const archivedTo = await archiveBatchFiles(
    runtime,
    input.leftovers,
    {
      outcome: result.status === 'Succeeded' ? 'succeeded' : 'failed',
      folder: input.folder,
      jobId: result.id,
    },
    logger,
  );
  if (archivedTo) result.archivedTo = archivedTo;
  result = await storeResult(runtime, input.folder, result);
  await recordFinal(runtime, logger, 'chain', result);
  await publishOutcome(runtime, result, {
    types: CHAIN_EVENT_TYPES,
    source: CHAIN_EVENT_SOURCE,
    subject: input.folder,
  });
  logger.info(`Chain ${result.id} finished: ${result.status}; result in ${result.resultBlob}`);
  return result;
}

/** {@link finishChain} as an activity. */
export const chainFinishActivity = defineActivity({
  name: 'chainFinish',
  input: ChainFinishInputSchema,
  log: ({ result }) => ({ instanceId: result.id }),
  handler: (input, { runtime, logger }) => finishChain(runtime, input, logger),
});

/** Activities of the `importChain` orchestration (besides the shared batch check). */
export const CHAIN_ACTIVITIES = { finish: chainFinishActivity };
