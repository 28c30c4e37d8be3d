/**
 * The recurring integrations' contracts: the inputs of the recurring export drain and of the
 * recurring import (zod), their results, and the job JSON the job API derives from them — in the
 * shape of import and export jobs, so the dashboard and `dmf jobs` list them side by side. Pure.
 */
import { z } from 'zod';
import { stringOf } from '../util.js';
import {
  jobBasics,
  pauseInfoOf,
  queuedFields,
  recordOf,
  summaryFields,
  type CopiedErrorFile,
  type ExecutionSummary,
  type JobError,
  type JobFields,
  type JobStatus,
  type OrchestrationStatusLike,
} from './common.js';
import { recurringExportRunId } from './ids.js';

/** Input of the recurring export drain (carried across `continueAsNew`). */
export const DrainInputSchema = z.strictObject({
  environment: z.string().min(1),
  activityId: z.string().min(1),
  /** Most messages handled by this run (the activity's `maxMessagesPerRun`). */
  maxMessages: z.number().int().min(1),
  ackWhenFileMissing: z.boolean(),
  /** Dequeues in flight (the activity's `dequeueConcurrency`); absent: the default. */
  dequeueConcurrency: z.number().int().min(1).max(16).optional(),
  /** The schedule occurrence (or request time) this run is for. */
  scheduledFor: z.string(),
  /** Counters so far (earlier episodes of this run). */
  counters: z
    .strictObject({
      processed: z.number().int(),
      stored: z.number().int(),
      alreadyStored: z.number().int(),
      missing: z.number().int(),
      failed: z.number().int(),
      ackFailures: z.number().int(),
      episodes: z.number().int(),
    })
    .optional(),
});
/** See {@link DrainInputSchema}. */
export type DrainInput = z.infer<typeof DrainInputSchema>;
/** Counters of a drain run. */
export type DrainCounters = NonNullable<DrainInput['counters']>;

/** What a drain run returns (its output). */
export interface DrainSummary extends DrainCounters {
  environment: string;
  activityId: string;
  scheduledFor: string;
  /** True when the queue answered 204 (empty); false when the per-run cap stopped the run. */
  emptied: boolean;
  finishedAt: string;
}

/** Input of the recurring import orchestration. */
export const RecurringImportInputSchema = z.strictObject({
  container: z.string().min(1),
  /** `{environment}/{activityId}/[{company}/][{entity}/]{file}`. */
  path: z.string().min(1),
  etag: z.string().optional(),
  fileName: z.string().min(1),
  environment: z.string().min(1),
  activityId: z.string().min(1),
  entity: z.string().optional(),
  company: z.string().optional(),
  maxEnqueueBytes: z.number().int(),
  /** Polling of GetMessageStatus (seconds). */
  polling: z.strictObject({
    firstIntervalSeconds: z.number(),
    backoffFactor: z.number(),
    maxIntervalSeconds: z.number(),
    deadlineHours: z.number(),
  }),
  requestedAt: z.string(),
});
/** See {@link RecurringImportInputSchema}. */
export type RecurringImportInput = z.infer<typeof RecurringImportInputSchema>;

/**
 * Outcomes of a recurring import: `PartiallySucceeded` when the message ended ProcessedWithErrors
 * and its execution PartiallySucceeded (rows were imported), `Failed` for any other error state,
 * `Unknown` when the enqueue's answer was lost (the file may be queued in F&O; never sent again).
 */
export type RecurringImportOutcome =
  'Succeeded' | 'PartiallySucceeded' | 'Failed' | 'TimedOut' | 'Rejected' | 'Unknown';

/** Result JSON of a recurring import (results container, orchestration output, event data). */
export interface RecurringImportResult extends ExecutionSummary {
  id: string;
  kind: 'recurringImport';
  status: RecurringImportOutcome;
  environment: string;
  activityId: string;
  file: string;
  source: string;
  entity?: string;
  company?: string;
  messageId?: string;
  /** Last GetMessageStatus answer. */
  messageStatus?: string;
  /** The job's `DataJobState` (recurring `jobstatus`) at the end, as the enum's word. */
  dataJobState?: string;
  /** Entity labels of the enqueued file (its `entity`, or a package's manifest). */
  entities?: string[];
  executionId?: string;
  bytes?: number;
  polls: number;
  timings: { requestedAt: string; enqueuedAt?: string; finishedAt: string };
  errors: JobError[];
  errorFiles: CopiedErrorFile[];
  resultBlob?: string;
  archivedTo?: string;
}

/** Stages of a recurring job as the job API names them. */
export type RecurringJobStage =
  'Draining' | 'Enqueueing' | 'Polling' | 'CollectingErrors' | 'Finishing' | 'Done';

/**
 * What the job API answers for a recurring export drain or a recurring import: `project` is the
 * recurring data job's activity id; `executionId` the F&O execution of an enqueued file, once F&O
 * named it (never for a drain); `foStatus` the last GetMessageStatus answer of an enqueued file.
 */
export interface RecurringJob extends JobFields {
  kind: 'recurringExport' | 'recurringImport';
  /**
   * A recurring export drain run: the drain's instance id (one per environment and activity; its
   * `GET /api/jobs/{drainId}` is the latest run). The run's own `id` is `{drainId}-r{occurrence}`.
   */
  drainId?: string;
  stage: RecurringJobStage | undefined;
  /** Company of an enqueued file, when its path names one. */
  legalEntity: string | undefined;
  file: string | undefined;
  /** A drain's message counters so far (all episodes of the run), or its final ones. */
  messages: DrainCounters | undefined;
  /** The drain's summary or the recurring import's result JSON once final. */
  result: DrainSummary | RecurringImportResult | undefined;
}

function counters(value: unknown): DrainCounters | undefined {
  const found = recordOf(value);
  return typeof found.processed === 'number' ? (found as unknown as DrainCounters) : undefined;
}

/**
 * The job JSON of a recurring export drain run (its id: the drain's and the run's occurrence, so
 * every run is a job of its own). A drain continues as new every few batches: while it
 * runs (or has continued) it is `Running` with the counters of the whole run so far; a completed
 * run is `Succeeded`, `PartiallySucceeded` when some messages failed, were missing or could not be
 * acked, and `Failed` when none of the messages it handled could be stored.
 */
export function recurringExportJobFromStatus(status: OrchestrationStatusLike): RecurringJob {
  const output = recordOf(status.output);
  const summary =
    status.runtimeStatus === 'Completed' && typeof output.emptied === 'boolean'
      ? (output as unknown as DrainSummary)
      : undefined;
  const messages = summary ?? counters(status.customStatus) ?? counters(recordOf(status.input).counters);
  const errors = messages ? drainErrors(messages) : [];
  let outcome: JobStatus | undefined;
  if (summary) {
    const stored = summary.stored + summary.alreadyStored;
    outcome =
      errors.length === 0
        ? 'Succeeded'
        : stored === 0 && summary.failed > 0
          ? 'Failed'
          : 'PartiallySucceeded';
  }
  const job = jobBasics(status, { what: 'recurring export drain', outcome, started: true, errors });
  const scheduledFor = summary?.scheduledFor ?? stringOf(job.input.scheduledFor);
  return {
    // each run is a job of its own: the drain's instance id and the run's occurrence
    id: scheduledFor ? recurringExportRunId(status.instanceId, scheduledFor) : status.instanceId,
    drainId: status.instanceId,
    kind: 'recurringExport',
    status: job.status,
    stage: status.runtimeStatus === 'Completed' ? 'Done' : job.status === 'Running' ? 'Draining' : undefined,
    executionId: undefined,
    environment: summary?.environment ?? stringOf(job.input.environment),
    project: summary?.activityId ?? stringOf(job.input.activityId),
    legalEntity: undefined,
    file: undefined,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    foStatus: undefined,
    polls: 0,
    messages,
    errors: job.errors,
    result: summary,
  };
}

/** What a drain's counters say went wrong. */
function drainErrors(messages: DrainCounters): JobError[] {
  const errors: JobError[] = [];
  if (messages.failed > 0) {
    errors.push({
      code: 'RECURRING_MESSAGES_FAILED',
      message: `${messages.failed} message(s) could not be downloaded or stored; F&O delivers them again.`,
    });
  }
  if (messages.missing > 0) {
    errors.push({
      code: 'RECURRING_FILE_MISSING',
      message: `${messages.missing} message(s) named a file F&O could not give.`,
    });
  }
  if (messages.ackFailures > 0) {
    errors.push({
      code: 'RECURRING_ACK_FAILED',
      message: `${messages.ackFailures} message(s) were stored but not acknowledged; they reappear and are acked then.`,
    });
  }
  return errors;
}

const RECURRING_IMPORT_STAGES: readonly string[] = [
  'Enqueueing',
  'Polling',
  'CollectingErrors',
  'Finishing',
  'Done',
];

/**
 * The job JSON of a recurring import (a file enqueued to a recurring data job). `Pending` while it
 * is being enqueued, `Running` while its message is polled; a `Rejected` outcome (F&O refused the
 * file) is `Failed` here, its errors saying why (the result keeps `Rejected`).
 */
export function recurringImportJobFromStatus(status: OrchestrationStatusLike): RecurringJob {
  const custom = recordOf(status.customStatus);
  const output = recordOf(status.output);
  const result = output.kind === 'recurringImport' ? (output as unknown as RecurringImportResult) : undefined;
  const stage = stringOf(custom.stage);
  const started = stage !== undefined && stage !== 'Enqueueing';
  const paused = result || started ? undefined : pauseInfoOf(custom.paused);
  const job = jobBasics(status, {
    what: 'recurring import',
    outcome: result ? (result.status === 'Rejected' ? 'Failed' : result.status) : undefined,
    started,
    errors: result?.errors,
    queued: paused !== undefined,
  });
  return {
    id: status.instanceId,
    kind: 'recurringImport',
    status: job.status,
    stage: result
      ? 'Done'
      : stage !== undefined && RECURRING_IMPORT_STAGES.includes(stage)
        ? (stage as RecurringJobStage)
        : undefined,
    executionId: result?.executionId ?? stringOf(custom.executionId),
    environment: result?.environment ?? stringOf(job.input.environment),
    project: result?.activityId ?? stringOf(job.input.activityId),
    legalEntity: result ? result.company : stringOf(job.input.company),
    file: result?.file ?? stringOf(job.input.fileName),
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    foStatus: result?.messageStatus ?? stringOf(custom.messageStatus),
    polls: result?.polls ?? (typeof custom.polls === 'number' ? custom.polls : undefined) ?? 0,
    messages: undefined,
    errors: job.errors,
    ...summaryFields(result),
    ...(!result && typeof custom.throttledUntil === 'string'
      ? { throttledUntil: custom.throttledUntil }
      : {}),
    ...queuedFields(job.status, paused),
    result,
  };
}
