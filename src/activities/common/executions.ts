/**
 * What imports, exports and recurring imports do alike with an F&O execution: ask whether F&O
 * knows it, poll its status, read its page and per entity counts, and copy its error details into
 * our storage before F&O's 7-day purge. (The activity names predate exports and recurring imports:
 * they are in durable history.)
 */
import { z } from 'zod';
import { defineActivity } from '../../shared/app/activity.js';
import {
  DmfApiError,
  DmfErrorCode,
  downloadSasStream,
  type DmfPackageClient,
  type KnownExecutionStatus,
} from '../../shared/dmf/index.js';
import type { CopiedErrorFile, EntityCounts, ExecutionSummary, JobError } from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import type { Runtime } from '../../shared/app/runtime.js';
import { errorFileBlobPath, uploadStreamTo, writeJsonBlob } from '../../shared/storage/index.js';
import { errorMessage } from '../../shared/util.js';

/** F&O throttled a call (429): how long it asked us to wait, when it said so. */
export interface Throttled {
  kind: 'throttled';
  /** `Retry-After` in ms, when F&O sent one. */
  retryAfterMs?: number;
  message: string;
}

/**
 * The error as a {@link Throttled} answer when it is F&O's 429 (priority-based throttling), else
 * undefined. Activities hand a throttle back to their orchestration, which waits on a durable timer
 * (no compute while waiting) instead of failing or sleeping in the activity.
 */
export function throttledBy(error: unknown): Throttled | undefined {
  if (!(error instanceof DmfApiError) || error.status !== 429) return undefined;
  return {
    kind: 'throttled',
    ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
    message: error.message,
  };
}

/**
 * The status F&O already has for `executionId`, or undefined when it does not know it (not found,
 * which includes the status `Unknown`). Asked before a start, so a retried activity whose earlier
 * attempt did start the execution does not start it twice.
 */
export async function knownExecutionStatus(
  packages: Pick<DmfPackageClient, 'getExecutionSummaryStatus'>,
  executionId: string,
): Promise<KnownExecutionStatus | undefined> {
  try {
    return await packages.getExecutionSummaryStatus(executionId);
  } catch (error) {
    if (error instanceof DmfApiError && error.code === DmfErrorCode.ExecutionNotFound) return undefined;
    throw error;
  }
}

/** An execution of an environment. */
export const ExecutionRefSchema = z.object({ environment: z.string(), executionId: z.string() });

/** Output of the status activity. */
export type StatusResult =
  | { kind: 'status'; status: string }
  | { kind: 'notFound' }
  | Throttled
  /** `permanent`: set by the orchestration when the activity itself kept failing (a refusal). */
  | { kind: 'unavailable'; message: string; permanent?: boolean };

/**
 * One status poll. F&O not knowing the execution (not found, `Unknown`) is `notFound`; a 429 is
 * `throttled` (with its Retry-After); other transient trouble that outlived the client's retries is
 * `unavailable`, not a throw.
 */
export async function getStatus(
  runtime: Runtime,
  input: z.infer<typeof ExecutionRefSchema>,
): Promise<StatusResult> {
  try {
    const status = await runtime
      .clients(input.environment)
      .packages.getExecutionSummaryStatus(input.executionId);
    return { kind: 'status', status };
  } catch (error) {
    if (error instanceof DmfApiError && error.code === DmfErrorCode.ExecutionNotFound)
      return { kind: 'notFound' };
    const throttled = throttledBy(error);
    if (throttled) return throttled;
    if (error instanceof DmfApiError && error.transient)
      return { kind: 'unavailable', message: error.message };
    throw error;
  }
}

/** Only http(s) urls are kept as an execution's page (it is shown as a link). */
function pageUrl(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.toString() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The execution's F&O page (GetExecutionSummaryPageUrl) and per entity counts
 * (GetEntityExecutionSummaryStatusList). Best effort: what F&O does not give (an unknown execution,
 * an environment without the action, a failure) is left out; never throws.
 */
export async function executionSummary(
  runtime: Runtime,
  input: z.infer<typeof ExecutionRefSchema>,
  logger: Logger,
): Promise<ExecutionSummary> {
  const { packages } = runtime.clients(input.environment);
  const summary: ExecutionSummary = {};
  try {
    const url = pageUrl(await packages.getExecutionSummaryPageUrl(input.executionId));
    if (url) summary.executionPageUrl = url;
  } catch (error) {
    logger.warn(`No F&O page for execution ${input.executionId}: ${errorMessage(error)}`);
  }
  try {
    const list = await packages.getEntityExecutionSummaryStatusList(input.executionId);
    if (list.length > 0) {
      summary.entityCounts = list.map((e): EntityCounts => ({
        entity: e.entityName,
        ...(e.status !== undefined ? { status: e.status } : {}),
        ...(e.stagingRecords !== undefined ? { stagingRecords: e.stagingRecords } : {}),
        ...(e.stagingErrors !== undefined ? { stagingErrors: e.stagingErrors } : {}),
        ...(e.targetRecords !== undefined ? { targetRecords: e.targetRecords } : {}),
        ...(e.targetErrors !== undefined ? { targetErrors: e.targetErrors } : {}),
      }));
    }
  } catch (error) {
    logger.warn(`No per entity counts for execution ${input.executionId}: ${errorMessage(error)}`);
  }
  return summary;
}

/** Input of the error collection activity. */
export const CollectErrorsInputSchema = ExecutionRefSchema.extend({
  instanceId: z.string(),
  /** The job's logical path: the error files go next to its result JSON. */
  logicalPath: z.string(),
  entities: z.array(z.string()),
  /** First call: fetch everything; later calls: only the target keys files still pending. */
  onlyTargetKeysFor: z.array(z.string()).optional(),
});
/** See {@link CollectErrorsInputSchema}. */
export type CollectErrorsInput = z.infer<typeof CollectErrorsInputSchema>;

/** Output of the error collection activity. */
export interface CollectErrorsResult {
  errors: JobError[];
  files: CopiedErrorFile[];
  /** Entities whose target error keys file F&O is still generating. */
  pendingTargetKeys: string[];
}

const entityFile = (entity: string, suffix: string): string =>
  `${entity.replace(/[^A-Za-z0-9._-]+/g, '_')}.${suffix}`;

/**
 * Fetches GetExecutionErrors and, per entity, the staging error file and the target error keys file
 * (generated first; F&O may need a while: entities still pending are returned for a later call),
 * and copies them into the results container next to the result JSON.
 */
export async function collectErrors(
  runtime: Runtime,
  input: CollectErrorsInput,
  logger: Logger,
): Promise<CollectErrorsResult> {
  const { packages } = runtime.clients(input.environment);
  const results = runtime.containers.results;
  const out: CollectErrorsResult = { errors: [], files: [], pendingTargetKeys: [] };
  const copy = async (
    url: string,
    file: Pick<CopiedErrorFile, 'kind' | 'entity'>,
    name: string,
  ): Promise<void> => {
    const path = errorFileBlobPath(input.logicalPath, input.instanceId, name);
    const download = await downloadSasStream(url, { timeoutMs: 60_000 });
    const { bytes } = await uploadStreamTo(results, path, download.stream, {
      contentType: download.contentType ?? 'text/csv',
    });
    out.files.push({ ...file, container: results.containerName, path, bytes });
  };
  const firstPass = input.onlyTargetKeysFor === undefined;
  if (firstPass) {
    const errors = await packages.getExecutionErrors(input.executionId);
    for (const e of errors) {
      const entity = typeof e.raw.EntityName === 'string' ? e.raw.EntityName : undefined;
      out.errors.push({
        code: 'DMF_EXECUTION_ERROR',
        message: e.errorMessage ?? JSON.stringify(e.raw),
        ...(e.recordId ? { recordId: e.recordId } : {}),
        ...(e.field ? { field: e.field } : {}),
        ...(entity ? { entity } : {}),
      });
    }
    if (errors.length > 0) {
      const path = errorFileBlobPath(input.logicalPath, input.instanceId, 'execution-errors.json');
      const raw = errors.map((e) => e.raw);
      await writeJsonBlob(results, path, raw);
      out.files.push({
        kind: 'executionErrors',
        container: results.containerName,
        path,
        bytes: Buffer.byteLength(JSON.stringify(raw, null, 2)),
      });
    }
  }
  for (const entity of input.onlyTargetKeysFor ?? input.entities) {
    if (firstPass) {
      const stagingUrl = await packages.getImportStagingErrorFileUrl(input.executionId, entity);
      if (stagingUrl) {
        await copy(stagingUrl, { kind: 'staging', entity }, entityFile(entity, 'staging-errors.csv'));
      }
      const hasKeys = await packages.generateImportTargetErrorKeysFile(input.executionId, entity);
      if (!hasKeys) continue;
    }
    const keysUrl = await packages.getImportTargetErrorKeysFileUrl(input.executionId, entity);
    if (!keysUrl) {
      out.pendingTargetKeys.push(entity);
      continue;
    }
    await copy(keysUrl, { kind: 'targetKeys', entity }, entityFile(entity, 'target-error-keys.csv'));
  }
  logger.info(
    `Copied ${out.files.length} error file(s) for execution ${input.executionId}; ${out.pendingTargetKeys.length} still generating`,
  );
  return out;
}

/** Activities every kind of job uses on an F&O execution. */
export const EXECUTION_ACTIVITIES = {
  /** GetExecutionSummaryStatus, once (see {@link getStatus}). */
  getStatus: defineActivity({
    name: 'importGetStatus',
    input: ExecutionRefSchema,
    handler: (input, { runtime }) => getStatus(runtime, input),
  }),
  /** The execution's F&O page and per entity counts (see {@link executionSummary}). */
  summary: defineActivity({
    name: 'executionSummary',
    input: ExecutionRefSchema,
    handler: (input, { runtime, logger }) => executionSummary(runtime, input, logger),
  }),
  /** Copies F&O's error details (see {@link collectErrors}). */
  collectErrors: defineActivity({
    name: 'importCollectErrors',
    input: CollectErrorsInputSchema,
    log: (input) => ({ instanceId: input.instanceId }),
    handler: (input, { runtime, logger }) => collectErrors(runtime, input, logger),
  }),
};
