/**
 * Collecting a batch (a batch import, a chain): look at the batch's folder, then wait — for the
 * next file (the blob trigger raises `batchFile`), a cancel, or the deadline — and look again,
 * until it is complete or the deadline passed. Durable timers and events only: no compute while a
 * batch waits for its files. Deterministic (`yield*`).
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import { BATCH_ACTIVITIES, type BatchCheck, type BatchCheckInput } from '../../activities/common/batches.js';
import { IMPORT_EVENTS } from '../../shared/app/names.js';
import type { BatchCollect, BatchProgress, JobError } from '../../shared/jobs/index.js';
import { callActivity } from './call.js';

/** How the collection of a batch ended. */
export interface CollectedBatch {
  /**
   * `ready`: complete, every file found its entity; `invalid`: complete, but some files cannot be
   * imported; `timedOut`: still incomplete at the deadline; `canceled`: a cancel came first.
   */
  outcome: 'ready' | 'invalid' | 'timedOut' | 'canceled';
  /** The last look at the batch. */
  check: BatchCheck;
}

/** The progress a job shows for a look at its batch. */
export function batchProgress(batchId: string, collect: BatchCollect, check: BatchCheck): BatchProgress {
  return {
    batchId,
    files: [...check.files.map((f) => f.name), ...(check.triggerFile ? [check.triggerFile.name] : [])],
    missing: check.missing,
    triggered: collect.complete === 'allEntities' || check.triggerFile !== undefined,
    deadline: collect.deadline,
  };
}

/**
 * Waits until the batch is complete, invalid, past its deadline or canceled (see
 * {@link CollectedBatch}); `onProgress` hears each look.
 */
export function* collectBatch(
  context: OrchestrationContext,
  options: {
    batchId: string;
    collect: BatchCollect;
    check: Omit<BatchCheckInput, 'trigger' | 'complete'>;
    onProgress: (progress: BatchProgress) => void;
  },
): Generator<Task, CollectedBatch, unknown> {
  const deadline = new Date(options.collect.deadline);
  for (;;) {
    const check = yield* callActivity(
      context,
      BATCH_ACTIVITIES.check,
      { ...options.check, trigger: options.collect.trigger, complete: options.collect.complete },
      { attempts: 4, firstMs: 5_000 },
    );
    options.onProgress(batchProgress(options.batchId, options.collect, check));
    if (check.ready) return { outcome: check.problems.length > 0 ? 'invalid' : 'ready', check };
    if (context.df.currentUtcDateTime.getTime() >= deadline.getTime()) return { outcome: 'timedOut', check };
    // the newest waiter of an event name gets the next event raised (or one raised meanwhile)
    const file = context.df.waitForExternalEvent(IMPORT_EVENTS.batchFile);
    const cancel = context.df.waitForExternalEvent(IMPORT_EVENTS.cancel);
    const timer = context.df.createTimer(deadline);
    const winner = (yield context.df.Task.any([file, cancel, timer])) as Task;
    if (winner !== timer) timer.cancel();
    if (winner === cancel) return { outcome: 'canceled', check };
  }
}

/** The errors a batch that never became complete (or valid) ends with. */
export function batchErrors(collected: CollectedBatch, collect: BatchCollect): JobError[] {
  const { check } = collected;
  if (collected.outcome === 'canceled') {
    return [{ code: 'CANCELED', message: 'The batch was canceled while its files were collected.' }];
  }
  if (collected.outcome === 'invalid') {
    return check.problems.map((message) => ({ code: 'BATCH_FILE_INVALID', message }));
  }
  const errors: JobError[] = check.missing.map((entity) => ({
    code: 'BATCH_ENTITY_MISSING',
    entity,
    message: `No file of the batch fills entity "${entity}".`,
  }));
  if (collect.complete === 'trigger' && !check.triggerFile) {
    errors.push({
      code: 'BATCH_TRIGGER_MISSING',
      message: `The trigger file "${collect.trigger}" did not arrive.`,
    });
  }
  errors.unshift({
    code: 'BATCH_INCOMPLETE',
    message: `The batch was still incomplete at its deadline (${collect.deadline})${
      errors.length > 0
        ? `: ${errors.map((e) => (e.entity ? `entity "${e.entity}" has no file` : `trigger file "${collect.trigger}" missing`)).join('; ')}`
        : ''
    }. Its files were left where they are; drop the complete batch again under a new batch id.`,
  });
  for (const message of check.problems) errors.push({ code: 'BATCH_FILE_INVALID', message });
  return errors;
}
