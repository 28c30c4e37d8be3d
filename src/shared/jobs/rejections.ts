/**
 * Rejected inputs as jobs: a drop or command the app refused before any job could start (a path
 * outside the convention, an unknown project, a command failing its schema, a blob that does not
 * exist) is listed beside the jobs, with status `Rejected`, its reason and where its source is kept.
 * Pure.
 */
import type { JobError, JobFields } from './common.js';

/** A refused input, as recorded in the results container and published as `…import.rejected`. */
export interface Rejection {
  /** Id of the rejection (the MessageId, or a hash of the blob path and version). */
  id: string;
  trigger: 'blob' | 'serviceBus' | 'http';
  /** What was refused: the blob path, or `commands/{messageId}`. */
  subject: string;
  /** Why, in a sentence a person can act on. */
  reason: string;
  code: string;
  rejectedAt: string;
  /** Extra facts (message size, delivery count, …). */
  details?: Record<string, unknown>;
  /** The kind of job the input asked for (`import` when it cannot be told). */
  kind?: RejectedJob['kind'];
  /** The environment, data project (or recurring activity), legal entity and file it named, when known. */
  environment?: string;
  project?: string;
  legalEntity?: string;
  file?: string;
  /**
   * Where the refused source is kept (`container/path`): the app leaves it in place. Absent when
   * the input named no stored file (a command without `blobPath`, a url).
   */
  source?: string;
}

/** The result of a rejected job: the rejection record, where it is, and its time as the job's timings. */
export type RejectedResult = Rejection & {
  status: 'Rejected';
  /** The rejection record (`container/path` in the results container). */
  rejectionBlob: string;
  timings: { requestedAt: string; finishedAt: string };
};

/** What the job API answers for a rejected input. */
export interface RejectedJob extends JobFields {
  kind: 'import' | 'export' | 'recurringImport';
  status: 'Rejected';
  stage: undefined;
  legalEntity: string | undefined;
  file: string | undefined;
  /** Why it was refused. */
  reason: string;
  /** Where its source is kept (left in place), when it named one. */
  source: string | undefined;
  trigger: Rejection['trigger'];
  result: RejectedResult;
}

/** The job JSON of a rejection recorded at `rejectionBlob`. */
export function rejectedJob(rejection: Rejection, rejectionBlob: string): RejectedJob {
  const error: JobError = { code: rejection.code, message: rejection.reason };
  return {
    id: rejection.id,
    kind: rejection.kind ?? 'import',
    status: 'Rejected',
    stage: undefined,
    executionId: undefined,
    environment: rejection.environment,
    project: rejection.project,
    legalEntity: rejection.legalEntity,
    file: rejection.file,
    createdAt: rejection.rejectedAt,
    updatedAt: rejection.rejectedAt,
    foStatus: undefined,
    polls: 0,
    errors: [error],
    reason: rejection.reason,
    source: rejection.source,
    trigger: rejection.trigger,
    result: {
      ...rejection,
      status: 'Rejected',
      rejectionBlob,
      timings: { requestedAt: rejection.rejectedAt, finishedAt: rejection.rejectedAt },
    },
  };
}
