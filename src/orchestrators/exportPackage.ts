/**
 * The `exportPackage` orchestration: ExportToPackage (execution id derived from the instance id) →
 * poll like imports → GetExportedPackageUrl until it is not "" → stream the package into the
 * outbound container (optionally unpacked) → error details when it failed → result JSON + event.
 * Deterministic: only `context.df.*`, time from `currentUtcDateTime`.
 */
import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { EXPORT_ACTIVITIES, EXPORT_ORCHESTRATOR } from '../activities/exportNames.js';
import { historyKey, IMPORT_ACTIVITIES } from '../activities/names.js';
import { executionIdFor, type ImportOutcome, type JobError } from '../shared/jobs/index.js';
import { exportFileName, exportFolder, exportLogicalPath } from '../activities/exportFo.js';
import {
  ExportInputSchema,
  type ExportCustomStatus,
  type ExportResult,
  type ExportStartInput,
  type ExportStoreInput,
  type ExportStoreResult,
} from './exportInput.js';
import {
  activityRetry,
  confirmStart,
  errorMessage,
  pollExecution,
  unconfirmedStartNote,
} from './executionPolling.js';
import type { CollectErrorsInput, CollectErrorsResult } from './input.js';

/** How long GetExportedPackageUrl may answer "" after the execution finished. */
export const PACKAGE_URL_DEADLINE_MS = 60 * 60_000;

/** The orchestrator function (exported for tests; registered below). */
export function* exportPackageOrchestrator(
  context: OrchestrationContext,
): Generator<Task, ExportResult, unknown> {
  const input = ExportInputSchema.parse(context.df.getInput());
  const instanceId = context.df.instanceId;
  const executionId = executionIdFor(instanceId);
  const now = (): Date => context.df.currentUtcDateTime;
  const status: ExportCustomStatus = { stage: 'Starting', executionId, polls: 0, urlPolls: 0 };
  const publish = (patch: Partial<ExportCustomStatus>): void => {
    Object.assign(status, patch);
    context.df.setCustomStatus({ ...status });
  };
  publish({});
  const result: ExportResult = {
    id: instanceId,
    kind: 'export',
    status: 'Failed',
    environment: input.environment,
    project: input.project,
    definitionGroupId: input.definitionGroupId,
    legalEntity: input.legalEntity,
    packageName: input.packageName,
    trigger: input.trigger,
    ...(input.correlationId ? { correlationId: input.correlationId } : {}),
    ...(input.scheduledFor ? { scheduledFor: input.scheduledFor } : {}),
    timings: { requestedAt: input.requestedAt, finishedAt: '' },
    polls: 0,
    urlPolls: 0,
    unpacked: [],
    errors: [],
    errorFiles: [],
  };
  const errors: JobError[] = result.errors;

  function* finish(outcome: ImportOutcome): Generator<Task, ExportResult, unknown> {
    publish({ stage: 'Finishing', nextPollAt: undefined });
    result.status = outcome;
    result.polls = status.polls;
    result.pollLog = status.pollLog ?? [];
    result.urlPolls = status.urlPolls;
    if (status.foStatus) result.foStatus = status.foStatus;
    result.timings.finishedAt = now().toISOString();
    const final = (yield context.df.callActivityWithRetry(
      EXPORT_ACTIVITIES.finish,
      activityRetry(5, 5_000),
      result,
    )) as ExportResult;
    publish({ stage: 'Done' });
    return final;
  }

  // a) start; a failed start may still have registered (DMF_START_UNCONFIRMED): F&O has the last word
  const startInput: ExportStartInput = {
    environment: input.environment,
    executionId,
    definitionGroupId: input.definitionGroupId,
    packageName: input.packageName,
    reExecute: input.reExecute,
    legalEntity: input.legalEntity,
  };
  try {
    yield context.df.callActivityWithRetry(EXPORT_ACTIVITIES.start, activityRetry(4, 10_000), startInput);
  } catch (error) {
    const check = yield* confirmStart(context, { environment: input.environment, executionId });
    if (check.kind === 'unknown') {
      result.executionId = executionId;
      errors.push({
        code: 'EXPORT_START_FAILED',
        message: `ExportToPackage failed: ${errorMessage(error)}. ${unconfirmedStartNote(executionId, check.message)}`,
      });
      return yield* finish('Failed');
    }
    if (check.kind === 'notRegistered') {
      errors.push({ code: 'EXPORT_START_FAILED', message: `ExportToPackage failed: ${errorMessage(error)}` });
      return yield* finish('Failed');
    }
  }
  result.executionId = executionId;
  const startedAt = now();
  result.timings.startedAt = startedAt.toISOString();

  // b) poll the execution as imports do, learning from the project's earlier durations
  publish({ stage: 'Polling' });
  const polled = yield* pollExecution(context, {
    environment: input.environment,
    executionId,
    startedAt,
    polling: input.polling,
    historyKey: historyKey(input.environment, input.project),
    onProgress: (p) =>
      publish({
        polls: p.polls,
        pollLog: p.pollLog,
        ...(p.foStatus ? { foStatus: p.foStatus } : {}),
        nextPollAt: p.nextPollAt,
      }),
  });
  result.timings.executionMs = now().getTime() - startedAt.getTime();
  let outcome: ImportOutcome;
  if (polled.kind === 'timedOut') {
    errors.push({
      code: 'EXPORT_TIMED_OUT',
      message: `F&O did not finish export ${executionId} within ${input.polling.deadlineHours} h (last status ${polled.lastStatus ?? 'unknown'}).`,
    });
    return yield* finish('TimedOut');
  } else if (polled.kind === 'notFound') {
    errors.push({
      code: 'DMF_EXECUTION_NOT_FOUND',
      message: `F&O still did not know execution ${executionId} ${Math.round(polled.graceMs / 1000)} s after ExportToPackage accepted it.`,
    });
    return yield* finish('Failed');
  } else {
    outcome = polled.status as ImportOutcome;
  }

  if (outcome === 'Succeeded' || outcome === 'PartiallySucceeded') {
    // c) the package: GetExportedPackageUrl answers "" until F&O has written it
    publish({ stage: 'WaitingForPackage', nextPollAt: undefined });
    const storeInput: ExportStoreInput = {
      environment: input.environment,
      executionId,
      folder: exportFolder(input.environment, input.project, input.requestedAt),
      fileName: exportFileName(input.packageName, instanceId),
      unpack: input.unpack,
    };
    const readySince = now().getTime();
    let stored: ExportStoreResult;
    for (let attempt = 0; ; attempt++) {
      try {
        stored = (yield context.df.callActivityWithRetry(
          EXPORT_ACTIVITIES.store,
          activityRetry(4, 5_000),
          storeInput,
        )) as ExportStoreResult;
      } catch (error) {
        errors.push({
          code: 'EXPORT_STORE_FAILED',
          message: `Could not store the package: ${errorMessage(error)}`,
        });
        return yield* finish('Failed');
      }
      if (stored.ready) break;
      publish({ urlPolls: status.urlPolls + 1 });
      const waited = now().getTime() - readySince;
      if (waited >= PACKAGE_URL_DEADLINE_MS) break;
      const delay = Math.min(
        input.polling.firstIntervalSeconds * 1000 * Math.pow(input.polling.backoffFactor, attempt),
        input.polling.maxIntervalSeconds * 1000,
        PACKAGE_URL_DEADLINE_MS - waited,
      );
      const at = new Date(now().getTime() + delay);
      publish({ nextPollAt: at.toISOString() });
      yield context.df.createTimer(at);
    }
    if (!stored.ready) {
      errors.push({
        code: 'EXPORT_PACKAGE_NOT_READY',
        message: `GetExportedPackageUrl still answered "" ${PACKAGE_URL_DEADLINE_MS / 60_000} min after execution ${executionId} finished.`,
      });
      return yield* finish('Failed');
    }
    result.timings.packageReadyAt = now().toISOString();
    result.package = stored.package;
    result.unpacked = stored.unpacked;
    return yield* finish(outcome);
  }

  // d) failed or canceled: copy F&O's error details (the import's error collection, execution errors only)
  publish({ stage: 'CollectingErrors', nextPollAt: undefined });
  const request: CollectErrorsInput = {
    instanceId,
    environment: input.environment,
    executionId,
    logicalPath: exportLogicalPath(input.environment, input.project),
    entities: [],
  };
  try {
    const collected = (yield context.df.callActivityWithRetry(
      IMPORT_ACTIVITIES.collectErrors,
      activityRetry(4, 5_000),
      request,
    )) as CollectErrorsResult;
    errors.push(...collected.errors);
    result.errorFiles.push(...collected.files);
  } catch (error) {
    errors.push({
      code: 'ERROR_FILES_UNAVAILABLE',
      message: `Could not copy F&O's error details: ${errorMessage(error)}`,
    });
  }
  if (errors.length === 0)
    errors.push({ code: 'EXPORT_FAILED', message: `F&O ended export ${executionId} with ${outcome}.` });
  return yield* finish(outcome);
}

df.app.orchestration(EXPORT_ORCHESTRATOR, exportPackageOrchestrator);
