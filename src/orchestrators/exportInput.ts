/** Contracts of the package export orchestration (zod for the input, JSON-safe types for activities). */
import { z } from 'zod';
import { PollingConfigSchema } from '../shared/config/index.js';
import type { CopiedErrorFile, ImportOutcome, JobError, PollLogEntry } from '../shared/jobs/index.js';

/** The orchestration input: everything resolved by the starter, nothing secret. */
export const ExportInputSchema = z.strictObject({
  environment: z.string().min(1),
  /** Data project name (configuration). */
  project: z.string().min(1),
  definitionGroupId: z.string().min(1),
  legalEntity: z.string().min(1),
  packageName: z.string().min(1),
  reExecute: z.boolean(),
  /** Store the entity files of the package beside the zip. */
  unpack: z.boolean(),
  polling: PollingConfigSchema,
  trigger: z.enum(['http', 'serviceBus', 'schedule']),
  correlationId: z.string().max(200).optional(),
  requestedAt: z.string(),
  /** Scheduled exports: the schedule occurrence this run is for. */
  scheduledFor: z.string().optional(),
});
/** See {@link ExportInputSchema}. */
export type ExportInput = z.infer<typeof ExportInputSchema>;

/** Stages of an export, in order; the custom status names the current one. */
export type ExportStage =
  'Starting' | 'Polling' | 'WaitingForPackage' | 'CollectingErrors' | 'Finishing' | 'Done';

/** Custom status of the export orchestration. */
export interface ExportCustomStatus {
  stage: ExportStage;
  executionId: string;
  foStatus?: string;
  polls: number;
  /** The last `POLL_LOG_LIMIT` status polls, oldest first. */
  pollLog?: PollLogEntry[];
  /** GetExportedPackageUrl calls that answered "" so far. */
  urlPolls: number;
  nextPollAt?: string;
}

/** A blob written by an export. */
export interface StoredBlob {
  container: string;
  path: string;
  bytes: number;
}

/** The result JSON of an export (also the orchestration output and the event data). */
export interface ExportResult {
  /** Job (= instance) id. */
  id: string;
  kind: 'export';
  status: ImportOutcome;
  environment: string;
  project: string;
  definitionGroupId: string;
  legalEntity: string;
  packageName: string;
  executionId?: string;
  foStatus?: string;
  trigger: ExportInput['trigger'];
  correlationId?: string;
  scheduledFor?: string;
  timings: {
    requestedAt: string;
    startedAt?: string;
    packageReadyAt?: string;
    finishedAt: string;
    executionMs?: number;
  };
  polls: number;
  /** The last `POLL_LOG_LIMIT` status polls, oldest first. */
  pollLog?: PollLogEntry[];
  urlPolls: number;
  /** The package in the outbound container. */
  package?: StoredBlob;
  /** Entity files stored beside it (`unpack`). */
  unpacked: StoredBlob[];
  errors: JobError[];
  errorFiles: CopiedErrorFile[];
  resultBlob?: string;
}

/** Input of the start activity. */
export interface ExportStartInput {
  environment: string;
  executionId: string;
  definitionGroupId: string;
  packageName: string;
  reExecute: boolean;
  legalEntity: string;
}

/** Input of the store activity. */
export interface ExportStoreInput {
  environment: string;
  executionId: string;
  /** Folder (outbound container) of the package: `{environment}/{project}/{yyyy}/{MM}/{dd}`. */
  folder: string;
  /** Blob name of the zip inside `folder`. */
  fileName: string;
  unpack: boolean;
}

/** Output of the store activity: not ready while F&O answers "" for the url. */
export type ExportStoreResult =
  { ready: false } | { ready: true; package: StoredBlob; unpacked: StoredBlob[] };
