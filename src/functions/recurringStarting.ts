/**
 * The use cases behind the recurring triggers: which export drains are due (one singleton per
 * environment + activity), and how a blob dropped in the recurring-inbound container becomes a
 * `recurringImport` input (environment, activity, company and entity from the path and config).
 */
import { createHash } from 'node:crypto';
import type { DurableClient } from 'durable-functions';
import {
  DEFAULT_POLLING,
  guidSchema,
  type AppConfig,
  type RecurringActivityConfig,
} from '../shared/config/index.js';
import { InputError } from '../shared/errors.js';
import { ACTIVE_RUNTIME_STATUSES, findStatus } from '../activities/durableClient.js';
import {
  RECURRING_EXPORT_ORCHESTRATOR,
  RECURRING_IMPORT_INSTANCE_PREFIX,
  RECURRING_IMPORT_ORCHESTRATOR,
  recurringExportInstanceId,
} from '../activities/exportNames.js';
import type { DrainInput, RecurringImportInput } from '../orchestrators/recurringInput.js';
import { latestOccurrence, SCHEDULE_CATCH_UP_MS } from './exportStarting.js';

/** Default largest enqueued file: 45 MiB (F&O refuses about 50 MB with 413). */
export const DEFAULT_MAX_ENQUEUE_BYTES = 45 * 1024 * 1024;

/** What the drain timer did for one activity. */
export interface DrainStart {
  activity: RecurringActivityConfig;
  instanceId: string;
  outcome: 'started' | 'running' | 'notDue' | 'alreadyRan';
  occurrence?: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Starts the drain of every export activity whose schedule has an occurrence (within
 * {@link SCHEDULE_CATCH_UP_MS}) later than its last run's: one singleton instance per environment +
 * activity (`recurring-export-{env}-{activityId}`), skipped while it runs.
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
    const existing = await findStatus(client, instanceId, { showInput: true });
    if (existing && ACTIVE_RUNTIME_STATUSES.has(String(existing.runtimeStatus))) {
      out.push({ activity, instanceId, outcome: 'running', occurrence: at });
      continue;
    }
    const last = isRecord(existing?.input) ? existing.input.scheduledFor : undefined;
    if (!options.force && typeof last === 'string' && last >= at) {
      out.push({ activity, instanceId, outcome: 'alreadyRan', occurrence: at });
      continue;
    }
    const input: DrainInput = {
      environment: activity.environment,
      activityId: activity.id,
      maxMessages: activity.maxMessagesPerRun,
      ackWhenFileMissing: activity.ackWhenFileMissing,
      scheduledFor: at,
    };
    try {
      await client.startNew(RECURRING_EXPORT_ORCHESTRATOR, { instanceId, input });
      out.push({ activity, instanceId, outcome: 'started', occurrence: at });
    } catch (error) {
      if (!(error instanceof Error && /\b409\b/.test(error.message))) throw error;
      out.push({ activity, instanceId, outcome: 'running', occurrence: at });
    }
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
      `"${path}" ${why}. Drop files as {environment}/{activityId}/[{company}/ when companyInPath][{entity}/]{file}.`,
      { code: RECURRING_PATH_ERROR },
    );
  };
  if (segments.length < 3 || segments.some((s) => s === '' || s === '.' || s === '..')) {
    fail('has too few path segments');
  }
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

/** Instance id of a recurring import: a hash of the blob and its version (one enqueue per version). */
export function recurringImportInstanceId(parts: { source: string; version: string }): string {
  const digest = createHash('sha256').update(`${parts.source}\n${parts.version}`).digest('hex');
  return `${RECURRING_IMPORT_INSTANCE_PREFIX}${digest.slice(0, 32)}`;
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

/** Starts `recurringImport` unless that instance exists (a duplicate delivery of one blob version). */
export async function startRecurringImport(
  client: DurableClient,
  instanceId: string,
  input: RecurringImportInput,
): Promise<boolean> {
  if (await findStatus(client, instanceId)) return false;
  try {
    await client.startNew(RECURRING_IMPORT_ORCHESTRATOR, { instanceId, input });
    return true;
  } catch (error) {
    if (error instanceof Error && /\b409\b/.test(error.message)) return false;
    throw error;
  }
}
