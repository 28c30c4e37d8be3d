/**
 * Recurring integrations as jobs of the job API (`GET /api/jobs`, `GET /api/jobs/{id}`): the
 * recurring export drains and the recurring imports (enqueues), in the shape of import and export
 * jobs so the dashboard and `dmf jobs` list them next to those. Pure functions only.
 */
import {
  jobStatusOf,
  type JobError,
  type JobStatus,
  type OrchestrationStatusLike,
} from '../shared/jobs/index.js';
import type { DrainCounters, DrainSummary, RecurringImportResult } from '../orchestrators/recurringInput.js';

export { RECURRING_EXPORT_INSTANCE_PREFIX } from '../activities/exportNames.js';

/** Stages of a recurring job as the job API names them. */
export type RecurringJobStage =
  'Draining' | 'Enqueueing' | 'Polling' | 'CollectingErrors' | 'Finishing' | 'Done';

/** What the job API answers for a recurring export drain or a recurring import. */
export interface RecurringJob {
  id: string;
  kind: 'recurringExport' | 'recurringImport';
  status: JobStatus;
  stage: RecurringJobStage | undefined;
  /** F&O execution id of an enqueued file, once F&O named it; never for a drain. */
  executionId: string | undefined;
  environment: string | undefined;
  /** The recurring data job's activity id. */
  project: string | undefined;
  /** Company of an enqueued file, when its path names one. */
  legalEntity: string | undefined;
  file: string | undefined;
  createdAt: string | undefined;
  updatedAt: string | undefined;
  /** Last GetMessageStatus answer of an enqueued file. */
  foStatus: string | undefined;
  polls: number;
  /** A drain's message counters so far (all episodes of the run), or its final ones. */
  messages: DrainCounters | undefined;
  errors: JobError[];
  /** The drain's summary or the recurring import's result JSON once final. */
  result: DrainSummary | RecurringImportResult | undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);
const iso = (v: Date | string | undefined): string | undefined =>
  v === undefined ? undefined : v instanceof Date ? v.toISOString() : String(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

function counters(value: unknown): DrainCounters | undefined {
  return isRecord(value) && typeof value.processed === 'number'
    ? (value as unknown as DrainCounters)
    : undefined;
}

/**
 * The job JSON of a recurring export drain. A drain continues as new every few batches: while it
 * runs (or has continued) it is `Running` with the counters of the whole run so far; a completed
 * run is `Succeeded`, `PartiallySucceeded` when some messages failed, were missing or could not be
 * acked, and `Failed` when none of the messages it handled could be stored.
 */
export function recurringExportJobFromStatus(status: OrchestrationStatusLike): RecurringJob {
  const input = isRecord(status.input) ? status.input : {};
  const summary =
    status.runtimeStatus === 'Completed' &&
    isRecord(status.output) &&
    typeof status.output.emptied === 'boolean'
      ? (status.output as unknown as DrainSummary)
      : undefined;
  const messages = summary ?? counters(status.customStatus) ?? counters(input.counters);
  const errors: JobError[] = [];
  if (messages) {
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
  }
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
  const jobStatus = jobStatusOf(status, { outcome, started: true, errors, what: 'recurring export drain' });
  const final = status.runtimeStatus === 'Completed';
  return {
    id: status.instanceId,
    kind: 'recurringExport',
    status: jobStatus,
    stage: final ? 'Done' : jobStatus === 'Running' ? 'Draining' : undefined,
    executionId: undefined,
    environment: summary?.environment ?? str(input.environment),
    project: summary?.activityId ?? str(input.activityId),
    legalEntity: undefined,
    file: undefined,
    createdAt: iso(status.createdTime),
    updatedAt: iso(status.lastUpdatedTime),
    foStatus: undefined,
    polls: 0,
    messages,
    errors,
    result: summary,
  };
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
  const custom = isRecord(status.customStatus) ? status.customStatus : {};
  const input = isRecord(status.input) ? status.input : {};
  const result =
    isRecord(status.output) && status.output.kind === 'recurringImport'
      ? (status.output as unknown as RecurringImportResult)
      : undefined;
  const errors: JobError[] = result ? [...result.errors] : [];
  const stage = str(custom.stage);
  const jobStatus = jobStatusOf(status, {
    outcome: result ? (result.status === 'Rejected' ? 'Failed' : result.status) : undefined,
    started: stage !== undefined && stage !== 'Enqueueing',
    errors,
    what: 'recurring import',
  });
  return {
    id: status.instanceId,
    kind: 'recurringImport',
    status: jobStatus,
    stage: result
      ? 'Done'
      : stage !== undefined && RECURRING_IMPORT_STAGES.includes(stage)
        ? (stage as RecurringJobStage)
        : undefined,
    executionId: result?.executionId ?? str(custom.executionId),
    environment: result?.environment ?? str(input.environment),
    project: result?.activityId ?? str(input.activityId),
    legalEntity: result ? result.company : str(input.company),
    file: result?.file ?? str(input.fileName),
    createdAt: iso(status.createdTime),
    updatedAt: iso(status.lastUpdatedTime),
    foStatus: result?.messageStatus ?? str(custom.messageStatus),
    polls: result?.polls ?? num(custom.polls) ?? 0,
    messages: undefined,
    errors,
    result,
  };
}
