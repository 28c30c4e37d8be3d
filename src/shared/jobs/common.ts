/**
 * What every kind of job shares: its status, errors, copied error files, the poll log and how a
 * status is derived from the orchestration's runtime status. Pure functions only.
 */
import { z } from 'zod';
import { isoTime, isRecord, stringOf } from '../util.js';

/** Every status a job can have. */
export const JOB_STATUSES = [
  'Pending',
  'Running',
  'Succeeded',
  'PartiallySucceeded',
  'Failed',
  'Canceled',
  'TimedOut',
  /** The app cannot tell what F&O did (e.g. an enqueue whose answer was lost): the job says what to check. */
  'Unknown',
] as const;
/** One of {@link JOB_STATUSES}. */
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Final statuses of a job (what an import's or export's result carries). */
export type JobOutcome = Exclude<JobStatus, 'Pending' | 'Running'>;

/** Poll log entries kept per job (the newest ones): bounds the custom status and result size. */
export const POLL_LOG_LIMIT = 50;

/** One status poll of an F&O execution, for the job page's timeline. */
export interface PollLogEntry {
  /** When the poll's answer was seen (orchestration time, ISO). */
  at: string;
  /** What F&O answered (GetExecutionSummaryStatus); absent when it gave no status. */
  foStatus?: string;
  /**
   * Why there is no status: F&O did not know the execution yet, throttled the question (429), or
   * could not be asked.
   */
  answer?: 'notFound' | 'throttled' | 'unavailable';
}

/**
 * The poll log with `entry` appended, keeping only the newest {@link POLL_LOG_LIMIT} entries. Pure
 * (no clock): orchestrations pass their `currentUtcDateTime` in `entry.at`, so replays agree.
 */
export function appendPoll(log: readonly PollLogEntry[] | undefined, entry: PollLogEntry): PollLogEntry[] {
  return [...(log ?? []), entry].slice(-POLL_LOG_LIMIT);
}

/** The poll log in a custom status or result, or `[]` when it has none (older jobs). */
export function pollLogOf(value: unknown): PollLogEntry[] {
  return Array.isArray(value)
    ? value.filter((e): e is PollLogEntry => isRecord(e) && typeof e.at === 'string')
    : [];
}

/** One error of a job, as readable as F&O gives it. */
export const JobErrorSchema = z.object({
  /** Stable code, e.g. `PACKAGE_NOT_ZIP`, `DMF_EXECUTION_ERROR`, `IMPORT_TIMED_OUT`. */
  code: z.string(),
  message: z.string(),
  /** Entity (label) the error is about, when F&O says so. */
  entity: z.string().optional(),
  /** F&O record id, when F&O says so. */
  recordId: z.string().optional(),
  /** Field, when F&O says so. */
  field: z.string().optional(),
});
/** See {@link JobErrorSchema}. */
export type JobError = z.infer<typeof JobErrorSchema>;

/** A blob in the app's storage. */
export const BlobRefSchema = z.strictObject({ container: z.string(), path: z.string() });
/** See {@link BlobRefSchema}. */
export type BlobRef = z.infer<typeof BlobRefSchema>;

/** A file copied from F&O into our results container. */
export interface CopiedErrorFile {
  /** `staging` (GetImportStagingErrorFileUrl), `targetKeys` (GetImportTargetErrorKeysFileUrl) or the execution errors JSON. */
  kind: 'staging' | 'targetKeys' | 'executionErrors';
  /** Entity label (absent for the execution errors JSON). */
  entity?: string;
  /** Container of our copy. */
  container: string;
  /** Blob path of our copy. */
  path: string;
  /** Size in bytes. */
  bytes: number;
}

/**
 * Status and record counts of one entity of an execution, as F&O gives them
 * (GetEntityExecutionSummaryStatusList); a count F&O does not give is absent.
 */
export interface EntityCounts {
  /** Entity label. */
  entity: string;
  /** F&O's status of the entity (GetExecutionSummaryStatus words). */
  status?: string;
  stagingRecords?: number;
  stagingErrors?: number;
  targetRecords?: number;
  targetErrors?: number;
}

/** What F&O says about a finished (or given up) execution besides its status: its page and counts. */
export interface ExecutionSummary {
  /** The execution's page in F&O (GetExecutionSummaryPageUrl), when F&O gives one. */
  executionPageUrl?: string;
  /** Per entity status and counts, when F&O gives them. */
  entityCounts?: EntityCounts[];
}

/** The subset of a durable orchestration status the job models read. */
export interface OrchestrationStatusLike {
  instanceId: string;
  runtimeStatus: string;
  customStatus?: unknown;
  output?: unknown;
  input?: unknown;
  createdTime?: Date | string;
  lastUpdatedTime?: Date | string;
}

/** What {@link jobStatusOf} needs besides the orchestration's runtime status. */
export interface JobStatusInputs {
  /** The outcome the orchestration's result names, when it completed with one. */
  outcome: JobStatus | undefined;
  /** True once the job has asked F&O for work (before that a running job is still `Pending`). */
  started: boolean;
  /** The job's errors; a crashed orchestration adds one saying so. */
  errors: JobError[];
  /** "import", "export", …, for that message. */
  what: string;
}

/**
 * The job status of an orchestration, for every kind of job: a completed one carries its result's
 * outcome, a crashed one is `Failed`, a terminated one `Canceled`, a running one `Pending` until it
 * has asked F&O for work and `Running` afterwards.
 */
export function jobStatusOf(
  status: { runtimeStatus: string; output?: unknown },
  inputs: JobStatusInputs,
): JobStatus {
  switch (status.runtimeStatus) {
    case 'Completed':
      return inputs.outcome ?? 'Failed';
    case 'Failed':
      inputs.errors.push({
        code: 'ORCHESTRATION_FAILED',
        message:
          typeof status.output === 'string' ? status.output : `The ${inputs.what} orchestration failed.`,
      });
      return 'Failed';
    case 'Terminated':
    case 'Canceled':
      return 'Canceled';
    case 'Pending':
      return 'Pending';
    default:
      return inputs.started ? 'Running' : 'Pending';
  }
}

/** What the job API answers for every kind of job (each kind adds its own fields). */
export interface JobFields {
  /** The job (= orchestration instance) id. */
  id: string;
  status: JobStatus;
  /** F&O execution id, once F&O was asked for work. */
  executionId: string | undefined;
  environment: string | undefined;
  /** The data project (the activity id of a recurring job). */
  project: string | undefined;
  createdAt: string | undefined;
  updatedAt: string | undefined;
  /** Last status F&O answered. */
  foStatus: string | undefined;
  polls: number;
  errors: JobError[];
  /** The F&O page of the execution (GetExecutionSummaryPageUrl), once F&O gave it. */
  executionPageUrl?: string;
  /** Per entity status and counts F&O gave for the execution. */
  entityCounts?: EntityCounts[];
  /** While F&O throttles the job's calls (429): when the job asks again (ISO time). */
  throttledUntil?: string;
}

/**
 * What every job JSON derives alike from the orchestration status: its status (see
 * {@link jobStatusOf}), its errors (the result's, and one for a crashed orchestration), its times
 * and the orchestration input.
 */
export function jobBasics(
  status: OrchestrationStatusLike,
  job: {
    what: string;
    outcome: JobStatus | undefined;
    started: boolean;
    errors: readonly JobError[] | undefined;
  },
): Pick<JobFields, 'status' | 'errors' | 'createdAt' | 'updatedAt'> & { input: Record<string, unknown> } {
  const errors = [...(job.errors ?? [])];
  return {
    status: jobStatusOf(status, { outcome: job.outcome, started: job.started, errors, what: job.what }),
    errors,
    createdAt: isoTime(status.createdTime),
    updatedAt: isoTime(status.lastUpdatedTime),
    input: recordOf(status.input),
  };
}

/** What the result JSON of a job that ran one F&O execution holds (imports, exports). */
export interface ExecutionResult extends ExecutionSummary {
  /** The job (= orchestration instance) id. */
  id: string;
  status: JobOutcome;
  environment: string;
  project: string;
  definitionGroupId: string;
  legalEntity: string;
  /** F&O execution id; absent when F&O was never called. */
  executionId?: string;
  /** Last F&O status, when F&O was called. */
  foStatus?: string;
  correlationId?: string;
  polls: number;
  /** The last {@link POLL_LOG_LIMIT} status polls, oldest first. */
  pollLog?: PollLogEntry[];
  errors: JobError[];
  /** Error files copied from F&O (F&O deletes its own after 7 days). */
  errorFiles: CopiedErrorFile[];
  /** Where this JSON is (`container/path`). */
  resultBlob?: string;
}

/** What import and export jobs show alike: they run one F&O execution and poll its status. */
export interface ExecutionJobFields<Kind extends string, Stage extends string> extends JobFields {
  /** What the job does. */
  kind: Kind;
  stage: Stage | 'Done' | undefined;
  /** The last `POLL_LOG_LIMIT` status polls (time and F&O status), oldest first. */
  pollLog: PollLogEntry[];
}

/**
 * The {@link ExecutionJobFields} of an import or export, from its custom status while it runs and
 * its result once final; `started`: F&O was asked for work (the execution id means something).
 */
export function executionJobFields<Kind extends string, Stage extends string>(
  status: OrchestrationStatusLike,
  job: {
    kind: Kind;
    started: boolean;
    custom: {
      stage?: Stage;
      executionId?: string;
      foStatus?: string;
      polls?: number;
      pollLog?: unknown;
      throttledUntil?: string;
    };
    result: ExecutionResult | undefined;
  },
): ExecutionJobFields<Kind, Stage> & { input: Record<string, unknown> } {
  const { custom, result, started } = job;
  const basics = jobBasics(status, {
    what: job.kind,
    outcome: result?.status,
    started,
    errors: result?.errors,
  });
  return {
    id: status.instanceId,
    kind: job.kind,
    status: basics.status,
    stage: result ? 'Done' : custom.stage,
    executionId: result ? result.executionId : started ? custom.executionId : undefined,
    environment: result?.environment ?? stringOf(basics.input.environment),
    project: result?.project ?? stringOf(basics.input.project),
    createdAt: basics.createdAt,
    updatedAt: basics.updatedAt,
    foStatus: result?.foStatus ?? custom.foStatus,
    polls: result?.polls ?? custom.polls ?? 0,
    pollLog: pollLogOf(result ? result.pollLog : custom.pollLog),
    errors: basics.errors,
    ...summaryFields(result),
    ...(!result && typeof custom.throttledUntil === 'string'
      ? { throttledUntil: custom.throttledUntil }
      : {}),
    input: basics.input,
  };
}

/** The {@link ExecutionSummary} fields of a result, for the job JSON (absent ones left out). */
export function summaryFields(result: ExecutionSummary | undefined): ExecutionSummary {
  return {
    ...(result?.executionPageUrl ? { executionPageUrl: result.executionPageUrl } : {}),
    ...(result?.entityCounts ? { entityCounts: result.entityCounts } : {}),
  };
}

/** The object in a status field (custom status, input, output), or `{}`. */
export function recordOf(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}
