/**
 * The use cases behind the recurring triggers: which export drains are due (one singleton per
 * environment + activity), and how a blob dropped in the recurring-inbound container becomes a
 * `recurringImport` instance (environment, activity, company and entity from the path and config),
 * or a rejection record.
 */
import type { DurableClient } from 'durable-functions';
import { findStatus, isActive, startOnce } from '../../shared/app/durableClient.js';
import { readEnvironmentGate } from '../../shared/app/environments.js';
import { ORCHESTRATORS } from '../../shared/app/names.js';
import { getRuntime, type Runtime } from '../../shared/app/runtime.js';
import {
  DEFAULT_POLLING,
  guidSchema,
  type AppConfig,
  type RecurringActivityConfig,
} from '../../shared/config/index.js';
import { InputError } from '../../shared/errors.js';
import {
  recordOf,
  recurringExportInstanceId,
  recurringImportInstanceId,
  type DrainInput,
  type RecurringImportInput,
} from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import {
  fileNameProblem,
  isNotFound,
  legalEntityProblem,
  printable,
  recordJob,
  segmentProblem,
  storageError,
} from '../../shared/storage/index.js';
import { unquoteEtag } from '../../shared/util.js';
import { recordRejection, rejectedBlobFacts } from '../common/rejections.js';
import { latestOccurrence, SCHEDULE_CATCH_UP_MS } from '../common/schedules.js';

/** Default largest enqueued file: 45 MiB (F&O refuses about 50 MB with 413). */
export const DEFAULT_MAX_ENQUEUE_BYTES = 45 * 1024 * 1024;

/** What the drain timer did for one activity. */
export interface DrainStart {
  activity: RecurringActivityConfig;
  instanceId: string;
  outcome: 'started' | 'running' | 'notDue' | 'alreadyRan' | 'paused';
  occurrence?: string;
}

/**
 * Starts the drain of every export activity whose schedule has an occurrence (within
 * {@link SCHEDULE_CATCH_UP_MS}) later than its last run's: one singleton instance per environment +
 * activity (`recurring-export-{env}-{activityId}`), skipped while it runs or while its environment
 * is paused (the next occurrence after the resume drains what accumulated).
 */
export async function startDueDrains(
  client: DurableClient,
  config: Pick<AppConfig, 'recurringActivities'>,
  now: Date,
  options: { force?: boolean } = {},
): Promise<DrainStart[]> {
  const out: DrainStart[] = [];
  for (const activity of config.recurringActivities) {
    if (activity.direction !== 'export') continue;
    const instanceId = recurringExportInstanceId(activity.environment, activity.id);
    const occurrence = options.force
      ? now
      : activity.schedule
        ? latestOccurrence(activity.schedule, now, SCHEDULE_CATCH_UP_MS)
        : undefined;
    if (!occurrence) {
      out.push({ activity, instanceId, outcome: 'notDue' });
      continue;
    }
    const at = occurrence.toISOString();
    // a paused environment gets no drain: its messages stay in F&O's queue until it is resumed
    if ((await readEnvironmentGate(client, activity.environment)).paused) {
      out.push({ activity, instanceId, outcome: 'paused', occurrence: at });
      continue;
    }
    const existing = await findStatus(client, instanceId, { showInput: true });
    if (isActive(existing)) {
      out.push({ activity, instanceId, outcome: 'running', occurrence: at });
      continue;
    }
    const last = recordOf(existing?.input).scheduledFor;
    if (!options.force && typeof last === 'string' && last >= at) {
      out.push({ activity, instanceId, outcome: 'alreadyRan', occurrence: at });
      continue;
    }
    const input: DrainInput = {
      environment: activity.environment,
      activityId: activity.id,
      maxMessages: activity.maxMessagesPerRun,
      ackWhenFileMissing: activity.ackWhenFileMissing,
      ...(activity.dequeueConcurrency !== undefined
        ? { dequeueConcurrency: activity.dequeueConcurrency }
        : {}),
      scheduledFor: at,
    };
    // a start that loses the race to another timer finds it running
    const started = await startOnce(client, ORCHESTRATORS.recurringExportDrain, instanceId, input, {
      checkFirst: false,
    });
    out.push({
      activity,
      instanceId,
      outcome: started === 'started' ? 'started' : 'running',
      occurrence: at,
    });
  }
  return out;
}

/** Code of the errors {@link resolveRecurringPath} throws. */
export const RECURRING_PATH_ERROR = 'RECURRING_PATH_INVALID';

/**
 * Resolves `{environment}/{activityId}/[{company}/][{entity}/]{file}` (the company segment only with
 * `companyInPath`) against the configured import activities. Throws `InputError` with an actionable
 * sentence.
 */
export function resolveRecurringPath(
  config: Pick<AppConfig, 'recurringActivities'>,
  path: string,
): {
  activity: RecurringActivityConfig;
  environment: string;
  company?: string;
  entity?: string;
  fileName: string;
} {
  const segments = path.split('/');
  const fail = (why: string): never => {
    throw new InputError(
      `"${printable(path)}" ${why}. Drop files as {environment}/{activityId}/[{company}/ when companyInPath][{entity}/]{file}.`,
      { code: RECURRING_PATH_ERROR },
    );
  };
  const fileProblem = fileNameProblem(segments[segments.length - 1] as string);
  if (fileProblem) fail(`cannot be enqueued: ${fileProblem}`);
  if (segments.length < 3) fail('has too few path segments');
  segments.slice(0, -1).forEach((segment, i) => {
    const problem = segmentProblem(segment);
    if (problem) fail(`cannot be enqueued: its segment ${i + 1} ${problem}`);
  });
  const [environment, idSegment] = segments as [string, string];
  const parsedId = guidSchema.safeParse(idSegment);
  if (!parsedId.success) return fail(`names "${idSegment}", which is not an activity id (a GUID)`);
  const activity = config.recurringActivities.find(
    (a) => a.id === parsedId.data && a.environment === environment && a.direction === 'import',
  );
  if (!activity)
    return fail(
      `names activity ${parsedId.data}, which is not an import activity of environment "${environment}"`,
    );
  const middle = segments.slice(2, -1);
  const fileName = segments[segments.length - 1] as string;
  let company = activity.company;
  if (activity.companyInPath) {
    if (middle.length === 0) return fail('has no company segment (the activity sets companyInPath)');
    company = middle.shift();
    const problem = company === undefined ? undefined : legalEntityProblem(company);
    if (problem) return fail(`cannot be enqueued: ${problem}`);
  }
  if (middle.length > 1) return fail('has too many path segments');
  const entity = middle[0] ?? activity.entity;
  return {
    activity,
    environment,
    ...(company ? { company } : {}),
    ...(entity ? { entity } : {}),
    fileName,
  };
}

/** Builds the instance id and input of a blob dropped in the recurring-inbound container. */
export function recurringBlobImport(
  config: Pick<AppConfig, 'recurringActivities'>,
  blob: { container: string; path: string; etag: string },
  now: Date,
): { instanceId: string; input: RecurringImportInput } {
  const resolved = resolveRecurringPath(config, blob.path);
  const polling = resolved.activity.polling ?? DEFAULT_POLLING;
  return {
    instanceId: recurringImportInstanceId({ source: `${blob.container}/${blob.path}`, version: blob.etag }),
    input: {
      container: blob.container,
      path: blob.path,
      etag: blob.etag,
      fileName: resolved.fileName,
      environment: resolved.environment,
      activityId: resolved.activity.id,
      ...(resolved.entity ? { entity: resolved.entity } : {}),
      ...(resolved.company ? { company: resolved.company } : {}),
      maxEnqueueBytes: resolved.activity.maxEnqueueBytes ?? DEFAULT_MAX_ENQUEUE_BYTES,
      polling: {
        firstIntervalSeconds: polling.firstIntervalSeconds,
        backoffFactor: polling.backoffFactor,
        maxIntervalSeconds: polling.maxIntervalSeconds,
        deadlineHours: polling.deadlineHours,
      },
      requestedAt: now.toISOString(),
    },
  };
}

/** Starts `recurringImport` unless that instance exists (a duplicate delivery of one blob version); lists it in the job index. */
export async function startRecurringImport(
  client: DurableClient,
  instanceId: string,
  input: RecurringImportInput,
): Promise<boolean> {
  const started = (await startOnce(client, ORCHESTRATORS.recurringImport, instanceId, input)) === 'started';
  if (started) {
    const { jobIndex, logger } = getRuntime();
    await recordJob(
      jobIndex,
      logger,
      'recurringImport',
      {
        instanceId,
        runtimeStatus: 'Pending',
        input,
        customStatus: { stage: 'Enqueueing' },
        createdTime: input.requestedAt,
        lastUpdatedTime: new Date(),
      },
      { insertOnly: true },
    );
  }
  return started;
}

/** Outcome of {@link startForBlob}. */
export type BlobStartOutcome =
  | { kind: 'started' | 'exists'; instanceId: string }
  | { kind: 'rejected'; reason: string; code: string; rejectionBlob: string }
  | { kind: 'gone' };

/**
 * Starts the recurring import of a blob in the recurring-inbound container (one instance per blob
 * version), or records why its path is refused (results container + `…import.rejected` event).
 */
export async function startForBlob(
  runtime: Runtime,
  client: DurableClient,
  path: string,
  etag: string | undefined,
  logger: Logger,
): Promise<BlobStartOutcome> {
  const container = runtime.containers.recurringInbound;
  let version = etag;
  if (version === undefined) {
    try {
      version = unquoteEtag((await container.getBlobClient(path).getProperties()).etag) ?? 'unknown';
    } catch (error) {
      if (isNotFound(error)) return { kind: 'gone' };
      throw storageError(`reading ${container.containerName}/${path}`, error);
    }
  }
  let planned;
  try {
    planned = recurringBlobImport(
      runtime.config,
      { container: container.containerName, path, etag: version },
      new Date(),
    );
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    const where = await recordRejection(
      runtime,
      {
        id: recurringImportInstanceId({ source: `${container.containerName}/${path}`, version }),
        trigger: 'blob',
        subject: `recurring/${path}`,
        reason: error.message,
        code: error.code,
        rejectedAt: new Date().toISOString(),
        details: { container: container.containerName, etag: version },
        kind: 'recurringImport',
        ...rejectedBlobFacts(container.containerName, path),
      },
      { client, logger },
    );
    logger.warn(`Not enqueued: ${error.message} (recorded in ${where}; the file was left in place)`);
    return { kind: 'rejected', reason: error.message, code: error.code, rejectionBlob: where };
  }
  const started = await startRecurringImport(client, planned.instanceId, planned.input);
  logger.info(
    started
      ? `Started recurring import ${planned.instanceId}`
      : `Recurring import ${planned.instanceId} exists`,
  );
  return { kind: started ? 'started' : 'exists', instanceId: planned.instanceId };
}
