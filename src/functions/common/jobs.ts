/**
 * The job API: `GET /api/jobs/{id}` (the live job, from the durable instance store; jobs without an
 * instance — rejected inputs, earlier drain runs — from the job index), `GET /api/jobs` (a page of
 * the job index: imports, exports, recurring export drains and recurring imports, rejected inputs,
 * chains and multi-company exports — their child jobs listed beside them), `POST /api/jobs/{id}/cancel`
 * (imports, batch imports while they collect their files).
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import { findInstanceOf, findStatus } from '../../shared/app/durableClient.js';
import { keyedRoute, problem } from '../../shared/app/http.js';
import { IMPORT_EVENTS, ORCHESTRATORS } from '../../shared/app/names.js';
import { getRuntime } from '../../shared/app/runtime.js';
import { NAME_PATTERN } from '../../shared/config/index.js';
import { InputError } from '../../shared/errors.js';
import {
  ACTIVE_JOB_STATUSES,
  alertInstanceId,
  CANCELABLE_STAGES,
  drainOfRunId,
  CHAIN_INSTANCE_PREFIX,
  EXPORT_INSTANCE_PREFIX,
  IMPORT_INSTANCE_PREFIX,
  JOB_KIND_NAMES,
  JOB_STATUSES,
  jobAlertsOf,
  jobFromStatus,
  jobView,
  MULTI_COMPANY_EXPORT_INSTANCE_PREFIX,
  RECURRING_EXPORT_INSTANCE_PREFIX,
  RECURRING_IMPORT_INSTANCE_PREFIX,
  rerunInstanceId,
  type AnyJob,
  type JobKind,
} from '../../shared/jobs/index.js';
import { MAX_LIST_TOP, printable, type JobListQuery } from '../../shared/storage/index.js';

/** Function names of the job API. */
export const JOB_FUNCTIONS = { get: 'jobGet', list: 'jobList', cancel: 'jobCancel' } as const;

/** Default look-back of `GET /api/jobs` without `since`. */
export const DEFAULT_LIST_DAYS = 7;

/** Kinds of job the job API reads: instance id prefix and orchestrator of each. */
export const JOB_KINDS: readonly { kind: JobKind; prefix: string; orchestrator: string }[] = [
  { kind: 'import', prefix: IMPORT_INSTANCE_PREFIX, orchestrator: ORCHESTRATORS.importPackage },
  { kind: 'export', prefix: EXPORT_INSTANCE_PREFIX, orchestrator: ORCHESTRATORS.exportPackage },
  {
    kind: 'recurringExport',
    prefix: RECURRING_EXPORT_INSTANCE_PREFIX,
    orchestrator: ORCHESTRATORS.recurringExportDrain,
  },
  {
    kind: 'recurringImport',
    prefix: RECURRING_IMPORT_INSTANCE_PREFIX,
    orchestrator: ORCHESTRATORS.recurringImport,
  },
  { kind: 'chain', prefix: CHAIN_INSTANCE_PREFIX, orchestrator: ORCHESTRATORS.importChain },
  {
    kind: 'multiCompanyExport',
    prefix: MULTI_COMPANY_EXPORT_INSTANCE_PREFIX,
    orchestrator: ORCHESTRATORS.multiCompanyExport,
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

/** What a job id may look like (anything else names no job: it never reaches a query). */
export const JOB_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** Where a job was found: its live durable instance (with its orchestration status), or the job index. */
export type FoundJob =
  { from: 'instance'; job: AnyJob; status: DurableOrchestrationStatus } | { from: 'index'; job: AnyJob };

/**
 * Finds job `id`: its durable instance (the live job), else — for a run id of a recurring export
 * drain — the drain's current run when it is that run, else its row in the job index (rejected
 * inputs, earlier drain runs, jobs whose history was purged). Undefined when none knows it.
 */
export async function findJob(client: DurableClient, id: string): Promise<FoundJob | undefined> {
  if (!JOB_ID_PATTERN.test(id)) return undefined;
  if (JOB_KINDS.some((k) => id.startsWith(k.prefix))) {
    const status = await findStatus(client, id, { showInput: true });
    const kind = status && kindOf(status);
    if (status && kind) return { from: 'instance', job: jobView(kind.kind, status), status };
    const drain = drainOfRunId(id);
    if (drain) {
      const current = await findStatus(client, drain, { showInput: true });
      const job = current && kindOf(current) ? jobView('recurringExport', current) : undefined;
      if (current && job?.id === id) return { from: 'instance', job, status: current };
    }
  }
  const listed = await getRuntime().jobIndex.get(id);
  return listed ? { from: 'index', job: listed } : undefined;
}

/** The id a re-run of this job has (or would have), for the kinds that can be re-run. */
export function rerunIdOf(job: Pick<AnyJob, 'id' | 'kind'>): string | undefined {
  return job.kind === 'import' || job.kind === 'export' ? rerunInstanceId(job.kind, job.id) : undefined;
}

/** Handles `GET /api/jobs/{id}`: every kind in {@link JOB_KINDS}, and the jobs only the index knows. */
export async function handleGetJob(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const id = request.params.id ?? '';
  const client = df.getClient(context);
  const found = await findJob(client, id);
  if (!found) return problem(404, 'JOB_NOT_FOUND', `No job "${printable(id)}".`);
  const job: AnyJob = found.job;
  // a finished job re-run since: its re-run exists under the id derived from this job's
  const final = !ACTIVE_JOB_STATUSES.includes(job.status);
  const rerun = !final || job.rerunBy ? undefined : rerunIdOf(job);
  if (rerun && (await findStatus(client, rerun))) job.rerunBy = rerun;
  // whether the alerts about its outcome went out (their instance is named after the job)
  const alert = final ? await findStatus(client, alertInstanceId(job.id), { showInput: true }) : undefined;
  if (alert) job.alerts = jobAlertsOf({ ...alert, runtimeStatus: String(alert.runtimeStatus) });
  return { status: 200, jsonBody: job };
}

/** Default page size of `GET /api/jobs`. */
export const DEFAULT_LIST_TOP = 100;

/**
 * The query of `GET /api/jobs`, as a list query of the job index; or the 400 problem it earns
 * (each parameter validated: the values go into a table query).
 */
export function parseListQuery(
  query: URLSearchParams,
  now: Date,
): { query: JobListQuery; since: Date } | { problem: HttpResponseInit } {
  const bad = (code: string, message: string): { problem: HttpResponseInit } => ({
    problem: problem(400, code, message),
  });
  const list = (name: string): string[] =>
    (query.get(name) ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const statuses = list('status');
  const unknownStatus = statuses.filter((s) => !(JOB_STATUSES as readonly string[]).includes(s));
  if (unknownStatus.length > 0)
    return bad('BAD_STATUS', `Unknown status ${unknownStatus.join(', ')}; use ${JOB_STATUSES.join(', ')}.`);
  const kinds = list('kind');
  const unknownKind = kinds.filter((k) => !(JOB_KIND_NAMES as readonly string[]).includes(k));
  if (unknownKind.length > 0)
    return bad('BAD_KIND', `Unknown kind ${unknownKind.join(', ')}; use ${JOB_KIND_NAMES.join(', ')}.`);
  const topText = query.get('top');
  const top = topText === null ? DEFAULT_LIST_TOP : Number(topText);
  if (!/^\d{1,4}$/.test(topText ?? '1') || !Number.isInteger(top) || top < 1 || top > MAX_LIST_TOP)
    return bad('BAD_TOP', `"top" must be a whole number from 1 to ${MAX_LIST_TOP}.`);
  const time = (name: string): Date | undefined | null => {
    const text = query.get(name);
    if (text === null) return undefined;
    const parsed = new Date(text);
    return text.length <= 40 && !Number.isNaN(parsed.getTime()) ? parsed : null;
  };
  const sinceGiven = time('since');
  if (sinceGiven === null) return bad('BAD_SINCE', '"since" must be an ISO 8601 date/time.');
  const until = time('until');
  if (until === null) return bad('BAD_UNTIL', '"until" must be an ISO 8601 date/time.');
  const since = sinceGiven ?? new Date(now.getTime() - DEFAULT_LIST_DAYS * 86_400_000);
  const names: Record<'environment' | 'project', string | undefined> = {
    environment: query.get('environment') ?? undefined,
    project: query.get('project') ?? undefined,
  };
  for (const [name, value] of Object.entries(names)) {
    if (value !== undefined && !NAME_PATTERN.test(value))
      return bad(`BAD_${name.toUpperCase()}`, `"${name}" must be a name (letters, digits, ".", "_", "-").`);
  }
  const continuation = query.get('continuation') ?? undefined;
  return {
    since,
    query: {
      top,
      since,
      ...(until ? { until } : {}),
      ...(statuses.length ? { statuses } : {}),
      ...(kinds.length ? { kinds } : {}),
      ...(names.environment !== undefined ? { environment: names.environment } : {}),
      ...(names.project !== undefined ? { project: names.project } : {}),
      ...(continuation !== undefined ? { continuation } : {}),
    },
  };
}

/**
 * Handles `GET /api/jobs?top=&continuation=&status=&kind=&environment=&project=&since=&until=`: a
 * page of the job index, newest first (never the durable instance store).
 */
export async function handleListJobs(request: HttpRequest): Promise<HttpResponseInit> {
  const parsed = parseListQuery(request.query, new Date());
  if ('problem' in parsed) return parsed.problem;
  try {
    const page = await getRuntime().jobIndex.list(parsed.query);
    return { status: 200, jsonBody: { ...page, since: parsed.since.toISOString() } };
  } catch (error) {
    if (error instanceof InputError) return problem(400, error.code, error.message);
    throw error;
  }
}

/** Handles `POST /api/jobs/{id}/cancel`: possible until the import was sent to F&O. */
export async function handleCancelJob(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const id = request.params.id ?? '';
  const job = await loadJob(context, id);
  if (!job) return problem(404, 'JOB_NOT_FOUND', `No import job "${id}".`);
  if (!ACTIVE_JOB_STATUSES.includes(job.status)) {
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
