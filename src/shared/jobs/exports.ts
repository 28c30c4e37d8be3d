/**
 * The package export's contracts: the `exportPackage` input (zod), its custom status and result
 * JSON, and the job JSON `GET /api/exports/{id}` and the job API derive from them. Pure.
 */
import { z } from 'zod';
import { PollingConfigSchema } from '../config/index.js';
import { stringOf } from '../util.js';
import {
  executionJobFields,
  recordOf,
  type OrchestrationStatusLike,
  type PauseInfo,
  type PollLogEntry,
} from './common.js';
import type { ExecutionJobFields, ExecutionResult } from './common.js';

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
  /** The job this one re-runs (`POST /api/jobs/{id}/rerun`). */
  rerunOf: z.string().min(1).max(200).optional(),
  /** Store the package under a folder of its legal entity (the exports of a multi-company run). */
  legalEntityFolder: z.boolean().optional(),
  /** The job this one is part of (a multi-company run). */
  parentId: z.string().min(1).optional(),
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
  /** While F&O answers 429: when the job asks again (ISO time). */
  throttledUntil?: string;
  /** While the environment is paused (the export waits to be started: `Queued`). */
  paused?: PauseInfo;
}

/** A blob written by an export. */
export interface StoredBlob {
  container: string;
  path: string;
  bytes: number;
}

/** The result JSON of an export (also the orchestration output and the event data). */
export interface ExportResult extends ExecutionResult {
  kind: 'export';
  packageName: string;
  trigger: ExportInput['trigger'];
  scheduledFor?: string;
  timings: {
    requestedAt: string;
    startedAt?: string;
    packageReadyAt?: string;
    finishedAt: string;
    executionMs?: number;
  };
  /** GetExportedPackageUrl calls that answered "" (the package was not written yet). */
  urlPolls: number;
  /** The package in the outbound container. */
  package?: StoredBlob;
  /** Entity files stored beside it (`unpack`). */
  unpacked: StoredBlob[];
  /** The job this one is part of (a multi-company run). */
  parentId?: string;
}

/** What `GET /api/exports/{id}` answers. */
export interface ExportJob extends ExecutionJobFields<'export', ExportStage> {
  urlPolls: number;
  result: ExportResult | undefined;
  /** The legal entity exported. */
  legalEntity?: string;
  /** The job this one is part of (a multi-company run). */
  parentId?: string;
}

/** Derives the job JSON of an export from its orchestration status (same statuses as import jobs). */
export function exportJobFromStatus(status: OrchestrationStatusLike): ExportJob {
  const custom = recordOf(status.customStatus) as Partial<ExportCustomStatus>;
  const output = recordOf(status.output);
  const result = output.kind === 'export' ? (output as unknown as ExportResult) : undefined;
  const started = custom.stage !== undefined && custom.stage !== 'Starting';
  const { input, errors, ...fields } = executionJobFields(status, {
    kind: 'export',
    started,
    custom,
    result,
  });
  const legalEntity = result?.legalEntity ?? stringOf(input.legalEntity);
  const parentId = result?.parentId ?? stringOf(input.parentId);
  return {
    ...fields,
    urlPolls: result?.urlPolls ?? custom.urlPolls ?? 0,
    errors,
    result,
    ...(legalEntity ? { legalEntity } : {}),
    ...(parentId ? { parentId } : {}),
  };
}
