/**
 * The `importPackage` orchestration: prepare → wait for the environment's slot → upload + start →
 * poll with durable timers → copy error files → finish. Deterministic: only `context.df.*`, time
 * from `currentUtcDateTime`, no I/O. The slot is released on every path once it was asked for.
 */
import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import {
  historyKey,
  IMPORT_ACTIVITIES,
  IMPORT_ENTITIES,
  IMPORT_EVENTS,
  IMPORT_ORCHESTRATOR,
} from '../activities/names.js';
import type { FinishInput } from '../activities/finish.js';
import {
  executionIdFor,
  type ImportCustomStatus,
  type ImportOutcome,
  type ImportResult,
  type JobError,
} from '../shared/jobs/index.js';
import {
  ImportInputSchema,
  type BlobRef,
  type CollectErrorsInput,
  type PrepareResult,
  type UploadAndStartInput,
  type UploadAndStartResult,
} from './input.js';
import {
  activityRetry,
  collectErrorDetails,
  confirmStart,
  errorMessage,
  pollExecution,
  unconfirmedStartNote,
} from './executionPolling.js';
import type { AcquireResult } from './slot.js';

/**
 * How often the first waiter re-checks the slot when no grant event came (a missed notification, a
 * holder or waiter that no longer runs). A waiter further back waits this times its position, up to
 * {@link SLOT_RECHECK_MAX_FACTOR}: grants arrive as events, the recheck is only the safety net, and
 * 200 queued files should not cost 200 activity calls a minute.
 */
export const SLOT_RECHECK_MS = 60_000;
/** Longest recheck interval, in multiples of {@link SLOT_RECHECK_MS}. */
export const SLOT_RECHECK_MAX_FACTOR = 15;

/** The orchestrator function (exported for tests; registered below). */
export function* importPackageOrchestrator(
  context: OrchestrationContext,
): Generator<Task, ImportResult, unknown> {
  const input = ImportInputSchema.parse(context.df.getInput());
  const instanceId = context.df.instanceId;
  const executionId = executionIdFor(instanceId);
  const now = (): Date => context.df.currentUtcDateTime;
  const status: ImportCustomStatus = { stage: 'Preparing', executionId, polls: 0 };
  const publish = (patch: Partial<ImportCustomStatus>): void => {
    Object.assign(status, patch);
    context.df.setCustomStatus({ ...status });
  };
  publish({});
  const timings: ImportResult['timings'] = { requestedAt: input.requestedAt, finishedAt: '' };
  const errors: JobError[] = [];
  const files: ImportResult['errorFiles'] = [];
  let foStatus: string | undefined;
  let called = false;

  function* finish(
    outcome: ImportOutcome,
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
    const finishInput: FinishInput = {
      result,
      logicalPath: input.logicalPath,
      ...(sourceBlob ? { sourceBlob } : {}),
      stagingBlobs,
    };
    const final = (yield context.df.callActivityWithRetry(
      IMPORT_ACTIVITIES.finish,
      activityRetry(5, 5_000),
      finishInput,
    )) as ImportResult;
    publish({ stage: 'Done' });
    return final;
  }

  // take a place in the environment's queue now: arrival order, whatever the prepare times
  const slot = new df.EntityId(IMPORT_ENTITIES.slot, input.environment);
  context.df.signalEntity(slot, 'enqueue', {
    instanceId,
    now: now().toISOString(),
    since: input.requestedAt,
  });
  function* notify(instanceIds: string[]): Generator<Task, void, unknown> {
    if (instanceIds.length === 0) return;
    try {
      yield context.df.callActivityWithRetry(IMPORT_ACTIVITIES.notifySlot, activityRetry(5, 2_000), {
        instanceIds,
      });
    } catch {
      // the granted imports also find out at their next recheck
    }
  }
  function* release(): Generator<Task, void, unknown> {
    const granted = (yield context.df.callEntity(slot, 'remove', {
      instanceIds: [instanceId],
      now: now().toISOString(),
    })) as string[];
    yield* notify(granted);
  }

  // a) prepare
  let prepared: PrepareResult;
  try {
    prepared = (yield context.df.callActivityWithRetry(IMPORT_ACTIVITIES.prepare, activityRetry(4, 5_000), {
      input,
      instanceId,
    })) as PrepareResult;
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
    yield* release();
    errors.push(...prepared.errors);
    return yield* finish('Failed', prepared.sourceBlob, prepared.stagingBlobs);
  }
  timings.preparedAt = now().toISOString();

  // b) wait for the environment's slot (FIFO; stale holders evicted on the recheck timer)
  const capacity = prepared.concurrency;
  const cancelWaiters: Task[] = [];
  const cancelWaiter = (): Task => {
    const task = context.df.waitForExternalEvent(IMPORT_EVENTS.cancel);
    cancelWaiters.push(task);
    return task;
  };
  let acquired = (yield context.df.callEntity(slot, 'acquire', {
    instanceId,
    capacity,
    now: now().toISOString(),
  })) as AcquireResult;
  yield* notify(acquired.notify);
  while (!acquired.granted) {
    publish({ stage: 'WaitingForSlot', slotPosition: acquired.position });
    const granted = context.df.waitForExternalEvent(IMPORT_EVENTS.slotGranted);
    const cancel = cancelWaiter();
    const recheckMs = SLOT_RECHECK_MS * Math.min(Math.max(1, acquired.position), SLOT_RECHECK_MAX_FACTOR);
    const recheck = context.df.createTimer(new Date(now().getTime() + recheckMs));
    const winner = (yield context.df.Task.any([granted, cancel, recheck])) as Task;
    if (winner !== recheck) recheck.cancel();
    if (winner === cancel) break;
    if (winner === recheck) {
      const stale = (yield context.df.callActivityWithRetry(
        IMPORT_ACTIVITIES.findStaleHolders,
        activityRetry(3, 2_000),
        { instanceIds: acquired.watch },
      )) as string[];
      if (stale.length > 0) {
        const freed = (yield context.df.callEntity(slot, 'remove', {
          instanceIds: stale,
          now: now().toISOString(),
        })) as string[];
        yield* notify(freed.filter((id) => id !== instanceId));
      }
    }
    acquired = (yield context.df.callEntity(slot, 'acquire', {
      instanceId,
      capacity,
      now: now().toISOString(),
    })) as AcquireResult;
    yield* notify(acquired.notify);
  }
  if (acquired.granted && cancelWaiters.length === 0) {
    // a cancel raised while preparing is buffered: a zero timer lets it win if it is there
    const cancel = cancelWaiter();
    const zero = context.df.createTimer(now());
    const winner = (yield context.df.Task.any([cancel, zero])) as Task;
    if (winner !== zero) zero.cancel();
  }
  if (cancelWaiters.some((t) => t.isCompleted)) {
    yield* release();
    errors.push({ code: 'CANCELED', message: 'The import was canceled before it was sent to F&O.' });
    return yield* finish('Canceled', prepared.sourceBlob, prepared.stagingBlobs);
  }
  timings.slotAcquiredAt = now().toISOString();
  publish({ slotPosition: undefined });

  // c+d+e) upload, start, poll — the slot is released on every path
  let outcome: ImportOutcome;
  let startedAt: Date | undefined;
  try {
    publish({ stage: 'Uploading' });
    const startInput: UploadAndStartInput = {
      instanceId,
      executionId,
      environment: input.environment,
      packageBlob: prepared.packageBlob,
      definitionGroupId: input.definitionGroupId,
      legalEntity: input.legalEntity,
      execute: input.execute,
      overwrite: prepared.overwrite,
    };
    let startFailure: string | undefined;
    try {
      called = true;
      (yield context.df.callActivityWithRetry(
        IMPORT_ACTIVITIES.uploadAndStart,
        activityRetry(4, 10_000),
        startInput,
      )) as UploadAndStartResult;
    } catch (error) {
      startFailure = errorMessage(error);
    }
    if (startFailure !== undefined) {
      const check = yield* confirmStart(context, { environment: input.environment, executionId });
      if (check.kind === 'unknown') {
        // F&O cannot be asked either: end readably rather than leave the job without a result
        errors.push({
          code: 'IMPORT_START_FAILED',
          message: `Upload or ImportFromPackage failed: ${startFailure}. ${unconfirmedStartNote(executionId, check.message)}`,
        });
      } else if (check.kind === 'notRegistered') {
        called = false;
        errors.push({
          code: 'IMPORT_START_FAILED',
          message: `Upload or ImportFromPackage failed: ${startFailure}`,
        });
      }
    }
    if (errors.length > 0) {
      outcome = 'Failed';
    } else {
      startedAt = now();
      timings.startedAt = startedAt.toISOString();
      publish({ stage: 'Polling', startedAt: timings.startedAt });
      // the waiter now first in line moved up: wake it so it rechecks (and shows) its new place;
      // done after the start, off the path from a free slot to F&O
      if (acquired.next !== undefined) yield* notify([acquired.next]);
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
        outcome = polled.status as ImportOutcome;
      }
    }
  } finally {
    yield* release();
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

df.app.orchestration(IMPORT_ORCHESTRATOR, importPackageOrchestrator);
