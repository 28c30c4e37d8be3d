/** `POST /api/exports?environment=&project=` (202 + job links) and `GET /api/exports/{id}`. */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { randomUUID } from 'node:crypto';
import { findInstanceOf } from '../../shared/app/durableClient.js';
import {
  bodyTooLarge,
  keyedRoute,
  MAX_JSON_BODY_BYTES,
  problem,
  readSmallBody,
} from '../../shared/app/http.js';
import { ORCHESTRATORS } from '../../shared/app/names.js';
import { getRuntime } from '../../shared/app/runtime.js';
import { InputError } from '../../shared/errors.js';
import {
  EXPORT_INSTANCE_PREFIX,
  exportJobFromStatus,
  MULTI_COMPANY_EXPORT_INSTANCE_PREFIX,
  multiCompanyExportJobFromStatus,
} from '../../shared/jobs/index.js';
import { describeIssues } from '../../shared/util.js';
import { ExportRequestOptionsSchema, plannedExportJob, startPlannedExport } from './starting.js';

/** Function names of the export HTTP API. */
export const EXPORT_HTTP_FUNCTIONS = { start: 'exportStartHttp', get: 'exportGet' } as const;

/** Links of an export job, relative to the request's origin. */
export function exportLinks(request: HttpRequest, id: string): { statusUrl: string; jobUrl: string } {
  const origin = new URL(request.url).origin;
  return { statusUrl: `${origin}/api/exports/${id}`, jobUrl: `${origin}/api/jobs/${id}` };
}

/**
 * Handles `POST /api/exports?environment=&project=`; optional JSON body
 * `{legalEntityId?, legalEntities?, reExecute?, unpack?, correlationId?}` (`legalEntities`, or a
 * project's, runs one export per company under one job). An `Idempotency-Key` header makes a
 * repeated request map to the same job.
 */
export async function handleStartExport(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const environment = request.query.get('environment') ?? '';
  const project = request.query.get('project') ?? '';
  if (!environment || !project) {
    return problem(
      400,
      'MISSING_PARAMETER',
      'Give "environment" and "project" (data project name or definitionGroupId).',
    );
  }
  const text = await readSmallBody(request);
  if (text === undefined) return bodyTooLarge(MAX_JSON_BODY_BYTES);
  let body: unknown = {};
  if (text.trim() !== '') {
    try {
      body = JSON.parse(text);
    } catch (error) {
      return problem(400, 'BODY_NOT_JSON', `The body is not JSON: ${(error as Error).message}`);
    }
  }
  const options = ExportRequestOptionsSchema.safeParse(body);
  if (!options.success)
    return problem(400, 'BODY_INVALID', `The body is invalid: ${describeIssues(options.error)}`);
  const requestId = request.headers.get('idempotency-key') ?? randomUUID();
  let planned;
  try {
    planned = plannedExportJob(
      getRuntime().config,
      { environment, project, requestId, ...options.data },
      { trigger: 'http', now: new Date() },
    );
  } catch (error) {
    if (error instanceof InputError)
      return problem(error.code === 'BODY_INVALID' ? 400 : 404, error.code, error.message);
    throw error;
  }
  const outcome = await startPlannedExport(df.getClient(context), planned);
  const links = exportLinks(request, outcome.instanceId);
  return {
    status: 202,
    headers: { Location: links.statusUrl, 'Retry-After': '10' },
    jsonBody: { id: outcome.instanceId, status: 'Pending', started: outcome.started, ...links },
  };
}

/** Handles `GET /api/exports/{id}`. */
export async function handleGetExport(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const id = request.params.id ?? '';
  const client = df.getClient(context);
  const group = await findInstanceOf(
    client,
    id,
    { prefix: MULTI_COMPANY_EXPORT_INSTANCE_PREFIX, orchestrator: ORCHESTRATORS.multiCompanyExport },
    { showInput: true },
  );
  if (group) return { status: 200, jsonBody: multiCompanyExportJobFromStatus(group) };
  const status = await findInstanceOf(
    client,
    id,
    { prefix: EXPORT_INSTANCE_PREFIX, orchestrator: ORCHESTRATORS.exportPackage },
    { showInput: true },
  );
  if (!status) return problem(404, 'JOB_NOT_FOUND', `No export job "${id}".`);
  return { status: 200, jsonBody: exportJobFromStatus(status) };
}

keyedRoute(EXPORT_HTTP_FUNCTIONS.start, 'POST', 'exports', handleStartExport);
keyedRoute(EXPORT_HTTP_FUNCTIONS.get, 'GET', 'exports/{id}', handleGetExport);
