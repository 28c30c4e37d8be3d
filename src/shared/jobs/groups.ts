/**
 * Jobs made of jobs: a chain (one import per data project of a chain, in order, from one batch of
 * files) and a multi-company export (one export per legal entity). Their inputs (zod), custom
 * status, result JSON and the job JSON the job API derives from them; each child is a job of its
 * own (an import, an export) that names its parent. Pure.
 */
import { z } from 'zod';
import { stringOf } from '../util.js';
import {
  jobBasics,
  recordOf,
  type JobError,
  type JobFields,
  type JobOutcome,
  type JobStatus,
  type OrchestrationStatusLike,
} from './common.js';
import { ExportInputSchema, type StoredBlob } from './exports.js';
import { BatchCollectSchema, type BatchProgress } from './imports.js';

/** One job a parent started, or would have: a chain's step, a multi-company run's company. */
export interface ChildJob {
  /** The child's job id (derived from the parent's and the step's: known before it starts). */
  id: string;
  /** `Skipped`: never started (the chain stopped before it). */
  status: JobStatus | 'Skipped';
  /** The data project (a chain's step). */
  project?: string;
  /** The legal entity (a multi-company run's export). */
  legalEntity?: string;
  /** The files of the batch the step imported. */
  files?: string[];
  /** The package an export stored. */
  package?: StoredBlob;
  /** Errors the child ended with (its own job lists them). */
  errorCount?: number;
}

/** Stages of a job made of jobs. */
export type ParentStage = 'Collecting' | 'Running' | 'Finishing' | 'Done';

/** The custom status of a chain or a multi-company export. */
export interface ParentCustomStatus {
  stage: ParentStage;
  children: ChildJob[];
  /** A chain: where the collection of its batch stands. */
  batch?: BatchProgress;
}

/** The result JSON of a chain or a multi-company export (also its orchestration output). */
export interface ParentResult {
  id: string;
  kind: 'chain' | 'multiCompanyExport';
  status: JobOutcome;
  environment: string;
  /** The chain's name, or the export data project. */
  project: string;
  children: ChildJob[];
  errors: JobError[];
  trigger: string;
  correlationId?: string;
  timings: { requestedAt: string; collectedAt?: string; finishedAt: string };
  /** A chain: its batch. */
  batch?: { id: string; folder: string; files: { name: string; entity?: string; project?: string }[] };
  /** A chain: where the files no step imported (and the trigger file) were archived. */
  archivedTo?: string;
  /** A multi-company export: the legal entities. */
  legalEntities?: string[];
  scheduledFor?: string;
  resultBlob?: string;
}

/** One step of a chain: an import data project, resolved when the chain's batch arrived. */
export const ChainStepSchema = z.strictObject({
  project: z.string().min(1),
  definitionGroupId: z.string().min(1),
  legalEntity: z.string().min(1),
  execute: z.boolean(),
  overwrite: z.boolean(),
});

/** The `importChain` input: the chain as configured when its first file arrived. */
export const ChainInputSchema = z.strictObject({
  chain: z.string().min(1),
  environment: z.string().min(1),
  container: z.string().min(3),
  /** The batch's folder `{environment}/_chains/{chain}/{batchId}`. */
  folder: z.string().min(1),
  batchId: z.string().min(1),
  collect: BatchCollectSchema,
  onPartialSuccess: z.enum(['stop', 'continue']),
  steps: z.array(ChainStepSchema).min(1),
  trigger: z.enum(['blob']),
  requestedAt: z.string(),
});
/** See {@link ChainInputSchema}. */
export type ChainInput = z.infer<typeof ChainInputSchema>;

/**
 * The `multiCompanyExport` input: an export's input (src/shared/jobs/exports.ts) with several legal
 * entities instead of one.
 */
export const MultiCompanyExportInputSchema = ExportInputSchema.omit({
  legalEntity: true,
  legalEntityFolder: true,
  parentId: true,
}).extend({ legalEntities: z.array(z.string().min(1)).min(1).max(50) });
/** See {@link MultiCompanyExportInputSchema}. */
export type MultiCompanyExportInput = z.infer<typeof MultiCompanyExportInputSchema>;

/** What `GET /api/jobs/{id}` answers for a chain or a multi-company export. */
export interface ParentJob extends JobFields {
  kind: 'chain' | 'multiCompanyExport';
  stage: ParentStage | undefined;
  /** A multi-company export: its legal entities, comma-separated. */
  legalEntity: string | undefined;
  /** A chain: its batch id. */
  file: string | undefined;
  /** The child jobs, in the order they run (each one's own job has the details). */
  children: ChildJob[];
  /** A chain: where the collection of its batch stands. */
  batch?: BatchProgress;
  result: ParentResult | undefined;
}

/**
 * The outcome of a job made of jobs, from its children's (the skipped ones aside): Succeeded when
 * every one did, PartiallySucceeded when some imported or exported something, else Failed.
 */
export function groupOutcome(children: readonly ChildJob[]): JobOutcome {
  const ran = children.filter((c) => c.status !== 'Skipped');
  if (ran.length === 0) return 'Failed';
  if (ran.every((c) => c.status === 'Succeeded')) return 'Succeeded';
  if (ran.some((c) => c.status === 'Succeeded' || c.status === 'PartiallySucceeded'))
    return 'PartiallySucceeded';
  return 'Failed';
}

function childrenOf(value: unknown): ChildJob[] {
  return Array.isArray(value) ? value.filter((c): c is ChildJob => typeof recordOf(c).id === 'string') : [];
}

function parentJob(kind: ParentJob['kind'], status: OrchestrationStatusLike): ParentJob {
  const custom = recordOf(status.customStatus) as Partial<ParentCustomStatus>;
  const output = recordOf(status.output);
  const result = output.kind === kind ? (output as unknown as ParentResult) : undefined;
  const job = jobBasics(status, {
    what: kind === 'chain' ? 'chain' : 'multi-company export',
    outcome: result?.status,
    started: custom.stage !== undefined && custom.stage !== 'Collecting',
    errors: result?.errors,
  });
  const legalEntities = result?.legalEntities ?? (job.input.legalEntities as string[] | undefined);
  const batch = custom.batch;
  return {
    id: status.instanceId,
    kind,
    status: job.status,
    stage: result ? 'Done' : custom.stage,
    executionId: undefined,
    environment: result?.environment ?? stringOf(job.input.environment),
    project: result?.project ?? stringOf(kind === 'chain' ? job.input.chain : job.input.project),
    legalEntity: Array.isArray(legalEntities) ? legalEntities.join(',') : undefined,
    file: result?.batch?.id ?? stringOf(job.input.batchId),
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    foStatus: undefined,
    polls: 0,
    errors: job.errors,
    children: result ? result.children : childrenOf(custom.children),
    ...(batch && !result ? { batch } : {}),
    result,
  };
}

/** The job JSON of a chain. */
export function chainJobFromStatus(status: OrchestrationStatusLike): ParentJob {
  return parentJob('chain', status);
}

/** The job JSON of a multi-company export. */
export function multiCompanyExportJobFromStatus(status: OrchestrationStatusLike): ParentJob {
  return parentJob('multiCompanyExport', status);
}
