/**
 * The use cases behind the export triggers: resolve a data project into an `exportPackage` input,
 * start it under a deterministic instance id (never twice) and plan scheduled runs.
 */
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import { startOnce } from '../../shared/app/durableClient.js';
import { ORCHESTRATORS } from '../../shared/app/names.js';
import { getRuntime } from '../../shared/app/runtime.js';
import {
  legalEntitySchema,
  NAME_PATTERN,
  type AppConfig,
  type DataProjectConfig,
} from '../../shared/config/index.js';
import { InputError } from '../../shared/errors.js';
import {
  companyExportInstanceId,
  executionIdFor,
  exportInstanceId,
  multiCompanyExportInstanceId,
  type ExportInput,
  type MultiCompanyExportInput,
  type ParentCustomStatus,
} from '../../shared/jobs/index.js';
import { findDataProject, recordJob, type JobIndex } from '../../shared/storage/index.js';
import { latestOccurrence, SCHEDULE_CATCH_UP_MS } from '../common/schedules.js';

/** Options of an export request (HTTP body, command). */
export const ExportRequestOptionsSchema = z.strictObject({
  /** Legal entity; default the project's. */
  legalEntityId: legalEntitySchema.optional(),
  /** Several legal entities: one export per company, grouped (default the project's `legalEntities`). */
  legalEntities: z
    .array(legalEntitySchema)
    .min(1)
    .max(50)
    .refine(
      (v) => new Set(v.map((e) => e.toUpperCase())).size === v.length,
      'must not name a legal entity twice',
    )
    .optional(),
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

/** An export request as the triggers resolve it. */
export type ExportRequest = {
  environment: string;
  project: string;
  requestId: string;
  scheduledFor?: string;
} & ExportRequestOptions;

/** The configured environment and export data project a request names; throws `InputError` otherwise. */
function exportProjectOf(
  config: Pick<AppConfig, 'environments' | 'dataProjects'>,
  request: { environment: string; project: string },
): { environment: AppConfig['environments'][number]; project: DataProjectConfig } {
  const environment = config.environments.find((e) => e.name === request.environment);
  if (!environment) {
    throw new InputError(`Environment "${request.environment}" is not configured.`, {
      code: 'UNKNOWN_ENVIRONMENT',
    });
  }
  const project = findDataProject(config, environment.name, 'export', request.project);
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
  return { environment, project };
}

/** Resolves an export request against the configuration; throws `InputError` with an actionable sentence. */
export function plannedExport(
  config: Pick<AppConfig, 'environments' | 'dataProjects'>,
  request: ExportRequest,
  options: { trigger: ExportInput['trigger']; now: Date },
): { instanceId: string; input: ExportInput } {
  const { environment, project } = exportProjectOf(config, request);
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

/** An export request resolved: one export, or one per legal entity (grouped under one job). */
export type PlannedExportJob =
  | { kind: 'export'; instanceId: string; input: ExportInput }
  | { kind: 'multiCompanyExport'; instanceId: string; input: MultiCompanyExportInput };

/**
 * Resolves an export request: a multi-company export when it names `legalEntities`, or names no
 * legal entity and the project has `legalEntities`; else one export ({@link plannedExport}).
 */
export function plannedExportJob(
  config: Pick<AppConfig, 'environments' | 'dataProjects'>,
  request: ExportRequest,
  options: { trigger: ExportInput['trigger']; now: Date },
): PlannedExportJob {
  if (request.legalEntityId !== undefined && request.legalEntities !== undefined) {
    throw new InputError('Give "legalEntityId" or "legalEntities", not both.', { code: 'BODY_INVALID' });
  }
  const { environment, project } = exportProjectOf(config, request);
  const legalEntities =
    request.legalEntities ?? (request.legalEntityId === undefined ? project.legalEntities : undefined);
  const single = plannedExport(config, request, options);
  if (legalEntities === undefined) return { kind: 'export', ...single };
  // the same export, for several companies
  const { legalEntity: _one, legalEntityFolder: _folder, parentId: _parent, ...shared } = single.input;
  return {
    kind: 'multiCompanyExport',
    instanceId: multiCompanyExportInstanceId({
      environment: environment.name,
      project: project.name,
      request: request.requestId,
    }),
    input: { ...shared, legalEntities: [...legalEntities] },
  };
}

/**
 * Starts a planned export job unless its instance exists (any state): an `exportPackage`, or a
 * `multiCompanyExport` (listed in the job index at once, its companies Pending).
 */
export async function startPlannedExport(
  client: DurableClient,
  planned: PlannedExportJob,
): Promise<{ instanceId: string; started: boolean }> {
  if (planned.kind === 'export') return startExportJob(client, planned.instanceId, planned.input);
  const { instanceId, input } = planned;
  const started = await startOnce(client, ORCHESTRATORS.multiCompanyExport, instanceId, input);
  if (started === 'started') {
    const { jobIndex, logger } = getRuntime();
    const customStatus: ParentCustomStatus = {
      stage: 'Running',
      children: input.legalEntities.map((legalEntity) => ({
        id: companyExportInstanceId(instanceId, legalEntity),
        status: 'Pending',
        legalEntity,
      })),
    };
    await recordJob(
      jobIndex,
      logger,
      'multiCompanyExport',
      {
        instanceId,
        runtimeStatus: 'Pending',
        input,
        customStatus,
        createdTime: input.requestedAt,
        lastUpdatedTime: new Date(),
      },
      { insertOnly: true },
    );
  }
  return { instanceId, started: started === 'started' };
}

/** Starts `exportPackage` under `instanceId` unless that instance exists (any state); lists it in the job index. */
export async function startExportJob(
  client: DurableClient,
  instanceId: string,
  input: ExportInput,
): Promise<{ instanceId: string; started: boolean }> {
  const started = await startOnce(client, ORCHESTRATORS.exportPackage, instanceId, input);
  if (started === 'started') {
    const { jobIndex, logger } = getRuntime();
    await recordJob(
      jobIndex,
      logger,
      'export',
      {
        instanceId,
        runtimeStatus: 'Pending',
        input,
        customStatus: { stage: 'Starting', executionId: executionIdFor(instanceId), polls: 0, urlPolls: 0 },
        createdTime: input.requestedAt,
        lastUpdatedTime: new Date(),
      },
      { insertOnly: true },
    );
  }
  return { instanceId, started: started === 'started' };
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
    const parts = {
      environment: project.environment,
      project: project.name,
      request: `schedule:${occurrence.toISOString()}`,
    };
    // as plannedExportJob names it: a project with legalEntities runs one export per company
    const instanceId = project.legalEntities ? multiCompanyExportInstanceId(parts) : exportInstanceId(parts);
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

/**
 * `{environment}/{project}` of every export still running (Pending or Running) among those
 * requested since `since`, from the job index: a key range of the last hours, filtered on the
 * service by kind and status.
 */
export async function runningExports(index: JobIndex, since: Date): Promise<Set<string>> {
  const running = new Set<string>();
  let continuation: string | undefined;
  do {
    const page = await index.list({
      top: 1000,
      since,
      kinds: ['export', 'multiCompanyExport'],
      statuses: ['Pending', 'Running'],
      ...(continuation ? { continuation } : {}),
    });
    for (const job of page.jobs) running.add(`${String(job.environment)}/${String(job.project)}`);
    continuation = page.continuation;
  } while (continuation);
  return running;
}
