/**
 * The import's contracts: the `importPackage` input (zod: every trigger builds it, the
 * orchestration parses it), its custom status and result JSON, and the job JSON `GET /api/jobs/{id}`
 * derives from them. Pure.
 */
import { z } from 'zod';
import { stringOf } from '../util.js';
import {
  executionJobFields,
  recordOf,
  type OrchestrationStatusLike,
  type PauseInfo,
  type PollLogEntry,
} from './common.js';
import type { ExecutionJobFields, ExecutionResult } from './common.js';

/** A file of a batch: its name, its blob (in the batch's container) and version, the entity it fills. */
export const BatchFileSchema = z.strictObject({
  name: z.string().min(1),
  path: z.string().min(1),
  etag: z.string().optional(),
  /** The template entity (label) the file fills; absent for the trigger file. */
  entity: z.string().optional(),
});
/** See {@link BatchFileSchema}. */
export type BatchFile = z.infer<typeof BatchFileSchema>;

/** When a batch is complete (resolved from the configuration when its first file arrived). */
export const BatchCollectSchema = z.strictObject({
  /** The trigger file's name. */
  trigger: z.string().min(1),
  /** `trigger`: the trigger file and every required entity; `allEntities`: every required entity. */
  complete: z.enum(['trigger', 'allEntities']),
  /** Still incomplete at this time (ISO): the batch ends Failed, its files left where they are. */
  deadline: z.string(),
});
/** See {@link BatchCollectSchema}. */
export type BatchCollect = z.infer<typeof BatchCollectSchema>;

/** Where the file to import is. */
export const ImportSourceSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('blob'),
    container: z.string().min(3),
    path: z.string().min(1),
    /** Version delivered (the instance id was derived from it). */
    etag: z.string().optional(),
  }),
  z.strictObject({
    kind: z.literal('url'),
    /**
     * The url as shown: scheme, host and path, never its query (a SAS is a secret and durable state
     * is stored in the task hub). Instances started before the url moved out of durable state carry
     * the full url here and no `ref`.
     */
    url: z.string().url(),
    /** The blob (archive container) holding the full url until the prepare stage staged it. */
    ref: z.string().min(1).optional(),
  }),
  z.strictObject({
    /** A batch: several raw files in one folder, one package, one F&O execution. */
    kind: z.literal('batch'),
    container: z.string().min(3),
    /** The batch's folder (the path of its files without the file name): identifies the batch. */
    folder: z.string().min(1),
    batchId: z.string().min(1),
    /** How the batch is collected; absent when `files` are given (a step of a chain). */
    collect: BatchCollectSchema.optional(),
    /** The batch's files, once collected (the trigger file has no `entity`). */
    files: z.array(BatchFileSchema).max(200).optional(),
  }),
]);
/** See {@link ImportSourceSchema}. */
export type ImportSource = z.infer<typeof ImportSourceSchema>;

/** The orchestration input: everything resolved by the trigger, nothing secret. */
export const ImportInputSchema = z.strictObject({
  source: ImportSourceSchema,
  /** `{environment}/{project}/[{legalEntity}/]{file}`: names the result folder and the archive path. */
  logicalPath: z.string().min(1),
  fileName: z.string().min(1),
  environment: z.string().min(1),
  /** Data project name (configuration). */
  project: z.string().min(1),
  definitionGroupId: z.string().min(1),
  legalEntity: z.string().min(1),
  execute: z.boolean(),
  overwrite: z.boolean(),
  trigger: z.enum(['blob', 'serviceBus', 'http']),
  correlationId: z.string().max(200).optional(),
  requestedAt: z.string(),
  /** The job this one re-runs (`POST /api/jobs/{id}/rerun`): its source is a copy of that job's. */
  rerunOf: z.string().min(1).max(200).optional(),
  /** The job this one is a step of (a chain). */
  parentId: z.string().min(1).optional(),
});
/** See {@link ImportInputSchema}. */
export type ImportInput = z.infer<typeof ImportInputSchema>;

/** Stages of an import, in order; the custom status names the current one. */
export const IMPORT_STAGES = [
  'Collecting',
  'Preparing',
  'WaitingForSlot',
  'Uploading',
  'Polling',
  'CollectingErrors',
  'Finishing',
  'Done',
] as const;
/** One of {@link IMPORT_STAGES}. */
export type ImportStage = (typeof IMPORT_STAGES)[number];

/** Stages during which the F&O execution has not been started yet (a job can still be canceled). */
export const CANCELABLE_STAGES: readonly ImportStage[] = ['Collecting', 'Preparing', 'WaitingForSlot'];

/** Where the collection of a batch stands (custom status, job JSON). */
export interface BatchProgress {
  batchId: string;
  /** Names of the files found so far (once complete: the batch's files). */
  files: string[];
  /** Required entities without a file yet. */
  missing: string[];
  /** The trigger file is there (or not needed). */
  triggered: boolean;
  /** When an incomplete batch fails. */
  deadline?: string;
}

/** The orchestration's custom status: where the import is, for people and the job API. */
export interface ImportCustomStatus {
  stage: ImportStage;
  /** F&O execution id (known from the start, derived from the instance id). */
  executionId: string;
  /** Last status F&O answered (GetExecutionSummaryStatus). */
  foStatus?: string;
  /** Status polls made so far. */
  polls: number;
  /** The last `POLL_LOG_LIMIT` polls, oldest first. */
  pollLog?: PollLogEntry[];
  /** When the next poll is due (ISO time). */
  nextPollAt?: string;
  /** When ImportFromPackage was accepted (ISO time). */
  startedAt?: string;
  /** Place in the environment's queue while waiting for a slot (1 = next). */
  slotPosition?: number;
  /** While F&O answers 429: when the job asks again (ISO time). */
  throttledUntil?: string;
  /** While the environment is paused (the job is `Queued` in its queue). */
  paused?: PauseInfo;
  /** A batch import: where its collection stands. */
  batch?: BatchProgress;
}

/** The result JSON written next to the error files (and returned as the orchestration output). */
export interface ImportResult extends ExecutionResult {
  /** File name of the source. */
  file: string;
  /** Where the source was found (`container/path` or url without query). */
  source: string;
  trigger: ImportInput['trigger'];
  timings: {
    requestedAt: string;
    /** A batch: when it was complete. */
    collectedAt?: string;
    preparedAt?: string;
    slotAcquiredAt?: string;
    startedAt?: string;
    finishedAt: string;
    /** ms from ImportFromPackage to the final status being seen. */
    executionMs?: number;
  };
  /** Where the source was archived (`container/path`; a batch's archive folder); absent when it could not be moved. */
  archivedTo?: string;
  /** A batch import: its id and files (each with the entity it filled). */
  batch?: { id: string; folder: string; files: { name: string; entity?: string }[]; missing?: string[] };
  /** The job this one is a step of (a chain). */
  parentId?: string;
}

/** What `GET /api/jobs/{id}` answers for an import. */
export interface Job extends ExecutionJobFields<'import', ImportStage> {
  legalEntity: string | undefined;
  file: string | undefined;
  nextPollAt: string | undefined;
  slotPosition: number | undefined;
  /** The result JSON once the job is final. */
  result: ImportResult | undefined;
  /** A batch import: where its collection stands (its files and what is missing). */
  batch?: BatchProgress;
  /** The job this one is a step of (a chain). */
  parentId?: string;
}

function asCustomStatus(value: unknown): Partial<ImportCustomStatus> {
  if (typeof value === 'string') {
    try {
      return asCustomStatus(JSON.parse(value));
    } catch {
      return {};
    }
  }
  return recordOf(value);
}

function asResult(value: unknown): ImportResult | undefined {
  const result = recordOf(value);
  return typeof result.status === 'string' && typeof result.id === 'string'
    ? (result as unknown as ImportResult)
    : undefined;
}

/**
 * Derives the job JSON from an orchestration status. Running imports are `Pending` until F&O has
 * been asked to import (stages Preparing and WaitingForSlot), `Running` afterwards; completed ones
 * carry their outcome; an orchestration that crashed is `Failed`; a terminated one `Canceled`.
 */
export function jobFromStatus(status: OrchestrationStatusLike): Job {
  const custom = asCustomStatus(status.customStatus);
  const result = asResult(status.output);
  const started = custom.stage !== undefined && !CANCELABLE_STAGES.includes(custom.stage);
  const { input, errors, ...fields } = executionJobFields(status, {
    kind: 'import',
    started,
    custom,
    result,
  });
  const parentId = result?.parentId ?? stringOf(input.parentId);
  const batch = batchProgressOf(custom.batch, result);
  return {
    ...fields,
    legalEntity: result?.legalEntity ?? stringOf(input.legalEntity),
    file: result?.file ?? stringOf(input.fileName),
    nextPollAt: result ? undefined : custom.nextPollAt,
    slotPosition: result ? undefined : custom.slotPosition,
    errors,
    result,
    ...(batch ? { batch } : {}),
    ...(parentId ? { parentId } : {}),
  };
}

/** A batch's progress: the custom status's while it runs, the result's once final. */
function batchProgressOf(custom: unknown, result: ImportResult | undefined): BatchProgress | undefined {
  if (result?.batch) {
    return {
      batchId: result.batch.id,
      files: result.batch.files.map((f) => f.name),
      missing: result.batch.missing ?? [],
      triggered: true,
    };
  }
  const progress = recordOf(custom);
  return typeof progress.batchId === 'string' && Array.isArray(progress.files)
    ? (progress as unknown as BatchProgress)
    : undefined;
}
