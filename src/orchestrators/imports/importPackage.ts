/**
 * The `importPackage` orchestration: prepare → wait for the environment's slot → upload + start →
 * poll with durable timers → copy error files → finish. Deterministic: only `context.df.*`, time
 * from `currentUtcDateTime`, no I/O. The slot is released on every path once it was asked for.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import { ORCHESTRATORS } from '../../shared/app/names.js';
import type { CollectErrorsInput } from '../../activities/common/executions.js';
import { IMPORT_ACTIVITIES } from '../../activities/imports/index.js';
import type { CheckDefinitionResult } from '../../activities/imports/definition.js';
import type { PrepareResult } from '../../activities/imports/prepare.js';
import type { UploadAndStartRefused } from '../../activities/imports/uploadAndStart.js';
import {
  executionIdFor,
  ImportInputSchema,
  type BlobRef,
  type ExecutionSummary,
  type ImportCustomStatus,
  type ImportInput,
  type ImportResult,
  type JobError,
  type JobOutcome,
} from '../../shared/jobs/index.js';
import { errorMessage } from '../../shared/util.js';
import { batchErrors, collectBatch } from '../common/batches.js';
import { callActivity, subOrchestration } from '../common/call.js';
import {
  checkFailedStart,
  collectErrorDetails,
  pollExecution,
  summarizeExecution,
  untilNotThrottled,
} from '../common/executions.js';
import { environmentHistoryKey, historyKey } from '../common/history.js';
import { recordQueued } from '../common/paused.js';
import { orchestrationStart } from '../common/start.js';
import { customStatus } from '../common/status.js';
import { environmentSlot, IMPORT_SLOT_CAPACITY } from './slot.js';

/** F&O's words when ImportFromPackage names an existing data project without `overwrite` (RIS #54, #75). */
const PROJECT_EXISTS = /exists and overwrite has not been specified/i;

/**
 * The job's error for a start F&O refused. Its refusal of an existing data project without
 * `overwrite` names the setting that sent `overwrite: false`.
 */
function refusal(refused: UploadAndStartRefused, input: ImportInput, overwrite: boolean): JobError {
  if (!overwrite && PROJECT_EXISTS.test(refused.innerMessage ?? refused.message)) {
    const why = input.overwrite
      ? "the package holds a composite entity, which Microsoft's package API docs require to be imported with overwrite false"
      : `the job's "overwrite" is false: the data project "${input.project}" says "overwrite": false in the configuration (or the command or request that started the job did)`;
    return {
      code: 'DATA_PROJECT_EXISTS',
      message: `F&O refused the import: data project '${input.definitionGroupId}' exists and ${why}. F&O imports into an existing data project only with overwrite true (which replaces the project's definition with the package's); with overwrite false it can only create a project it does not have yet. Set "overwrite": true on data project "${input.project}", or import into a data project F&O does not have. F&O said: ${refused.innerMessage ?? refused.message}`,
    };
  }
  return { code: 'IMPORT_START_FAILED', message: `F&O refused the start: ${refused.message}` };
}

/** This orchestration as a child job of another (a chain's step): its input and result typed. */
export const importPackageJob = subOrchestration<ImportInput, ImportResult>(ORCHESTRATORS.importPackage);

/** The orchestrator function. */
export function* importPackageOrchestrator(
  context: OrchestrationContext,
): Generator<Task, ImportResult, unknown> {
  const { input, instanceId, now } = orchestrationStart(context, ImportInputSchema);
  const executionId = executionIdFor(instanceId);
  const { status, publish } = customStatus<ImportCustomStatus>(context, {
    stage: 'Preparing',
    executionId,
    polls: 0,
  });
  const timings: ImportResult['timings'] = { requestedAt: input.requestedAt, finishedAt: '' };
  const errors: JobError[] = [];
  const files: ImportResult['errorFiles'] = [];
  const summary: ExecutionSummary = {};
  let foStatus: string | undefined;
  let called = false;

  function* finish(
    outcome: JobOutcome,
    sourceBlob: BlobRef | undefined,
    stagingBlobs: BlobRef[],
    sourceBlobs?: BlobRef[],
  ): Generator<Task, ImportResult, unknown> {
    publish({ stage: 'Finishing', nextPollAt: undefined });
    timings.finishedAt = now().toISOString();
    const source = input.source;
    const result: ImportResult = {
      id: instanceId,
      status: outcome,
      file: input.fileName,
      source:
        source.kind === 'blob'
          ? `${source.container}/${source.path}`
          : source.kind === 'batch'
            ? `${source.container}/${source.folder}/`
            : source.url.split('?')[0]!,
      environment: input.environment,
      project: input.project,
      definitionGroupId: input.definitionGroupId,
      legalEntity: input.legalEntity,
      ...(called ? { executionId } : {}),
      ...(foStatus ? { foStatus } : {}),
      trigger: input.trigger,
      ...(input.correlationId ? { correlationId: input.correlationId } : {}),
      ...(input.rerunOf ? { rerunOf: input.rerunOf } : {}),
      timings,
      polls: status.polls,
      pollLog: status.pollLog ?? [],
      errors,
      errorFiles: files,
      ...summary,
      ...(batch ? { batch } : {}),
      ...(input.parentId ? { parentId: input.parentId } : {}),
    };
    const final = yield* callActivity(
      context,
      IMPORT_ACTIVITIES.finish,
      {
        result,
        logicalPath: input.logicalPath,
        ...(sourceBlob ? { sourceBlob } : {}),
        ...(sourceBlobs ? { sourceBlobs } : {}),
        stagingBlobs,
      },
      { attempts: 5, firstMs: 5_000 },
    );
    publish({ stage: 'Done' });
    return final;
  }

  // a0) a batch waits for its files first (no place in the environment's queue meanwhile): it is
  // complete with its trigger file and a file for every required entity, or fails at its deadline
  // with its files left where they are
  let batch: ImportResult['batch'];
  let toPrepare = input;
  const slot = environmentSlot(context, { environment: input.environment, instanceId });
  if (input.source.kind === 'batch' && input.source.collect && !input.source.files) {
    const { source } = input;
    const collect = input.source.collect;
    publish({ stage: 'Collecting' });
    const collected = yield* collectBatch(context, {
      batchId: source.batchId,
      collect,
      check: {
        instanceId,
        container: source.container,
        folder: source.folder,
        owner: { kind: 'project', project: input.project },
      },
      onProgress: (progress) => publish({ batch: progress }),
    });
    const { check } = collected;
    batch = {
      id: source.batchId,
      folder: source.folder,
      files: check.files.map((f) => ({ name: f.name, ...(f.entity ? { entity: f.entity } : {}) })),
      ...(check.missing.length > 0 ? { missing: check.missing } : {}),
    };
    if (collected.outcome !== 'ready') {
      errors.push(...batchErrors(collected, collect));
      return yield* finish(collected.outcome === 'canceled' ? 'Canceled' : 'Failed', undefined, []);
    }
    timings.collectedAt = now().toISOString();
    toPrepare = {
      ...input,
      source: { ...source, files: [...check.files, ...(check.triggerFile ? [check.triggerFile] : [])] },
    };
  } else if (input.source.kind === 'batch') {
    batch = {
      id: input.source.batchId,
      folder: input.source.folder,
      files: (input.source.files ?? []).map((f) => ({
        name: f.name,
        ...(f.entity ? { entity: f.entity } : {}),
      })),
    };
  }

  // take a place in the environment's queue now: arrival order, whatever the prepare times. A url
  // import takes its place once its content is staged (below): a slow or failing url must not hold
  // the files behind it. A collected batch takes its place when it became complete.
  const queuesAfterPrepare = input.source.kind === 'url';
  if (!queuesAfterPrepare) slot.enqueue(timings.collectedAt ?? input.requestedAt);

  // a) prepare
  let prepared: PrepareResult;
  try {
    prepared = yield* callActivity(
      context,
      IMPORT_ACTIVITIES.prepare,
      { input: toPrepare, instanceId },
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
    return yield* finish('Failed', prepared.sourceBlob, prepared.stagingBlobs, prepared.sourceBlobs);
  }
  timings.preparedAt = now().toISOString();
  if (queuesAfterPrepare) slot.enqueue(timings.preparedAt);

  // a2) a package imported with overwrite replaces the F&O data project's definition: refuse one
  // that would drop entities or mapped fields of the project's template, before the slot and upload
  if (prepared.overwrite) {
    let checked: CheckDefinitionResult;
    try {
      checked = yield* callActivity(
        context,
        IMPORT_ACTIVITIES.checkDefinition,
        { instanceId, project: input.project, packageBlob: prepared.packageBlob, overwrite: true },
        { attempts: 4, firstMs: 5_000 },
      );
    } catch (error) {
      checked = {
        ok: false,
        errors: [
          { code: 'PREPARE_FAILED', message: `The package could not be checked: ${errorMessage(error)}` },
        ],
      };
    }
    if (!checked.ok) {
      yield* slot.release();
      errors.push(...checked.errors);
      return yield* finish('Failed', prepared.sourceBlob, prepared.stagingBlobs, prepared.sourceBlobs);
    }
  }

  // b) wait for the environment's slot
  const graceMs = prepared.polling.notStartedGraceSeconds * 1000;
  // while the environment is paused the import keeps its place and is listed Queued
  const waited = yield* slot.wait(
    {
      capacity: IMPORT_SLOT_CAPACITY,
      graceMs,
      onPausedChange: (paused) => recordQueued(context, { kind: 'import', input, paused }),
    },
    (position, paused) => publish({ stage: 'WaitingForSlot', slotPosition: position, paused }),
  );
  if (waited.canceled) {
    yield* slot.release();
    errors.push({ code: 'CANCELED', message: 'The import was canceled before it was sent to F&O.' });
    return yield* finish('Canceled', prepared.sourceBlob, prepared.stagingBlobs, prepared.sourceBlobs);
  }
  timings.slotAcquiredAt = now().toISOString();
  publish({ slotPosition: undefined, paused: undefined });
  const deadline = new Date(now().getTime() + prepared.polling.deadlineHours * 3_600_000);

  // c+d+e) upload, start, poll. The slot is released on every path — except when F&O may still be
  // running the execution (deadline outcomes): then it stays held until F&O is done with it (a
  // waiter's recheck asks F&O), since F&O fails an ImportFromPackage started while another runs.
  let outcome: JobOutcome;
  let startedAt: Date | undefined;
  let keepSlot = false;
  try {
    publish({ stage: 'Uploading' });
    let startFailure: string | undefined;
    called = true;
    const started = yield* untilNotThrottled(
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
      { deadline, onThrottled: (until) => publish({ throttledUntil: until?.toISOString() }) },
    );
    if (started.kind === 'threw') startFailure = started.message;
    if (started.kind === 'throttled') {
      // a 429 is refused before F&O processes anything: the import was not started
      called = false;
      errors.push({
        code: 'IMPORT_START_THROTTLED',
        message: `F&O throttled the start (HTTP 429) until the project's deadline (${prepared.polling.deadlineHours} h after the slot was granted): the import was not started. ${started.message}`,
      });
      outcome = 'TimedOut';
    } else if (started.kind === 'refused') {
      called = false;
      errors.push(refusal(started, input, prepared.overwrite));
      outcome = 'Failed';
    } else {
      outcome = 'Failed';
    }
    if (startFailure !== undefined) {
      const check = yield* checkFailedStart(context, {
        environment: input.environment,
        executionId,
        code: 'IMPORT_START_FAILED',
        call: 'Upload or ImportFromPackage',
        failure: startFailure,
        graceMs,
        deadline,
        polling: prepared.polling,
      });
      if (check.kind === 'notRegistered') called = false;
      if (check.error) errors.push(check.error);
      if (check.outcome) outcome = check.outcome;
      // F&O may have registered it: it keeps the slot until F&O says it is done with it
      if (check.outcome === 'TimedOut') keepSlot = true;
    }
    if (errors.length === 0) {
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
        environmentHistoryKey: environmentHistoryKey(input.environment, 'import'),
        ...(prepared.dataBytes !== undefined ? { size: prepared.dataBytes } : {}),
        onProgress: (p) => {
          foStatus = p.foStatus ?? foStatus;
          publish({
            polls: p.polls,
            pollLog: p.pollLog,
            throttledUntil: p.throttledUntil,
            ...(p.foStatus ? { foStatus: p.foStatus } : {}),
            ...(p.nextPollAt ? { nextPollAt: p.nextPollAt } : {}),
          });
        },
      });
      timings.executionMs = now().getTime() - startedAt.getTime();
      if (polled.kind === 'timedOut') {
        keepSlot = true;
        errors.push(
          foStatus === undefined
            ? {
                code: 'DMF_EXECUTION_UNCONFIRMED',
                message: `ImportFromPackage accepted execution ${executionId}, but F&O never reported it within the project's deadline (${prepared.polling.deadlineHours} h): the outcome is unknown — check F&O for execution ${executionId} before importing the file again.`,
              }
            : {
                code: 'IMPORT_TIMED_OUT',
                message: `F&O did not finish execution ${executionId} within the project's deadline (${prepared.polling.deadlineHours} h; last status ${foStatus}): the outcome is unknown — check F&O for execution ${executionId} before importing the file again.`,
              },
        );
        outcome = 'TimedOut';
      } else {
        outcome = polled.status as JobOutcome;
      }
    }
  } finally {
    publish({ throttledUntil: undefined });
    if (!keepSlot) yield* slot.release();
  }

  // e2) the execution's F&O page and per entity counts, for every job F&O may know
  if (called)
    Object.assign(
      summary,
      yield* summarizeExecution(context, { environment: input.environment, executionId }),
    );

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
  return yield* finish(outcome, prepared.sourceBlob, prepared.stagingBlobs, prepared.sourceBlobs);
}
