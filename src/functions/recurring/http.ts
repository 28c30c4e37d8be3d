/**
 * `POST /api/recurring/imports` (enqueue a file: uploaded in the body, or already in the
 * recurring-inbound container) and `GET /api/recurring/imports/{id}`.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { findInstanceOf } from '../../shared/app/durableClient.js';
import {
  bodyTooLarge,
  ByteCap,
  declaredTooLarge,
  keyedRoute,
  MAX_UPLOAD_BODY_BYTES,
  nonEmptyBody,
  problem,
} from '../../shared/app/http.js';
import { ORCHESTRATORS } from '../../shared/app/names.js';
import { getRuntime, invocationLogger } from '../../shared/app/runtime.js';
import { RECURRING_IMPORT_INSTANCE_PREFIX } from '../../shared/jobs/index.js';
import { InputError } from '../../shared/errors.js';
import {
  blobPath,
  BODY_UPLOAD_CONCURRENCY,
  storageError,
  uploadStreamTo,
} from '../../shared/storage/index.js';
import { unquoteEtag } from '../../shared/util.js';
import { resolveRecurringPath, startForBlob } from './starting.js';

/** Function names of the recurring import HTTP API. */
export const RECURRING_HTTP_FUNCTIONS = {
  importStart: 'recurringImportStart',
  importGet: 'recurringImportGet',
} as const;

/**
 * Handles `POST /api/recurring/imports?path={environment}/{activityId}/[…/]{file}`: a non-empty body
 * is stored at that path of the recurring-inbound container first; then the blob is enqueued.
 */
export async function handleStartRecurringImport(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const runtime = getRuntime();
  const path = (request.query.get('path') ?? '').replace(/^\/+/, '');
  if (!path)
    return problem(400, 'MISSING_PARAMETER', 'Give "path": {environment}/{activityId}/[{entity}/]{file}.');
  // the path is checked before anything is written there
  try {
    blobPath(path);
    resolveRecurringPath(runtime.config, path);
  } catch (error) {
    if (error instanceof InputError) return problem(400, error.code, error.message);
    throw error;
  }
  let etag: string | undefined;
  if (declaredTooLarge(request, MAX_UPLOAD_BODY_BYTES)) return bodyTooLarge(MAX_UPLOAD_BODY_BYTES);
  const body = await nonEmptyBody(request);
  if (body) {
    // streamed into the blob through a cap, never buffered
    const container = runtime.containers.recurringInbound;
    const cap = new ByteCap(MAX_UPLOAD_BODY_BYTES);
    body.on('error', (error) => cap.destroy(error));
    try {
      await uploadStreamTo(container, path, body.pipe(cap), { concurrency: BODY_UPLOAD_CONCURRENCY });
    } catch (error) {
      if (cap.exceeded) return bodyTooLarge(MAX_UPLOAD_BODY_BYTES);
      throw error;
    }
    try {
      etag = unquoteEtag((await container.getBlobClient(path).getProperties()).etag);
    } catch (error) {
      throw storageError(`reading ${container.containerName}/${path}`, error);
    }
  }
  const outcome = await startForBlob(
    runtime,
    df.getClient(context),
    path,
    etag,
    invocationLogger(context, { path }),
  );
  if (outcome.kind === 'gone')
    return problem(404, 'SOURCE_NOT_FOUND', `No blob "${path}" in the recurring-inbound container.`);
  if (outcome.kind === 'rejected') return problem(400, outcome.code, outcome.reason);
  const statusUrl = `${new URL(request.url).origin}/api/recurring/imports/${outcome.instanceId}`;
  return {
    status: 202,
    headers: { Location: statusUrl },
    jsonBody: { id: outcome.instanceId, started: outcome.kind === 'started', statusUrl },
  };
}

/** Handles `GET /api/recurring/imports/{id}`: the orchestration's status and, once final, its result. */
export async function handleGetRecurringImport(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const id = request.params.id ?? '';
  const status = await findInstanceOf(df.getClient(context), id, {
    prefix: RECURRING_IMPORT_INSTANCE_PREFIX,
    orchestrator: ORCHESTRATORS.recurringImport,
  });
  if (!status) return problem(404, 'JOB_NOT_FOUND', `No recurring import "${id}".`);
  const runtimeStatus = String(status.runtimeStatus);
  return {
    status: 200,
    jsonBody: {
      id,
      runtimeStatus,
      customStatus: status.customStatus ?? null,
      result: runtimeStatus === 'Completed' ? status.output : undefined,
    },
  };
}

keyedRoute(RECURRING_HTTP_FUNCTIONS.importStart, 'POST', 'recurring/imports', handleStartRecurringImport);
keyedRoute(RECURRING_HTTP_FUNCTIONS.importGet, 'GET', 'recurring/imports/{id}', handleGetRecurringImport);
