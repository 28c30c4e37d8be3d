/**
 * `POST /api/reindex`: rebuilds the job index, one step per call (`dmf admin reindex` loops), for
 * deployments that ran before the index existed and to repair index writes that failed. The first
 * step lists the instances that never wrote a result (still running, crashed or terminated) and
 * the latest run of each recurring export drain; each later step reads one page of result JSONs
 * (and rejection records, listed as `Rejected` jobs) from the results container — the final word
 * on every finished job, so they are read last.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import { findStatus } from '../../shared/app/durableClient.js';
import { keyedRoute, problem } from '../../shared/app/http.js';
import { getRuntime, invocationLogger, type Runtime } from '../../shared/app/runtime.js';
import {
  CHAIN_INSTANCE_PREFIX,
  EXPORT_INSTANCE_PREFIX,
  IMPORT_INSTANCE_PREFIX,
  jobView,
  listedTime,
  MULTI_COMPANY_EXPORT_INSTANCE_PREFIX,
  RECURRING_IMPORT_INSTANCE_PREFIX,
  recurringExportInstanceId,
  rejectedJob,
  type AnyJob,
  type Rejection,
  type JobKind,
  type OrchestrationStatusLike,
} from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import { isRecord } from '../../shared/util.js';
import { JOB_KINDS } from './jobs.js';

/** Function name of the reindex route. */
export const REINDEX_FUNCTION = 'jobsReindex';
/** Result JSONs read per step (each a blob download: a step stays well inside the HTTP timeout). */
export const REINDEX_PAGE_SIZE = 200;

/** Runtime statuses of instances that have no result JSON to be listed from. */
const WITHOUT_RESULT = ['Pending', 'Running', 'ContinuedAsNew', 'Suspended', 'Failed', 'Terminated'];

/** What one step did, and where the next one starts (absent after the last). */
export interface ReindexStep {
  phase: 'instances' | 'results';
  indexed: number;
  skipped: number;
  continuation?: string;
}

const ContinuationSchema = z.strictObject({
  v: z.literal(1),
  phase: z.literal('results'),
  marker: z.string().max(4096).optional(),
});

function encode(marker: string | undefined): string {
  return Buffer.from(JSON.stringify({ v: 1, phase: 'results', ...(marker ? { marker } : {}) })).toString(
    'base64url',
  );
}

function decode(text: string): z.infer<typeof ContinuationSchema> | undefined {
  if (text.length > 8192 || !/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  try {
    const parsed = ContinuationSchema.safeParse(JSON.parse(Buffer.from(text, 'base64url').toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** A recurring export drain run is listed only when it handled messages (as the drain does). */
function handledMessages(job: AnyJob): boolean {
  return job.kind !== 'recurringExport' || (job.messages?.processed ?? 0) > 0;
}

async function put(
  runtime: Runtime,
  kind: JobKind,
  status: OrchestrationStatusLike,
): Promise<'indexed' | 'skipped'> {
  const job = jobView(kind, status);
  const at = listedTime(status);
  if (at === undefined || !handledMessages(job)) return 'skipped';
  await runtime.jobIndex.put(job, at);
  return 'indexed';
}

/** The first step: instances without a result, and each drain's latest run. */
export async function reindexInstances(runtime: Runtime, client: DurableClient): Promise<ReindexStep> {
  const step: ReindexStep = { phase: 'instances', indexed: 0, skipped: 0, continuation: encode(undefined) };
  await runtime.jobIndex.ensureTables();
  const statuses = await client.getStatusBy({
    runtimeStatus: WITHOUT_RESULT as df.OrchestrationRuntimeStatus[],
  });
  const drains = runtime.config.recurringActivities
    .filter((a) => a.direction === 'export')
    .map((a) => recurringExportInstanceId(a.environment, a.id));
  for (const id of drains) {
    const status = await findStatus(client, id, { showInput: true });
    if (status?.runtimeStatus === df.OrchestrationRuntimeStatus.Completed) statuses.push(status);
  }
  for (const status of statuses) {
    const kind = JOB_KINDS.find(
      (k) => status.instanceId.startsWith(k.prefix) && status.name === k.orchestrator,
    );
    const outcome = kind ? await put(runtime, kind.kind, status) : 'skipped';
    step[outcome === 'indexed' ? 'indexed' : 'skipped']++;
  }
  return step;
}

const KIND_BY_PREFIX: readonly [string, JobKind][] = [
  [IMPORT_INSTANCE_PREFIX, 'import'],
  [EXPORT_INSTANCE_PREFIX, 'export'],
  [RECURRING_IMPORT_INSTANCE_PREFIX, 'recurringImport'],
  [CHAIN_INSTANCE_PREFIX, 'chain'],
  [MULTI_COMPANY_EXPORT_INSTANCE_PREFIX, 'multiCompanyExport'],
];

/**
 * Lists a rejection record (`rejected/…/{id}.json`) as its `Rejected` job. A record written before
 * rejections were jobs names no kind or source: a refused drop's source is its path (left in place).
 * @returns false when the blob is no rejection record.
 */
async function putRejection(runtime: Runtime, name: string): Promise<boolean> {
  const { results } = runtime.containers;
  let record: unknown;
  try {
    record = JSON.parse((await results.getBlobClient(name).downloadToBuffer()).toString('utf8'));
  } catch {
    return false;
  }
  if (!isRecord(record)) return false;
  const { id, trigger, subject, reason, code, rejectedAt } = record;
  if (![id, trigger, subject, reason, code, rejectedAt].every((v) => typeof v === 'string')) return false;
  const rejection = record as unknown as Rejection;
  const container = isRecord(rejection.details) ? rejection.details.container : undefined;
  const legacySource =
    rejection.source === undefined && rejection.trigger === 'blob' && typeof container === 'string'
      ? { source: `${container}/${rejection.subject.replace(/^recurring\//, '')}` }
      : {};
  await runtime.jobIndex.put(
    rejectedJob({ ...rejection, ...legacySource }, `${results.containerName}/${name}`),
    rejection.rejectedAt,
  );
  return true;
}

/** A later step: one page of result JSONs (`…/{job id}/result.json`) from `marker` on. */
export async function reindexResults(
  runtime: Runtime,
  marker: string | undefined,
  logger: Pick<Logger, 'warn'>,
): Promise<ReindexStep> {
  const step: ReindexStep = { phase: 'results', indexed: 0, skipped: 0 };
  const { results } = runtime.containers;
  const page = (
    await results
      .listBlobsFlat()
      .byPage({ maxPageSize: REINDEX_PAGE_SIZE, ...(marker ? { continuationToken: marker } : {}) })
      .next()
  ).value as { segment?: { blobItems?: { name: string }[] }; continuationToken?: string } | undefined;
  for (const blob of page?.segment?.blobItems ?? []) {
    if (blob.name.startsWith('rejected/') && blob.name.endsWith('.json')) {
      step[(await putRejection(runtime, blob.name)) ? 'indexed' : 'skipped']++;
      continue;
    }
    if (!blob.name.endsWith('/result.json')) continue;
    let output: unknown;
    try {
      output = JSON.parse((await results.getBlobClient(blob.name).downloadToBuffer()).toString('utf8'));
    } catch {
      output = undefined;
    }
    const id = isRecord(output) && typeof output.id === 'string' ? output.id : '';
    const kind = KIND_BY_PREFIX.find(([prefix]) => id.startsWith(prefix))?.[1];
    if (!kind || !isRecord(output) || typeof output.status !== 'string') {
      logger.warn(`Reindex: ${results.containerName}/${blob.name} is no result JSON of a job; skipped`);
      step.skipped++;
      continue;
    }
    const outcome = await put(runtime, kind, {
      instanceId: id,
      runtimeStatus: 'Completed',
      output,
    });
    step[outcome === 'indexed' ? 'indexed' : 'skipped']++;
  }
  if (page?.continuationToken) step.continuation = encode(page.continuationToken);
  return step;
}

/** Handles `POST /api/reindex?continuation=`. */
export async function handleReindex(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const runtime = getRuntime();
  const text = request.query.get('continuation');
  if (text === null) {
    return { status: 200, jsonBody: await reindexInstances(runtime, df.getClient(context)) };
  }
  const continuation = decode(text);
  if (!continuation)
    return problem(400, 'BAD_CONTINUATION', '"continuation" is not a continuation this API answered.');
  return {
    status: 200,
    jsonBody: await reindexResults(runtime, continuation.marker, invocationLogger(context)),
  };
}

keyedRoute(REINDEX_FUNCTION, 'POST', 'reindex', handleReindex);
