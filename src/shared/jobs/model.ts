/**
 * The job model of the import pipeline: what `GET /api/jobs/{id}` answers, derived from the
 * `importPackage` orchestration's runtime status, custom status and output. Pure functions only.
 */
import { createHash } from 'node:crypto';

/** Every status a job can have. */
export const JOB_STATUSES = [
  'Pending',
  'Running',
  'Succeeded',
  'PartiallySucceeded',
  'Failed',
  'Canceled',
  'TimedOut',
] as const;
/** One of {@link JOB_STATUSES}. */
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Final statuses of an import (what the orchestration's output carries). */
export type ImportOutcome = Exclude<JobStatus, 'Pending' | 'Running'>;

/** Stages of an import, in order; the custom status names the current one. */
export const IMPORT_STAGES = [
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
export const CANCELABLE_STAGES: readonly ImportStage[] = ['Preparing', 'WaitingForSlot'];

/** Poll log entries kept per job (the newest ones): bounds the custom status and result size. */
export const POLL_LOG_LIMIT = 50;

/** One status poll of an F&O execution, for the job page's timeline. */
export interface PollLogEntry {
  /** When the poll's answer was seen (orchestration time, ISO). */
  at: string;
  /** What F&O answered (GetExecutionSummaryStatus); absent when it gave no status. */
  foStatus?: string;
  /** Why there is no status: F&O did not know the execution yet, or could not be asked. */
  answer?: 'notFound' | 'unavailable';
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

/** The orchestration's custom status: where the import is, for people and the job API. */
export interface ImportCustomStatus {
  stage: ImportStage;
  /** F&O execution id (known from the start, derived from the instance id). */
  executionId: string;
  /** Last status F&O answered (GetExecutionSummaryStatus). */
  foStatus?: string;
  /** Status polls made so far. */
  polls: number;
  /** The last {@link POLL_LOG_LIMIT} polls, oldest first. */
  pollLog?: PollLogEntry[];
  /** When the next poll is due (ISO time). */
  nextPollAt?: string;
  /** When ImportFromPackage was accepted (ISO time). */
  startedAt?: string;
  /** Place in the environment's queue while waiting for a slot (1 = next). */
  slotPosition?: number;
}

/** One error of a job, as readable as F&O gives it. */
export interface JobError {
  /** Stable code, e.g. `PACKAGE_NOT_ZIP`, `DMF_EXECUTION_ERROR`, `IMPORT_TIMED_OUT`. */
  code: string;
  message: string;
  /** Entity (label) the error is about, when F&O says so. */
  entity?: string;
  /** F&O record id, when F&O says so. */
  recordId?: string;
  /** Field, when F&O says so. */
  field?: string;
}

/** A file copied from F&O into our results container. */
export interface CopiedErrorFile {
  /** `staging` (GetImportStagingErrorFileUrl) or `targetKeys` (GetImportTargetErrorKeysFileUrl). */
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

/** The result JSON written next to the error files (and returned as the orchestration output). */
export interface ImportResult {
  /** The job (= orchestration instance) id. */
  id: string;
  status: ImportOutcome;
  /** File name of the source. */
  file: string;
  /** Where the source was found (`container/path` or url without query). */
  source: string;
  environment: string;
  project: string;
  definitionGroupId: string;
  legalEntity: string;
  /** F&O execution id; absent when F&O was never called. */
  executionId?: string;
  /** Last F&O status, when F&O was called. */
  foStatus?: string;
  trigger: 'blob' | 'serviceBus' | 'http';
  correlationId?: string;
  timings: {
    requestedAt: string;
    preparedAt?: string;
    slotAcquiredAt?: string;
    startedAt?: string;
    finishedAt: string;
    /** ms from ImportFromPackage to the final status being seen. */
    executionMs?: number;
  };
  polls: number;
  /** The last {@link POLL_LOG_LIMIT} polls, oldest first. */
  pollLog?: PollLogEntry[];
  errors: JobError[];
  /** Error files copied from F&O (F&O deletes its own after 7 days). */
  errorFiles: CopiedErrorFile[];
  /** Where this JSON is (`container/path`). */
  resultBlob?: string;
  /** Where the source was archived (`container/path`); absent when it could not be moved. */
  archivedTo?: string;
}

/** What `GET /api/jobs/{id}` answers. */
export interface Job {
  id: string;
  /** What the job does (exports say `export`, recurring jobs `recurringImport`/`recurringExport`). */
  kind: 'import';
  status: JobStatus;
  stage: ImportStage | undefined;
  executionId: string | undefined;
  environment: string | undefined;
  project: string | undefined;
  legalEntity: string | undefined;
  file: string | undefined;
  createdAt: string | undefined;
  updatedAt: string | undefined;
  foStatus: string | undefined;
  polls: number;
  /** The last {@link POLL_LOG_LIMIT} status polls (time and F&O status), oldest first. */
  pollLog: PollLogEntry[];
  nextPollAt: string | undefined;
  slotPosition: number | undefined;
  errors: JobError[];
  /** The result JSON once the job is final. */
  result: ImportResult | undefined;
}

/** The subset of a durable orchestration status the job model reads. */
export interface OrchestrationStatusLike {
  instanceId: string;
  runtimeStatus: string;
  customStatus?: unknown;
  output?: unknown;
  input?: unknown;
  createdTime?: Date | string;
  lastUpdatedTime?: Date | string;
}

const iso = (value: Date | string | undefined): string | undefined =>
  value === undefined ? undefined : value instanceof Date ? value.toISOString() : String(value);

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

function asCustomStatus(value: unknown): Partial<ImportCustomStatus> {
  if (typeof value === 'string') {
    try {
      return asCustomStatus(JSON.parse(value));
    } catch {
      return {};
    }
  }
  return isRecord(value) ? value : {};
}

function asResult(value: unknown): ImportResult | undefined {
  return isRecord(value) && typeof value.status === 'string' && typeof value.id === 'string'
    ? (value as unknown as ImportResult)
    : undefined;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** What {@link jobStatusOf} needs besides the orchestration's runtime status. */
export interface JobStatusInputs {
  /** The outcome the orchestration's result names, when it completed with one. */
  outcome: JobStatus | undefined;
  /** True once the job has asked F&O for work (before that a running job is still `Pending`). */
  started: boolean;
  /** The job's errors; a crashed orchestration adds one saying so. */
  errors: JobError[];
  /** "import" or "export", for that message. */
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

/**
 * Derives the job JSON from an orchestration status. Running imports are `Pending` until F&O has
 * been asked to import (stages Preparing and WaitingForSlot), `Running` afterwards; completed ones
 * carry their outcome; an orchestration that crashed is `Failed`; a terminated one `Canceled`.
 */
export function jobFromStatus(status: OrchestrationStatusLike): Job {
  const custom = asCustomStatus(status.customStatus);
  const result = asResult(status.output);
  const input = isRecord(status.input) ? status.input : {};
  const errors: JobError[] = result ? [...result.errors] : [];
  const jobStatus = jobStatusOf(status, {
    outcome: result?.status,
    started: custom.stage !== undefined && !CANCELABLE_STAGES.includes(custom.stage),
    errors,
    what: 'import',
  });
  return {
    id: status.instanceId,
    kind: 'import',
    status: jobStatus,
    stage: result ? 'Done' : custom.stage,
    // known from the start (derived), but only meaningful once F&O was asked to import
    executionId: result
      ? result.executionId
      : custom.stage !== undefined && !CANCELABLE_STAGES.includes(custom.stage)
        ? custom.executionId
        : undefined,
    environment: result?.environment ?? str(input.environment),
    project: result?.project ?? str(input.project),
    legalEntity: result?.legalEntity ?? str(input.legalEntity),
    file: result?.file ?? str(input.fileName),
    createdAt: iso(status.createdTime),
    updatedAt: iso(status.lastUpdatedTime),
    foStatus: result?.foStatus ?? custom.foStatus,
    polls: result?.polls ?? custom.polls ?? 0,
    pollLog: pollLogOf(result ? result.pollLog : custom.pollLog),
    nextPollAt: result ? undefined : custom.nextPollAt,
    slotPosition: result ? undefined : custom.slotPosition,
    errors,
    result,
  };
}

/** Prefix of every import instance id. */
export const IMPORT_INSTANCE_PREFIX = 'imp-';

/**
 * The instance id of an import: a hash of where the file is and which version it is, so that every
 * delivery of the same blob version (blob trigger, command, HTTP) maps to one orchestration and one
 * F&O execution. Only `[a-z0-9-]`: valid as an instance id, an execution id and a blob name part.
 */
export function importInstanceId(parts: { source: string; version: string }): string {
  const digest = createHash('sha256').update(`${parts.source}\n${parts.version}`).digest('hex');
  return `${IMPORT_INSTANCE_PREFIX}${digest.slice(0, 32)}`;
}

/** The F&O execution id of an import: derived from (here: equal to) its instance id. */
export function executionIdFor(instanceId: string): string {
  return `dmffn-${instanceId}`;
}
