/**
 * What every kind of job shares: its status, errors, copied error files, the poll log and how a
 * status is derived from the orchestration's runtime status. Pure functions only.
 */
import { z } from 'zod';
import { isoTime, isRecord, stringOf } from '../util.js';
import type { JobOutcome, JobStatus } from './statuses.js';

export { JOB_OUTCOMES, JOB_STATUSES, type JobOutcome, type JobStatus } from './statuses.js';
/** Statuses of a job that has not ended yet (a re-run of it is refused). */
export const ACTIVE_JOB_STATUSES: readonly JobStatus[] = ['Pending', 'Running', 'Queued'];

/** A paused environment, as the jobs waiting for it show it (from the environment's slot entity). */
export interface PauseInfo {
  environment: string;
  /** When it was paused (ISO time). */
  since: string;
  /** Who paused it (as the caller said: the CLI's user, the dashboard's, the signed-in principal). */
  by: string;
  /** Why, when the caller said. */
  reason?: string;
}

/** The sentence a queued job shows: "environment … paused since … by …". */
export function queuedReasonOf(paused: PauseInfo): string {
  return `Environment ${paused.environment} paused since ${paused.since} by ${paused.by}${paused.reason ? ` (${paused.reason})` : ''}: the job waits and starts, in arrival order, when the environment is resumed.`;
}

/** The {@link PauseInfo} in a custom status, when it carries a valid one. */
export function pauseInfoOf(value: unknown): PauseInfo | undefined {
  if (!isRecord(value)) return undefined;
  const { environment, since, by, reason } = value;
  if (typeof environment !== 'string' || typeof since !== 'string' || typeof by !== 'string')
    return undefined;
  return { environment, since, by, ...(typeof reason === 'string' ? { reason } : {}) };
}

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
  /** True while it waits for its paused environment (a running job not started yet is then `Queued`). */
  queued?: boolean;
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
      return inputs.started ? 'Running' : inputs.queued ? 'Queued' : 'Pending';
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
  /** While `Queued`: why ("environment … paused since … by …"). */
  queuedReason?: string;
  /** While `Queued`: the pause it waits for. */
  paused?: PauseInfo;
  /** The job this one re-runs (`POST /api/jobs/{id}/rerun`). */
  rerunOf?: string;
  /** The job that re-ran this one. */
  rerunBy?: string;
  /** The alerts sent about this job (`GET /api/jobs/{id}` only): per webhook, whether it went out. */
  alerts?: JobAlert[];
}

/** One alert about a job, as the job API shows it. */
export interface JobAlert {
  /** The alert's name (configuration). */
  alert: string;
  /** `sending` (being delivered, or retried), `sent`, or `failed` (refused, or still failing after the retries). */
  state: 'sending' | 'sent' | 'failed';
  /** The webhook's HTTP status, when it answered. */
  status?: number;
}

/** The {@link JobAlert}s of a `jobAlert` instance (its input names the alerts, its output the outcome). */
export function jobAlertsOf(status: {
  runtimeStatus: string;
  input?: unknown;
  output?: unknown;
}): JobAlert[] {
  const names = recordOf(status.input).alerts;
  const outcome = Array.isArray(status.output) ? status.output : [];
  if (!Array.isArray(names)) return [];
  return names
    .filter((n): n is string => typeof n === 'string')
    .map((alert) => {
      const done = outcome.find((o): o is Record<string, unknown> => isRecord(o) && o.alert === alert);
      if (!done) return { alert, state: status.runtimeStatus === 'Completed' ? 'failed' : 'sending' };
      return {
        alert,
        state: done.delivered === true ? 'sent' : 'failed',
        ...(typeof done.status === 'number' ? { status: done.status } : {}),
      };
    });
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
    queued?: boolean;
  },
): Pick<JobFields, 'status' | 'errors' | 'createdAt' | 'updatedAt'> & { input: Record<string, unknown> } {
  const errors = [...(job.errors ?? [])];
  return {
    status: jobStatusOf(status, {
      outcome: job.outcome,
      started: job.started,
      errors,
      what: job.what,
      ...(job.queued ? { queued: true } : {}),
    }),
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
  /** The job this one re-ran, when it was started by a re-run. */
  rerunOf?: string;
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
      paused?: unknown;
    };
    result: ExecutionResult | undefined;
  },
): ExecutionJobFields<Kind, Stage> & { input: Record<string, unknown> } {
  const { custom, result, started } = job;
  const paused = result || started ? undefined : pauseInfoOf(custom.paused);
  const basics = jobBasics(status, {
    what: job.kind,
    outcome: result?.status,
    started,
    errors: result?.errors,
    queued: paused !== undefined,
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
    ...queuedFields(basics.status, paused),
    ...rerunOfField(result?.rerunOf ?? basics.input.rerunOf),
    input: basics.input,
  };
}

/** `queuedReason` and `paused` of a job that is `Queued` (nothing otherwise). */
export function queuedFields(
  status: JobStatus,
  paused: PauseInfo | undefined,
): Pick<JobFields, 'queuedReason' | 'paused'> {
  return status === 'Queued' && paused ? { queuedReason: queuedReasonOf(paused), paused } : {};
}

/** `rerunOf` of a job started by a re-run (from its input or result). */
export function rerunOfField(value: unknown): Pick<JobFields, 'rerunOf'> {
  return typeof value === 'string' && value !== '' ? { rerunOf: value } : {};
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
