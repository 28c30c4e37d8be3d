/**
 * The `importPackage` orchestration: prepare → wait for the environment's slot → upload + start →
 * poll with durable timers → copy error files → finish. Deterministic: only `context.df.*`, time
 * from `currentUtcDateTime`, no I/O. The slot is released on every path once it was asked for.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import type { CollectErrorsInput } from '../../activities/common/executions.js';
import { IMPORT_ACTIVITIES } from '../../activities/imports/index.js';
import type { PrepareResult } from '../../activities/imports/prepare.js';
import {
  executionIdFor,
  ImportInputSchema,
  type BlobRef,
  type ImportCustomStatus,
  type ImportResult,
  type JobError,
  type JobOutcome,
} from '../../shared/jobs/index.js';
import { errorMessage } from '../../shared/util.js';
import { callActivity } from '../common/call.js';
import { checkFailedStart, collectErrorDetails, pollExecution } from '../common/executions.js';
import { historyKey } from '../common/history.js';
import { customStatus } from '../common/status.js';
import { environmentSlot } from './slot.js';

/** The orchestrator function. */
export function* importPackageOrchestrator(
  context: OrchestrationContext,
): Generator<Task, ImportResult, unknown> {
  const input = ImportInputSchema.parse(context.df.getInput());
  const instanceId = context.df.instanceId;
  const executionId = executionIdFor(instanceId);
  const now = (): Date => context.df.currentUtcDateTime;
  const { status, publish } = customStatus<ImportCustomStatus>(context, {
    stage: 'Preparing',
    executionId,
    polls: 0,
  });
  const timings: ImportResult['timings'] = { requestedAt: input.requestedAt, finishedAt: '' };
  const errors: JobError[] = [];
  const files: ImportResult['errorFiles'] = [];
  let foStatus: string | undefined;
  let called = false;

  function* finish(
    outcome: JobOutcome,
    sourceBlob: BlobRef | undefined,
    stagingBlobs: BlobRef[],
  ): Generator<Task, ImportResult, unknown> {
    publish({ stage: 'Finishing', nextPollAt: undefined });
    timings.finishedAt = now().toISOString();
    const result: ImportResult = {
      id: instanceId,
      status: outcome,
      file: input.fileName,
      source:
        input.source.kind === 'blob'
          ? `${input.source.container}/${input.source.path}`
          : input.source.url.split('?')[0]!,
      environment: input.environment,
      project: input.project,
      definitionGroupId: input.definitionGroupId,
      legalEntity: input.legalEntity,
      ...(called ? { executionId } : {}),
      ...(foStatus ? { foStatus } : {}),
      trigger: input.trigger,
      ...(input.correlationId ? { correlationId: input.correlationId } : {}),
      timings,
      polls: status.polls,
      pollLog: status.pollLog ?? [],
      errors,
      errorFiles: files,
    };
    const final = yield* callActivity(
      context,
      IMPORT_ACTIVITIES.finish,
      { result, logicalPath: input.logicalPath, ...(sourceBlob ? { sourceBlob } : {}), stagingBlobs },
      { attempts: 5, firstMs: 5_000 },
    );
    publish({ stage: 'Done' });
    return final;
  }

  // take a place in the environment's queue now: arrival order, whatever the prepare times. A url
  // import takes its place once its content is staged (below): a slow or failing url must not hold
  // the files behind it.
  const slot = environmentSlot(context, { environment: input.environment, instanceId });
  const queuesAfterPrepare = input.source.kind === 'url';
  if (!queuesAfterPrepare) slot.enqueue(input.requestedAt);

  // a) prepare
  let prepared: PrepareResult;
  try {
    prepared = yield* callActivity(
      context,
      IMPORT_ACTIVITIES.prepare,
      { input, instanceId },
      { attempts: 4, firstMs: 5_000 },
    );
  } catch (error) {
    // storage kept failing: end the job readably (the source stays where it is if it cannot be moved)
    prepared = {
      ok: false,
      errors: [{ code: 'PREPARE_FAILED', message: `The file could not be prepared: ${errorMessage(error)}` }],
      stagingBlobs: [],
      ...(input.source.kind === 'blob'
        ? { sourceBlob: { container: input.source.container, path: input.source.path } }
        : {}),
    };
  }
  if (!prepared.ok) {
    yield* slot.release();
    errors.push(...prepared.errors);
    return yield* finish('Failed', prepared.sourceBlob, prepared.stagingBlobs);
  }
  timings.preparedAt = now().toISOString();
  if (queuesAfterPrepare) slot.enqueue(timings.preparedAt);

  // b) wait for the environment's slot
  const waited = yield* slot.wait(prepared.concurrency, (position) =>
    publish({ stage: 'WaitingForSlot', slotPosition: position }),
  );
  if (waited.canceled) {
    yield* slot.release();
    errors.push({ code: 'CANCELED', message: 'The import was canceled before it was sent to F&O.' });
    return yield* finish('Canceled', prepared.sourceBlob, prepared.stagingBlobs);
  }
  timings.slotAcquiredAt = now().toISOString();
  publish({ slotPosition: undefined });

  // c+d+e) upload, start, poll — the slot is released on every path
  let outcome: JobOutcome;
  let startedAt: Date | undefined;
  try {
    publish({ stage: 'Uploading' });
    let startFailure: string | undefined;
    try {
      called = true;
      const started = yield* callActivity(
        context,
        IMPORT_ACTIVITIES.uploadAndStart,
        {
          instanceId,
          executionId,
          environment: input.environment,
          packageBlob: prepared.packageBlob,
          definitionGroupId: input.definitionGroupId,
          legalEntity: input.legalEntity,
          execute: input.execute,
          overwrite: prepared.overwrite,
        },
        { attempts: 4, firstMs: 10_000 },
      );
      // a refusal a retry would hear again comes back as a value: one upload, one answer
      if (started?.refused) startFailure = started.refused.message;
    } catch (error) {
      startFailure = errorMessage(error);
    }
    if (startFailure !== undefined) {
      const check = yield* checkFailedStart(context, {
        environment: input.environment,
        executionId,
        code: 'IMPORT_START_FAILED',
        call: 'Upload or ImportFromPackage',
        failure: startFailure,
      });
      if (check.kind === 'notRegistered') called = false;
      if (check.error) errors.push(check.error);
    }
    if (errors.length > 0) {
      outcome = 'Failed';
    } else {
      startedAt = now();
      timings.startedAt = startedAt.toISOString();
      publish({ stage: 'Polling', startedAt: timings.startedAt });
      // the waiter now first in line moved up: wake it so it rechecks (and shows) its new place;
      // done after the start, off the path from a free slot to F&O
      if (waited.next !== undefined) yield* slot.notify([waited.next]);
      const polled = yield* pollExecution(context, {
        environment: input.environment,
        executionId,
        startedAt,
        polling: prepared.polling,
        historyKey: historyKey(input.environment, input.project),
        onProgress: (p) => {
          foStatus = p.foStatus ?? foStatus;
          publish({
            polls: p.polls,
            pollLog: p.pollLog,
            ...(p.foStatus ? { foStatus: p.foStatus } : {}),
            ...(p.nextPollAt ? { nextPollAt: p.nextPollAt } : {}),
          });
        },
      });
      timings.executionMs = now().getTime() - startedAt.getTime();
      if (polled.kind === 'timedOut') {
        errors.push({
          code: 'IMPORT_TIMED_OUT',
          message: `F&O did not finish execution ${executionId} within ${prepared.polling.deadlineHours} h (last status ${foStatus ?? 'unknown'}).`,
        });
        outcome = 'TimedOut';
      } else if (polled.kind === 'notFound') {
        errors.push({
          code: 'DMF_EXECUTION_NOT_FOUND',
          message: `F&O still did not know execution ${executionId} ${Math.round(polled.graceMs / 1000)} s after ImportFromPackage accepted it.`,
        });
        outcome = 'Failed';
      } else {
        outcome = polled.status as JobOutcome;
      }
    }
  } finally {
    yield* slot.release();
  }

  // f) errors: copied into our storage before F&O's 7-day purge
  // (only for executions F&O reported on: an unknown or unconfirmed one has nothing to collect)
  if (
    called &&
    foStatus !== undefined &&
    (outcome === 'PartiallySucceeded' || outcome === 'Failed' || outcome === 'Canceled')
  ) {
    publish({ stage: 'CollectingErrors', nextPollAt: undefined });
    const request: CollectErrorsInput = {
      instanceId,
      environment: input.environment,
      executionId,
      logicalPath: input.logicalPath,
      entities: prepared.entities,
    };
    try {
      const collected = yield* collectErrorDetails(context, request);
      errors.push(...collected.errors);
      files.push(...collected.files);
      for (const entity of collected.pendingTargetKeys) {
        errors.push({
          code: 'TARGET_KEYS_NOT_READY',
          entity,
          message: `F&O did not produce the target error keys file of "${entity}" in time.`,
        });
      }
    } catch (error) {
      errors.push({
        code: 'ERROR_FILES_UNAVAILABLE',
        message: `Could not copy F&O's error details: ${errorMessage(error)}`,
      });
    }
  }

  // g) finish
  return yield* finish(outcome, prepared.sourceBlob, prepared.stagingBlobs);
}
