/**
 * The `exportPackage` orchestration: ExportToPackage (execution id derived from the instance id) →
 * poll like imports → GetExportedPackageUrl until it is not "" → stream the package into the
 * outbound container (optionally unpacked) → error details when it failed → result JSON + event.
 * Deterministic: only `context.df.*`, time from `currentUtcDateTime`.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import { ORCHESTRATORS } from '../../shared/app/names.js';
import { EXPORT_ACTIVITIES } from '../../activities/exports/index.js';
import type { ExportStartResult, ExportStoreResult } from '../../activities/exports/package.js';
import {
  executionIdFor,
  ExportInputSchema,
  type ExecutionSummary,
  type ExportCustomStatus,
  type ExportInput,
  type ExportResult,
  type JobError,
  type JobOutcome,
} from '../../shared/jobs/index.js';
import { backoffDelayMs } from '../../shared/polling/schedule.js';
import { exportFileName, exportFolder, exportLogicalPath } from '../../shared/storage/index.js';
import { errorMessage } from '../../shared/util.js';
import { callActivity, subOrchestration } from '../common/call.js';
import {
  checkFailedStart,
  type ActivityFailure,
  collectErrorDetails,
  pollExecution,
  summarizeExecution,
  untilNotThrottled,
} from '../common/executions.js';
import { environmentHistoryKey, historyKey } from '../common/history.js';
import { recordQueued, waitForResume } from '../common/paused.js';
import { pollUntil } from '../common/polling.js';
import { orchestrationStart } from '../common/start.js';
import { customStatus } from '../common/status.js';

/**
 * Starts of an export whose ExportToPackage answers the all-zero GUID (it started nothing; Microsoft's
 * Logic App sample starts again until it gets an id).
 */
export const ZERO_GUID_STARTS = 5;
/** Wait before the second start after a zero GUID; it doubles for each further one. */
export const ZERO_GUID_WAIT_MS = 15_000;

/** How long GetExportedPackageUrl may answer "" after the execution finished. */
export const PACKAGE_URL_DEADLINE_MS = 60 * 60_000;

/** This orchestration as a child job of another (one company's export of a group): its input and result typed. */
export const exportPackageJob = subOrchestration<ExportInput, ExportResult>(ORCHESTRATORS.exportPackage);

/** The orchestrator function. */
export function* exportPackageOrchestrator(
  context: OrchestrationContext,
): Generator<Task, ExportResult, unknown> {
  const { input, instanceId, now } = orchestrationStart(context, ExportInputSchema);
  const executionId = executionIdFor(instanceId);
  const { status, publish } = customStatus<ExportCustomStatus>(context, {
    stage: 'Starting',
    executionId,
    polls: 0,
    urlPolls: 0,
  });
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
    ...(input.rerunOf ? { rerunOf: input.rerunOf } : {}),
    ...(input.parentId ? { parentId: input.parentId } : {}),
    timings: { requestedAt: input.requestedAt, finishedAt: '' },
    polls: 0,
    urlPolls: 0,
    unpacked: [],
    errors: [],
    errorFiles: [],
  };
  const errors: JobError[] = result.errors;

  /** The execution's F&O page and per entity counts (best effort). */
  function summarize(): Generator<Task, ExecutionSummary, unknown> {
    return summarizeExecution(context, { environment: input.environment, executionId });
  }

  function* finish(outcome: JobOutcome): Generator<Task, ExportResult, unknown> {
    publish({ stage: 'Finishing', nextPollAt: undefined, throttledUntil: undefined });
    result.status = outcome;
    result.polls = status.polls;
    result.pollLog = status.pollLog ?? [];
    result.urlPolls = status.urlPolls;
    if (status.foStatus) result.foStatus = status.foStatus;
    result.timings.finishedAt = now().toISOString();
    const final = yield* callActivity(context, EXPORT_ACTIVITIES.finish, result, {
      attempts: 5,
      firstMs: 5_000,
    });
    publish({ stage: 'Done' });
    return final;
  }

  // a) start; a failed start may still have registered (DMF_START_UNCONFIRMED): F&O has the last
  // word. A 429 is waited out (Retry-After, durable timers) up to the deadline; the all-zero GUID
  // started nothing: start again, a bounded number of times.
  let deadline = new Date(now().getTime() + input.polling.deadlineHours * 3_600_000);
  let started: ExportStartResult | ActivityFailure;
  let listedQueued = false;
  for (let attempt = 1; ; attempt++) {
    started = yield* untilNotThrottled(
      context,
      EXPORT_ACTIVITIES.start,
      {
        environment: input.environment,
        executionId,
        definitionGroupId: input.definitionGroupId,
        packageName: input.packageName,
        reExecute: input.reExecute,
        legalEntity: input.legalEntity,
      },
      { attempts: 4, firstMs: 10_000 },
      { deadline, onThrottled: (until) => publish({ throttledUntil: until?.toISOString() }) },
    );
    if (started.kind === 'paused') {
      // the environment is paused: nothing was sent; listed Queued, the export waits for the resume
      // (the deadline counts from the start F&O finally gets)
      const { kind: _kind, ...pause } = started;
      const paused = { environment: input.environment, ...pause };
      publish({ paused });
      if (!listedQueued) yield* recordQueued(context, { kind: 'export', input, paused });
      listedQueued = true;
      yield* waitForResume(context);
      deadline = new Date(now().getTime() + input.polling.deadlineHours * 3_600_000);
      attempt--;
      continue;
    }
    if (listedQueued) publish({ paused: undefined });
    if (started.kind !== 'notStarted' || attempt >= ZERO_GUID_STARTS) break;
    yield context.df.createTimer(new Date(now().getTime() + ZERO_GUID_WAIT_MS * 2 ** (attempt - 1)));
  }
  if (started.kind === 'throttled') {
    errors.push({
      code: 'EXPORT_START_THROTTLED',
      message: `F&O throttled ExportToPackage (HTTP 429) until the project's deadline (${input.polling.deadlineHours} h): the export was not started. ${started.message}`,
    });
    return yield* finish('TimedOut');
  }
  if (started.kind === 'notStarted') {
    errors.push({
      code: 'EXPORT_NOT_STARTED',
      message: `ExportToPackage answered the all-zero execution id ${ZERO_GUID_STARTS} times: F&O started no export (is another export of data project '${input.definitionGroupId}' running?). ${started.message}`,
    });
    return yield* finish('Failed');
  }
  if (started.kind === 'threw') {
    const check = yield* checkFailedStart(context, {
      environment: input.environment,
      executionId,
      code: 'EXPORT_START_FAILED',
      call: 'ExportToPackage',
      failure: started.message,
      graceMs: input.polling.notStartedGraceSeconds * 1000,
      deadline,
      polling: input.polling,
    });
    if (check.kind === 'unanswered') result.executionId = executionId;
    if (check.error) {
      errors.push(check.error);
      if (check.outcome === 'TimedOut') Object.assign(result, yield* summarize());
      return yield* finish(check.outcome ?? 'Failed');
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
    environmentHistoryKey: environmentHistoryKey(input.environment, 'export'),
    onProgress: (p) =>
      publish({
        polls: p.polls,
        pollLog: p.pollLog,
        throttledUntil: p.throttledUntil,
        ...(p.foStatus ? { foStatus: p.foStatus } : {}),
        nextPollAt: p.nextPollAt,
      }),
  });
  result.timings.executionMs = now().getTime() - startedAt.getTime();
  Object.assign(result, yield* summarize());
  if (polled.kind === 'timedOut') {
    errors.push(
      polled.lastStatus === undefined
        ? {
            code: 'DMF_EXECUTION_UNCONFIRMED',
            message: `ExportToPackage accepted execution ${executionId}, but F&O never reported it within the project's deadline (${input.polling.deadlineHours} h): the outcome is unknown — check F&O for execution ${executionId}.`,
          }
        : {
            code: 'EXPORT_TIMED_OUT',
            message: `F&O did not finish export ${executionId} within the project's deadline (${input.polling.deadlineHours} h; last status ${polled.lastStatus}): the outcome is unknown — check F&O for execution ${executionId}.`,
          },
    );
    return yield* finish('TimedOut');
  }
  const outcome = polled.status as JobOutcome;

  if (outcome === 'Succeeded' || outcome === 'PartiallySucceeded') {
    // c) the package: GetExportedPackageUrl answers "" until F&O has written it; asked at once,
    // then on a backoff of the project's polling settings, for up to PACKAGE_URL_DEADLINE_MS
    publish({ stage: 'WaitingForPackage', nextPollAt: undefined });
    const storeInput = {
      environment: input.environment,
      executionId,
      folder: exportFolder(
        input.environment,
        input.project,
        input.requestedAt,
        input.legalEntityFolder ? input.legalEntity : undefined,
      ),
      fileName: exportFileName(input.packageName, instanceId),
      unpack: input.unpack,
    };
    let stored;
    try {
      stored = yield* pollUntil<ExportStoreResult>(context, {
        since: now(),
        deadlineMs: PACKAGE_URL_DEADLINE_MS,
        pollFirst: true,
        delayMs: ({ polls }) => backoffDelayMs(polls - 1, input.polling),
        poll: () =>
          callActivity(context, EXPORT_ACTIVITIES.store, storeInput, { attempts: 4, firstMs: 5_000 }),
        judge: (answer) => (answer.ready ? 'done' : 'noAnswer'),
        onAnswer: (answer) => {
          if (!answer.ready) publish({ urlPolls: status.urlPolls + 1 });
        },
        onWait: (at) => publish({ nextPollAt: at.toISOString() }),
      });
    } catch (error) {
      errors.push({
        code: 'EXPORT_STORE_FAILED',
        message: `Could not store the package: ${errorMessage(error)}`,
      });
      return yield* finish('Failed');
    }
    if (stored.kind === 'timedOut' || !stored.answer.ready) {
      errors.push({
        code: 'EXPORT_PACKAGE_NOT_READY',
        message: `GetExportedPackageUrl still answered "" ${PACKAGE_URL_DEADLINE_MS / 60_000} min after execution ${executionId} finished.`,
      });
      return yield* finish('Failed');
    }
    result.timings.packageReadyAt = now().toISOString();
    result.package = stored.answer.package;
    result.unpacked = stored.answer.unpacked;
    return yield* finish(outcome);
  }

  // d) failed or canceled: copy F&O's error details (execution errors only: no entities)
  publish({ stage: 'CollectingErrors', nextPollAt: undefined });
  try {
    const collected = yield* collectErrorDetails(context, {
      instanceId,
      environment: input.environment,
      executionId,
      logicalPath: exportLogicalPath(input.environment, input.project),
      entities: [],
    });
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
