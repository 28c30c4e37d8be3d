/**
 * `GET /api/jobs/{id}/files` lists the files a job's result names (result JSON, copied F&O error
 * files, an export's package); `GET /api/jobs/{id}/files/{name}` answers one of them. Same key as
 * the job API. Only blobs the job's own result names are served, so the route cannot be used to
 * read other blobs of the storage account.
 */
import { Readable } from 'node:stream';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { jobFiles, type JobFile } from '../../dashboard/files.js';
import { findStatus } from '../../shared/app/durableClient.js';
import { keyedRoute, problem } from '../../shared/app/http.js';
import { getRuntime } from '../../shared/app/runtime.js';
import { isRecord } from '../../shared/util.js';
import { handleGetJob } from './jobs.js';

/** Function name of the job files route. */
export const JOB_FILES_FUNCTION = 'jobFiles';

/** Content types by file extension (anything else is `application/octet-stream`). */
export const FILE_CONTENT_TYPES: Readonly<Record<string, string>> = {
  json: 'application/json; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  xml: 'application/xml',
  zip: 'application/zip',
};

function contentTypeOf(name: string): string {
  const ext = /\.([a-z0-9]+)$/i.exec(name)?.[1]?.toLowerCase() ?? '';
  return FILE_CONTENT_TYPES[ext] ?? 'application/octet-stream';
}

/** The app's own containers: a result naming any other container is not served. */
function appContainers(): Set<string> {
  const runtime = getRuntime();
  const names = Object.values(runtime.config.storage.containers as Record<string, unknown>).filter(
    (v): v is string => typeof v === 'string',
  );
  return new Set([...names, ...Object.values(runtime.containers).map((c) => c.containerName)]);
}

/**
 * The job as the job API answers it; for a job kind the job API does not serve (yet), the
 * orchestration's output is its result (exports and recurring imports return their result JSON).
 */
async function loadJob(
  request: HttpRequest,
  context: InvocationContext,
): Promise<{ id: string; result?: unknown } | undefined> {
  const answer = await handleGetJob(request, context);
  if (answer.status === 200) return answer.jsonBody as { id: string; result?: unknown };
  const id = request.params.id ?? '';
  if (!id || id.startsWith('@')) return undefined;
  const status = await findStatus(df.getClient(context), id);
  const output: unknown = status?.output;
  return isRecord(output) && output.id === id ? { id, result: output } : undefined;
}

/** Handles `GET /api/jobs/{id}/files[/{name}]`. */
export async function handleJobFiles(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const job = await loadJob(request, context);
  if (!job) return problem(404, 'JOB_NOT_FOUND', `No job "${request.params.id}".`);
  const allowed = appContainers();
  const files = jobFiles(job.result).filter((f) => allowed.has(f.container));
  const origin = new URL(request.url);
  const base = `${origin.origin}${origin.pathname.replace(/\/files(\/.*)?$/, '/files')}`;
  const name = request.params.name;
  if (!name) {
    return {
      status: 200,
      jsonBody: {
        files: files.map((f: JobFile) => ({ ...f, url: `${base}/${encodeURIComponent(f.name)}` })),
      },
    };
  }
  const file = files.find((f) => f.name === name);
  if (!file) return problem(404, 'FILE_NOT_FOUND', `Job ${job.id} has no file "${name}".`);
  const blob = getRuntime().blobService.getContainerClient(file.container).getBlobClient(file.path);
  // streamed to the caller (a staging error file of a large import can be large): never buffered
  let body: Readable;
  try {
    const download = await blob.download();
    body = download.readableStreamBody as Readable;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) {
      return problem(404, 'FILE_GONE', `The file "${name}" of job ${job.id} is no longer in storage.`);
    }
    throw error;
  }
  return {
    status: 200,
    headers: {
      'content-type': contentTypeOf(file.name),
      'content-disposition': `attachment; filename="${file.name.replace(/["\\\r\n]/g, '_')}"`,
      'x-content-type-options': 'nosniff',
      'cache-control': 'private, no-store',
    },
    body: Readable.toWeb(body) as ReadableStream<Uint8Array>,
  };
}

keyedRoute(JOB_FILES_FUNCTION, 'GET', 'jobs/{id}/files/{name?}', handleJobFiles);
