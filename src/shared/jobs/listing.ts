/**
 * The jobs list: which kinds of job there are, how a job's list entry is derived (the job JSON of
 * `GET /api/jobs/{id}`, its bulky parts trimmed) and the time a job is listed by. Pure.
 */
import { isoTime, isRecord } from '../util.js';
import type { JobError, OrchestrationStatusLike } from './common.js';
import { exportJobFromStatus, type ExportJob } from './exports.js';
import { chainJobFromStatus, multiCompanyExportJobFromStatus, type ParentJob } from './groups.js';
import { jobFromStatus, type Job } from './imports.js';
import {
  recurringExportJobFromStatus,
  recurringImportJobFromStatus,
  type RecurringJob,
} from './recurring.js';
import type { RejectedJob } from './rejections.js';

/** The job JSON of any kind of job (a rejected input is listed as a job too). */
export type AnyJob = Job | ExportJob | RecurringJob | RejectedJob | ParentJob;
/** What a job does (`kind` of its job JSON). */
export type JobKind = AnyJob['kind'];
/** Every {@link JobKind}. */
export const JOB_KIND_NAMES: readonly JobKind[] = [
  'import',
  'export',
  'recurringImport',
  'recurringExport',
  'chain',
  'multiCompanyExport',
];

/** How each kind derives its job JSON from an orchestration status. */
const VIEWS: Readonly<Record<JobKind, (status: OrchestrationStatusLike) => AnyJob>> = {
  import: jobFromStatus,
  export: exportJobFromStatus,
  recurringImport: recurringImportJobFromStatus,
  recurringExport: recurringExportJobFromStatus,
  chain: chainJobFromStatus,
  multiCompanyExport: multiCompanyExportJobFromStatus,
};

/** The job JSON of a job of `kind` from its (real or reconstructed) orchestration status. */
export function jobView(kind: JobKind, status: OrchestrationStatusLike): AnyJob {
  return VIEWS[kind](status);
}

/** Errors a list entry carries (the job's first ones); `errorCount` says how many there are. */
export const LIST_ERROR_LIMIT = 10;
/** Longest error message in a list entry (longer ones are cut, with `…`). */
export const LIST_MESSAGE_LIMIT = 500;

/**
 * One job of `GET /api/jobs`: the job JSON with `pollLog` empty (also in `result`), at most
 * {@link LIST_ERROR_LIMIT} errors (also in `result`) and `errorCount`, the number of errors the
 * job has. The job's own route answers everything.
 */
export type ListedJob = AnyJob & { errorCount: number };

function shortErrors(errors: readonly JobError[]): JobError[] {
  return errors
    .slice(0, LIST_ERROR_LIMIT)
    .map((e) =>
      e.message.length > LIST_MESSAGE_LIMIT
        ? { ...e, message: `${e.message.slice(0, LIST_MESSAGE_LIMIT)}…` }
        : e,
    );
}

/** The list entry of a job (see {@link ListedJob}). */
export function listedJob(job: AnyJob): ListedJob {
  const listed: Record<string, unknown> = {
    ...job,
    errors: shortErrors(job.errors),
    errorCount: job.errors.length,
  };
  if ('pollLog' in job) listed.pollLog = [];
  if (isRecord(job.result)) {
    const { pollLog: _pollLog, ...result } = job.result as unknown as Record<string, unknown>;
    if (Array.isArray(result.errors)) result.errors = shortErrors(result.errors as JobError[]);
    listed.result = result;
  }
  return listed as unknown as ListedJob;
}

/**
 * The time a job is listed by: when it was requested (imports, exports, recurring imports) or the
 * schedule occurrence of a recurring export drain run — from its input, else its result, else the
 * orchestration's creation. The list's `createdAt` of the job.
 */
export function listedTime(
  status: Pick<OrchestrationStatusLike, 'input' | 'output' | 'createdTime'>,
): string | undefined {
  const input = isRecord(status.input) ? status.input : {};
  const output = isRecord(status.output) ? status.output : {};
  const timings = isRecord(output.timings) ? output.timings : {};
  for (const value of [input.requestedAt, input.scheduledFor, timings.requestedAt, output.scheduledFor]) {
    if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) return new Date(value).toISOString();
  }
  return isoTime(status.createdTime);
}
