/**
 * `POST /api/jobs/{id}/rerun`: starts a finished (or rejected) job again from the same source — an
 * import from the copy of its file kept in the archive (or, for a rejected drop or command, from the
 * blob it named, left in place), an export from the same data project and legal entity. The new job
 * has the id derived from the old one (`rerunInstanceId`), so two re-runs of one job, concurrent or
 * repeated, start one job; the old job then shows `rerunBy`, the new one `rerunOf`.
 */
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import { findStatus } from '../../shared/app/durableClient.js';
import { keyedRoute, problem } from '../../shared/app/http.js';
import { getRuntime, invocationLogger, type Runtime } from '../../shared/app/runtime.js';
import { InputError } from '../../shared/errors.js';
import {
  ACTIVE_JOB_STATUSES,
  executionIdFor,
  ExportInputSchema,
  ImportInputSchema,
  jobView,
  recordOf,
  rerunInstanceId,
  type AnyJob,
  type ExportInput,
  type ImportInput,
} from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import {
  blobExists,
  copyBlob,
  inboundPath,
  printable,
  recordSafely,
  stagingBlobPath,
} from '../../shared/storage/index.js';
import { stringOf } from '../../shared/util.js';
import { findJob } from '../common/jobs.js';
import { plannedExport, startExportJob } from '../exports/starting.js';
import { jobLinks } from '../imports/http.js';
import { importProjectOf, inboundBlobImport, referencedImport, startImport } from '../imports/starting.js';

/** Function name of the re-run route. */
export const RERUN_FUNCTION = 'jobRerun';

/** Why a job cannot be re-run: an HTTP problem (409 with a reason a person can act on). */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const refuse = (code: string, message: string): never => {
  throw new Refusal(409, code, message);
};

/** A planned re-run: the job to start and how. */
type PlannedRerun =
  | {
      kind: 'import';
      input: ImportInput;
      beforeStart?: () => Promise<void>;
      /** The copy `beforeStart` makes: deleted again when another request started the re-run first. */
      staged?: string;
    }
  | { kind: 'export'; input: ExportInput };

/** `{container}/{path}` split; undefined when it is not a plain blob reference (escaped, cut). */
function blobRef(ref: string | undefined): { container: string; path: string } | undefined {
  if (!ref || ref.includes('\\u{') || ref.endsWith('…')) return undefined;
  const slash = ref.indexOf('/');
  return slash > 0 && slash < ref.length - 1
    ? { container: ref.slice(0, slash), path: ref.slice(slash + 1) }
    : undefined;
}

/** The orchestration input of the old job, when its instance is still known (not purged). */
function oldInput<T>(
  status: DurableOrchestrationStatus | undefined,
  parse: (v: unknown) => T | undefined,
): T | undefined {
  return status ? parse(status.input) : undefined;
}

/** Re-run of a finished import: its archived file, copied (the archive keeps the old job's copy). */
async function importRerun(
  runtime: Runtime,
  job: AnyJob,
  status: DurableOrchestrationStatus | undefined,
  newId: string,
  now: Date,
): Promise<PlannedRerun> {
  const result = recordOf(job.result);
  const archived = blobRef(stringOf(result.archivedTo));
  const fileName = stringOf(result.file) ?? ('file' in job ? job.file : undefined);
  if (!archived || !fileName || archived.container !== runtime.containers.archive.containerName)
    return refuse(
      'SOURCE_GONE',
      `Job ${job.id} kept no copy of its file in the archive (it could not be moved there): drop the file again.`,
    );
  if (!(await blobExists(runtime.containers.archive, archived.path)))
    return refuse(
      'SOURCE_GONE',
      `The archived file of job ${job.id} (${printable(`${archived.container}/${archived.path}`, 300)}) is gone (the storage lifecycle deletes old archives): drop the file again.`,
    );
  const environment = job.environment ?? '';
  const { environment: env, project } = configured(runtime, environment, job.project ?? '');
  const before = oldInput(status, (v) => ImportInputSchema.safeParse(v).data);
  const legalEntity = ('legalEntity' in job ? job.legalEntity : undefined) ?? project.legalEntity;
  // a copy of this request's own: concurrent requests never write one blob (only one of them starts)
  const staged = stagingBlobPath(newId, `${randomUUID().slice(0, 8)}-${fileName}`);
  const archive = runtime.containers.archive;
  return {
    kind: 'import',
    input: {
      source: { kind: 'blob', container: archive.containerName, path: staged },
      logicalPath:
        before?.logicalPath ??
        inboundPath({
          environment: env.name,
          project: project.name,
          ...(legalEntity !== project.legalEntity ? { legalEntity } : {}),
          fileName,
        }),
      fileName,
      environment: env.name,
      project: project.name,
      definitionGroupId: project.definitionGroupId,
      legalEntity,
      execute: before?.execute ?? project.execute,
      overwrite: before?.overwrite ?? project.overwrite,
      trigger: 'http',
      ...(before?.correlationId ? { correlationId: before.correlationId } : {}),
      requestedAt: now.toISOString(),
      rerunOf: job.id,
    },
    // a copy: the old job's archived file stays where its result says
    beforeStart: async () => {
      await copyBlob({ container: archive, path: archived.path }, { container: archive, path: staged });
    },
    staged,
  };
}

/** The configured environment and import project of a job, or a refusal saying what changed. */
function configured(
  runtime: Runtime,
  environment: string,
  project: string,
): ReturnType<typeof importProjectOf> {
  return asConfiguredNow(() => importProjectOf(runtime.config, environment, project));
}

/** `plan()`, or the refusal saying the job cannot run as configured now (its `InputError`). */
function asConfiguredNow<T>(plan: () => T): T {
  try {
    return plan();
  } catch (error) {
    if (error instanceof InputError)
      return refuse('NOT_CONFIGURED', `The job cannot run again as it is configured now: ${error.message}`);
    throw error;
  }
}

/** Re-run of a rejected import: planned again from the blob it named (left in place), with today's configuration. */
async function rejectedImportRerun(
  runtime: Runtime,
  job: AnyJob,
  newId: string,
  now: Date,
): Promise<PlannedRerun> {
  const result = recordOf(job.result);
  const source = blobRef(stringOf(result.source));
  if (!source)
    return refuse(
      'SOURCE_GONE',
      `Rejected job ${job.id} named no stored file the app can take again (a command without "blobPath", or a url): send it again.`,
    );
  const again = (error: unknown): never => {
    if (error instanceof InputError) return refuse('STILL_REJECTED', `Still rejected: ${error.message}`);
    throw error;
  };
  if (result.trigger === 'blob') {
    const inbound = runtime.containers.inbound.containerName;
    if (source.container !== inbound)
      return refuse('NOT_RERUNNABLE', `Rejected job ${job.id} is no import drop: drop the file again.`);
    let etag: string | undefined;
    try {
      etag = (await runtime.containers.inbound.getBlobClient(source.path).getProperties()).etag;
    } catch {
      etag = undefined;
    }
    if (etag === undefined)
      return refuse(
        'SOURCE_GONE',
        `The file of rejected job ${job.id} is no longer in ${printable(inbound)}: drop it again.`,
      );
    let planned;
    try {
      planned = inboundBlobImport(
        runtime.config,
        { container: inbound, path: source.path, etag: etag.replace(/"/g, '') },
        { trigger: 'blob', now },
      );
    } catch (error) {
      return again(error);
    }
    return { kind: 'import', input: { ...planned.input, rerunOf: job.id } };
  }
  let planned;
  try {
    planned = await referencedImport(
      runtime,
      {
        environment: job.environment ?? '',
        project: job.project ?? '',
        ...('legalEntity' in job && job.legalEntity ? { legalEntity: job.legalEntity } : {}),
        blobPath: `${source.container}/${source.path}`,
        requestId: newId,
      },
      { trigger: 'serviceBus', now },
    );
  } catch (error) {
    return again(error);
  }
  if (planned.kind === 'finished')
    return refuse(
      'SOURCE_GONE',
      `The file of rejected job ${job.id} was imported since by job ${planned.instanceId} (${planned.status}): re-run that job instead.`,
    );
  return { kind: 'import', input: { ...planned.input, rerunOf: job.id } };
}

/** Re-run of an export: the same data project, legal entity and options, as configured now. */
function exportRerun(
  runtime: Runtime,
  job: AnyJob,
  status: DurableOrchestrationStatus | undefined,
  newId: string,
  now: Date,
): PlannedRerun {
  const before = oldInput(status, (v) => ExportInputSchema.safeParse(v).data);
  const result = recordOf(job.result);
  const legalEntity = before?.legalEntity ?? stringOf(result.legalEntity);
  const planned = asConfiguredNow(() =>
    plannedExport(
      runtime.config,
      {
        environment: job.environment ?? '',
        project: job.project ?? '',
        requestId: newId,
        ...(legalEntity ? { legalEntityId: legalEntity } : {}),
        ...(before ? { reExecute: before.reExecute, unpack: before.unpack } : {}),
        ...(before?.correlationId ? { correlationId: before.correlationId } : {}),
      },
      { trigger: 'http', now },
    ),
  );
  return { kind: 'export', input: { ...planned.input, rerunOf: job.id } };
}

/** Plans the re-run of `job` (or refuses it with a reason). */
async function planRerun(
  runtime: Runtime,
  job: AnyJob,
  status: DurableOrchestrationStatus | undefined,
  newId: string,
  now: Date,
): Promise<PlannedRerun> {
  if (ACTIVE_JOB_STATUSES.includes(job.status))
    return refuse(
      'JOB_RUNNING',
      `Job ${job.id} is still ${job.status}: a job is re-run once it has ended (cancel it first, if it has not reached F&O).`,
    );
  if (job.kind === 'import')
    return job.status === 'Rejected'
      ? rejectedImportRerun(runtime, job, newId, now)
      : importRerun(runtime, job, status, newId, now);
  if (job.kind === 'export' && job.status !== 'Rejected')
    return exportRerun(runtime, job, status, newId, now);
  return refuse(
    'NOT_RERUNNABLE',
    job.kind === 'export'
      ? `Rejected export command ${job.id} started nothing: send the command again.`
      : `A ${job.kind === 'recurringImport' ? 'recurring import' : 'recurring export drain'} is not re-run: ${job.kind === 'recurringImport' ? 'drop the file again' : 'the next run drains the queue'}.`,
  );
}

/** The job JSON of the re-run just started (as the job API shows it at its start). */
function startedJob(planned: PlannedRerun, id: string): AnyJob {
  const customStatus =
    planned.kind === 'import'
      ? { stage: 'Preparing', executionId: executionIdFor(id), polls: 0 }
      : { stage: 'Starting', executionId: executionIdFor(id), polls: 0, urlPolls: 0 };
  return jobView(planned.kind, {
    instanceId: id,
    runtimeStatus: 'Pending',
    input: planned.input,
    customStatus,
    createdTime: planned.input.requestedAt,
    lastUpdatedTime: new Date(),
  });
}

/** Starts the planned re-run under `newId`; false when another request started it first. */
async function startRerun(
  runtime: Runtime,
  client: DurableClient,
  planned: PlannedRerun,
  newId: string,
): Promise<boolean> {
  if (planned.kind === 'export') return (await startExportJob(client, newId, planned.input)).started;
  const outcome = await startImport(client, newId, planned.input, {
    ...(planned.beforeStart ? { beforeStart: planned.beforeStart } : {}),
  });
  if (!outcome.started && planned.staged) {
    // the other request's job imports its own copy: this one is not needed
    await runtime.containers.archive.deleteBlob(planned.staged).catch(() => undefined);
  }
  return outcome.started;
}

/** The answer naming the re-run (new or found). */
function answer(
  request: HttpRequest,
  job: AnyJob & { rerunOf?: string },
  started: boolean,
  rerunOf: string,
): HttpResponseInit {
  const links = jobLinks(request, job.id);
  return {
    status: started ? 202 : 200,
    headers: { Location: links.statusUrl },
    jsonBody: { ...job, rerunOf, started, ...links },
  };
}

/**
 * Handles `POST /api/jobs/{id}/rerun`: 202 with the new job's JSON (`id`, `rerunOf`, `started:
 * true`); 200 with it when the job was re-run already (`started: false`); 404 for an unknown job;
 * 409 with a reason when it still runs, its source is gone, it cannot run as configured now, or its
 * kind is not re-run.
 */
export async function handleRerun(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const runtime = getRuntime();
  const logger: Logger = invocationLogger(context);
  const client = df.getClient(context);
  const id = request.params.id ?? '';
  const found = await findJob(client, id);
  if (!found) return problem(404, 'JOB_NOT_FOUND', `No job "${printable(id)}".`);
  const job = found.job;
  const newId =
    job.kind === 'import' || job.kind === 'export' ? rerunInstanceId(job.kind, job.id) : undefined;
  if (newId) {
    // re-run already: answer that job (a repeated or concurrent request starts nothing)
    const existing = await findStatus(client, newId, { showInput: true });
    if (existing)
      return answer(request, jobView(job.kind === 'export' ? 'export' : 'import', existing), false, job.id);
  }
  let planned: PlannedRerun;
  try {
    planned = await planRerun(
      runtime,
      job,
      found.from === 'instance' ? found.status : undefined,
      newId ?? '',
      new Date(),
    );
  } catch (error) {
    if (error instanceof Refusal) return problem(error.status, error.code, error.message);
    throw error;
  }
  const started = await startRerun(runtime, client, planned, newId!);
  await recordSafely(logger, `rerunBy of ${job.id}`, () => runtime.jobIndex.markRerun(job.id, newId!));
  logger.info(`${started ? 'Started' : 'Found'} re-run ${newId!} of job ${job.id}`);
  const shown = started
    ? startedJob(planned, newId!)
    : ((await findJob(client, newId!))?.job ?? startedJob(planned, newId!));
  return answer(request, shown, started, job.id);
}

keyedRoute(RERUN_FUNCTION, 'POST', 'jobs/{id}/rerun', handleRerun);
