/**
 * The job API: `GET /api/jobs/{id}`, `GET /api/jobs?status=&since=` (imports, exports, recurring
 * export drains and recurring imports),
 * `POST /api/jobs/{id}/cancel` (imports).
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { findInstanceOf, findStatus } from '../../shared/app/durableClient.js';
import { keyedRoute, problem } from '../../shared/app/http.js';
import { IMPORT_EVENTS, ORCHESTRATORS } from '../../shared/app/names.js';
import {
  CANCELABLE_STAGES,
  EXPORT_INSTANCE_PREFIX,
  exportJobFromStatus,
  IMPORT_INSTANCE_PREFIX,
  JOB_STATUSES,
  jobFromStatus,
  RECURRING_EXPORT_INSTANCE_PREFIX,
  RECURRING_IMPORT_INSTANCE_PREFIX,
  recurringExportJobFromStatus,
  recurringImportJobFromStatus,
  type OrchestrationStatusLike,
} from '../../shared/jobs/index.js';

/** Function names of the job API. */
export const JOB_FUNCTIONS = { get: 'jobGet', list: 'jobList', cancel: 'jobCancel' } as const;

/** Default look-back of `GET /api/jobs` without `since`. */
export const DEFAULT_LIST_DAYS = 7;

/** Kinds of job the job API reads and lists: instance id prefix, orchestrator and job JSON. */
export const JOB_KINDS: readonly {
  prefix: string;
  orchestrator: string;
  toJob: (status: OrchestrationStatusLike) => object & { status: string; createdAt: string | undefined };
}[] = [
  { prefix: IMPORT_INSTANCE_PREFIX, orchestrator: ORCHESTRATORS.importPackage, toJob: jobFromStatus },
  { prefix: EXPORT_INSTANCE_PREFIX, orchestrator: ORCHESTRATORS.exportPackage, toJob: exportJobFromStatus },
  {
    prefix: RECURRING_EXPORT_INSTANCE_PREFIX,
    orchestrator: ORCHESTRATORS.recurringExportDrain,
    toJob: recurringExportJobFromStatus,
  },
  {
    prefix: RECURRING_IMPORT_INSTANCE_PREFIX,
    orchestrator: ORCHESTRATORS.recurringImport,
    toJob: recurringImportJobFromStatus,
  },
];

function kindOf(status: { instanceId: string; name: string }): (typeof JOB_KINDS)[number] | undefined {
  return JOB_KINDS.find((k) => status.instanceId.startsWith(k.prefix) && status.name === k.orchestrator);
}

async function loadJob(
  context: InvocationContext,
  id: string,
): Promise<ReturnType<typeof jobFromStatus> | undefined> {
  const status = await findInstanceOf(
    df.getClient(context),
    id,
    { prefix: IMPORT_INSTANCE_PREFIX, orchestrator: ORCHESTRATORS.importPackage },
    { showInput: true },
  );
  return status && jobFromStatus(status);
}

/** Handles `GET /api/jobs/{id}`: every kind in {@link JOB_KINDS}. */
export async function handleGetJob(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const id = request.params.id ?? '';
  const status = JOB_KINDS.some((k) => id.startsWith(k.prefix))
    ? await findStatus(df.getClient(context), id, { showInput: true })
    : undefined;
  const kind = status && kindOf(status);
  return status && kind
    ? { status: 200, jsonBody: kind.toJob(status) }
    : problem(404, 'JOB_NOT_FOUND', `No job "${id}".`);
}

/** Handles `GET /api/jobs?status=&since=`. */
export async function handleListJobs(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const statusFilter = request.query.get('status') ?? undefined;
  const wanted =
    statusFilter
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean) ?? [];
  const unknown = wanted.filter((s) => !(JOB_STATUSES as readonly string[]).includes(s));
  if (unknown.length > 0) {
    return problem(
      400,
      'BAD_STATUS',
      `Unknown status ${unknown.join(', ')}; use ${JOB_STATUSES.join(', ')}.`,
    );
  }
  const sinceText = request.query.get('since');
  const since = sinceText ? new Date(sinceText) : new Date(Date.now() - DEFAULT_LIST_DAYS * 86_400_000);
  if (Number.isNaN(since.getTime()))
    return problem(400, 'BAD_SINCE', '"since" must be an ISO 8601 date/time.');
  const statuses = await df.getClient(context).getStatusBy({ createdTimeFrom: since });
  const jobs = statuses
    .map((s) => kindOf(s)?.toJob(s))
    .filter((j) => j !== undefined)
    .filter((j) => wanted.length === 0 || wanted.includes(j.status))
    .sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? ''));
  return { status: 200, jsonBody: { jobs, since: since.toISOString() } };
}

/** Handles `POST /api/jobs/{id}/cancel`: possible until the import was sent to F&O. */
export async function handleCancelJob(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const id = request.params.id ?? '';
  const job = await loadJob(context, id);
  if (!job) return problem(404, 'JOB_NOT_FOUND', `No import job "${id}".`);
  if (job.status !== 'Pending' && job.status !== 'Running') {
    return problem(409, 'JOB_FINISHED', `Job ${id} already finished (${job.status}).`);
  }
  if (job.stage !== undefined && !CANCELABLE_STAGES.includes(job.stage)) {
    return problem(
      409,
      'JOB_ALREADY_STARTED',
      `Job ${id} was already sent to F&O (stage ${job.stage}); F&O has no API to cancel a running import, so the job runs to its end.`,
    );
  }
  await df.getClient(context).raiseEvent(id, IMPORT_EVENTS.cancel, { requestedAt: new Date().toISOString() });
  return { status: 202, jsonBody: { id, status: 'Canceling' } };
}

keyedRoute(JOB_FUNCTIONS.get, 'GET', 'jobs/{id}', handleGetJob);
keyedRoute(JOB_FUNCTIONS.list, 'GET', 'jobs', handleListJobs);
keyedRoute(JOB_FUNCTIONS.cancel, 'POST', 'jobs/{id}/cancel', handleCancelJob);
