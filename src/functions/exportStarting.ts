/**
 * The use cases behind the export triggers: resolve a data project into an `exportPackage` input,
 * start it under a deterministic instance id (never twice), plan scheduled runs, and derive the job
 * JSON of an export from its orchestration status.
 */
import { createHash } from 'node:crypto';
import { Cron } from 'croner';
import * as df from 'durable-functions';
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import { NAME_PATTERN, type AppConfig, type DataProjectConfig } from '../shared/config/index.js';
import { InputError } from '../shared/errors.js';
import {
  jobStatusOf,
  pollLogOf,
  type JobError,
  type JobStatus,
  type PollLogEntry,
} from '../shared/jobs/index.js';
import { ACTIVE_RUNTIME_STATUSES, findStatus } from '../activities/durableClient.js';
import { EXPORT_INSTANCE_PREFIX, EXPORT_ORCHESTRATOR } from '../activities/exportNames.js';
import type {
  ExportCustomStatus,
  ExportInput,
  ExportResult,
  ExportStage,
} from '../orchestrators/exportInput.js';

/** A scheduled occurrence is started only when the timer sees it within this long after it was due. */
export const SCHEDULE_CATCH_UP_MS = 5 * 60_000;

/** Instance id (= job id) of an export: a hash of what identifies the request. */
export function exportInstanceId(parts: { environment: string; project: string; request: string }): string {
  const digest = createHash('sha256')
    .update(`${parts.environment}\n${parts.project}\n${parts.request}`)
    .digest('hex');
  return `${EXPORT_INSTANCE_PREFIX}${digest.slice(0, 32)}`;
}

/** Finds the export data project named by `segment` (its `name`, else the first with that `definitionGroupId`). */
export function findExportProject(
  config: Pick<AppConfig, 'dataProjects'>,
  environment: string,
  segment: string,
): DataProjectConfig | undefined {
  const candidates = config.dataProjects.filter(
    (p) => p.environment === environment && p.direction === 'export',
  );
  const byName = candidates.find((p) => p.name === segment);
  if (byName) return byName;
  // as imports: several projects may share a definition group; the first one declared answers to it
  return candidates.find((p) => p.definitionGroupId.toLowerCase() === segment.toLowerCase());
}

/** Options of an export request (HTTP body, command). */
export const ExportRequestOptionsSchema = z.strictObject({
  /** Legal entity; default the project's. */
  legalEntityId: z.string().min(1).max(20).optional(),
  reExecute: z.boolean().optional(),
  unpack: z.boolean().optional(),
  correlationId: z.string().min(1).max(200).optional(),
});
/** See {@link ExportRequestOptionsSchema}. */
export type ExportRequestOptions = z.infer<typeof ExportRequestOptionsSchema>;

/** The Service Bus `export` command (same queue as `import`; `type` tells them apart). */
export const ExportCommandSchema = ExportRequestOptionsSchema.extend({
  type: z.literal('export'),
  environment: z.string().regex(NAME_PATTERN, 'must be an environment name'),
  /** The data project: its `name` or its `definitionGroupId`. */
  definitionGroupId: z.string().min(1).max(200),
});
/** See {@link ExportCommandSchema}. */
export type ExportCommand = z.infer<typeof ExportCommandSchema>;

/** Resolves an export request against the configuration; throws `InputError` with an actionable sentence. */
export function plannedExport(
  config: Pick<AppConfig, 'environments' | 'dataProjects'>,
  request: {
    environment: string;
    project: string;
    requestId: string;
    scheduledFor?: string;
  } & ExportRequestOptions,
  options: { trigger: ExportInput['trigger']; now: Date },
): { instanceId: string; input: ExportInput } {
  const environment = config.environments.find((e) => e.name === request.environment);
  if (!environment) {
    throw new InputError(`Environment "${request.environment}" is not configured.`, {
      code: 'UNKNOWN_ENVIRONMENT',
    });
  }
  const project = findExportProject(config, environment.name, request.project);
  if (!project) {
    const known = config.dataProjects
      .filter((p) => p.environment === environment.name && p.direction === 'export')
      .map((p) => `${p.name} (${p.definitionGroupId})`)
      .join(', ');
    throw new InputError(
      `"${request.project}" is neither the name nor the definitionGroupId of an export data project of environment "${environment.name}" (configured: ${known || 'none'}).`,
      { code: 'UNKNOWN_PROJECT' },
    );
  }
  return {
    instanceId: exportInstanceId({
      environment: environment.name,
      project: project.name,
      request: request.requestId,
    }),
    input: {
      environment: environment.name,
      project: project.name,
      definitionGroupId: project.definitionGroupId,
      legalEntity: request.legalEntityId ?? project.legalEntity,
      packageName: project.packageName,
      reExecute: request.reExecute ?? project.reExecute,
      unpack: request.unpack ?? project.unpack ?? false,
      polling: project.polling,
      trigger: options.trigger,
      ...(request.correlationId ? { correlationId: request.correlationId } : {}),
      requestedAt: options.now.toISOString(),
      ...(request.scheduledFor ? { scheduledFor: request.scheduledFor } : {}),
    },
  };
}

/** Starts `exportPackage` under `instanceId` unless that instance exists (any state). */
export async function startExportJob(
  client: DurableClient,
  instanceId: string,
  input: ExportInput,
): Promise<{ instanceId: string; started: boolean }> {
  if (await findStatus(client, instanceId)) return { instanceId, started: false };
  try {
    await client.startNew(EXPORT_ORCHESTRATOR, { instanceId, input });
    return { instanceId, started: true };
  } catch (error) {
    if (error instanceof Error && /\b409\b/.test(error.message)) return { instanceId, started: false };
    throw error;
  }
}

/** The latest occurrence of a 6-field NCRONTAB schedule in `(now - windowMs, now]`, if any. */
export function latestOccurrence(schedule: string, now: Date, windowMs: number): Date | undefined {
  const cron = new Cron(schedule, { paused: true, timezone: 'Etc/UTC', mode: '6-part', domAndDow: true });
  let found: Date | undefined;
  let cursor: Date | null = new Date(now.getTime() - windowMs);
  for (let i = 0; i < 10_000; i++) {
    cursor = cron.nextRun(cursor);
    if (!cursor || cursor.getTime() > now.getTime()) break;
    found = cursor;
  }
  return found;
}

/** One scheduled export the timer should start (or why not). */
export interface ScheduledExportPlan {
  project: DataProjectConfig;
  occurrence: Date;
  instanceId: string;
  /** Set when the run is not started: a run of the project is still going. */
  skipped?: string;
}

/**
 * The scheduled exports due at `now`: per export project with a `schedule`, its latest occurrence
 * within {@link SCHEDULE_CATCH_UP_MS}. The instance id derives from the project and the occurrence, so
 * several timer runs start one export per occurrence; a project with a run still going is skipped.
 */
export function planScheduledExports(
  config: Pick<AppConfig, 'dataProjects'>,
  now: Date,
  isRunning: (environment: string, project: string) => boolean,
): ScheduledExportPlan[] {
  const plans: ScheduledExportPlan[] = [];
  for (const project of config.dataProjects) {
    if (project.direction !== 'export' || project.schedule === undefined) continue;
    const occurrence = latestOccurrence(project.schedule, now, SCHEDULE_CATCH_UP_MS);
    if (!occurrence) continue;
    const instanceId = exportInstanceId({
      environment: project.environment,
      project: project.name,
      request: `schedule:${occurrence.toISOString()}`,
    });
    plans.push({
      project,
      occurrence,
      instanceId,
      ...(isRunning(project.environment, project.name)
        ? { skipped: `an export of ${project.environment}/${project.name} is still running` }
        : {}),
    });
  }
  return plans;
}

/** What `GET /api/exports/{id}` answers. */
export interface ExportJob {
  id: string;
  kind: 'export';
  status: JobStatus;
  stage: ExportStage | undefined;
  executionId: string | undefined;
  environment: string | undefined;
  project: string | undefined;
  createdAt: string | undefined;
  updatedAt: string | undefined;
  foStatus: string | undefined;
  polls: number;
  /** The last `POLL_LOG_LIMIT` status polls (time and F&O status), oldest first. */
  pollLog: PollLogEntry[];
  urlPolls: number;
  errors: JobError[];
  result: ExportResult | undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);
const iso = (v: Date | string | undefined): string | undefined =>
  v === undefined ? undefined : v instanceof Date ? v.toISOString() : String(v);

/** Derives the job JSON of an export from its orchestration status (same statuses as import jobs). */
export function exportJobFromStatus(status: {
  instanceId: string;
  runtimeStatus: string;
  customStatus?: unknown;
  output?: unknown;
  input?: unknown;
  createdTime?: Date | string;
  lastUpdatedTime?: Date | string;
}): ExportJob {
  const custom = (isRecord(status.customStatus) ? status.customStatus : {}) as Partial<ExportCustomStatus>;
  const result =
    isRecord(status.output) && status.output.kind === 'export'
      ? (status.output as unknown as ExportResult)
      : undefined;
  const input = isRecord(status.input) ? status.input : {};
  const errors: JobError[] = result ? [...result.errors] : [];
  const jobStatus = jobStatusOf(status, {
    outcome: result?.status,
    started: custom.stage !== undefined && custom.stage !== 'Starting',
    errors,
    what: 'export',
  });
  return {
    id: status.instanceId,
    kind: 'export',
    status: jobStatus,
    stage: result ? 'Done' : custom.stage,
    executionId: result
      ? result.executionId
      : custom.stage && custom.stage !== 'Starting'
        ? custom.executionId
        : undefined,
    environment:
      result?.environment ?? (typeof input.environment === 'string' ? input.environment : undefined),
    project: result?.project ?? (typeof input.project === 'string' ? input.project : undefined),
    createdAt: iso(status.createdTime),
    updatedAt: iso(status.lastUpdatedTime),
    foStatus: result?.foStatus ?? custom.foStatus,
    polls: result?.polls ?? custom.polls ?? 0,
    pollLog: pollLogOf(result ? result.pollLog : custom.pollLog),
    urlPolls: result?.urlPolls ?? custom.urlPolls ?? 0,
    errors,
    result,
  };
}

/** `{environment}/{project}` of every export still running among the instances created since `since`. */
export async function runningExports(client: DurableClient, since: Date): Promise<Set<string>> {
  const statuses = await client.getStatusBy({
    createdTimeFrom: since,
    runtimeStatus: [
      df.OrchestrationRuntimeStatus.Pending,
      df.OrchestrationRuntimeStatus.Running,
      df.OrchestrationRuntimeStatus.ContinuedAsNew,
      df.OrchestrationRuntimeStatus.Suspended,
    ],
  });
  const running = new Set<string>();
  for (const s of statuses) {
    if (s.name !== EXPORT_ORCHESTRATOR || !ACTIVE_RUNTIME_STATUSES.has(String(s.runtimeStatus))) continue;
    const input = isRecord(s.input) ? s.input : {};
    running.add(`${String(input.environment)}/${String(input.project)}`);
  }
  return running;
}
