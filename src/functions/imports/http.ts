/**
 * `POST /api/imports?environment=…&project=…[&legalEntity=…][&fileName=…]`: the body is the package
 * (or, for a project with a template, the raw data file), stored in the inbound container under the
 * blob convention; or `application/json` `{ "blobPath" | "url", execute?, overwrite?, correlationId? }`.
 * Answers 202 with the job id and its urls.
 */
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { ContainerClient } from '@azure/storage-blob';
import {
  bodyTooLarge,
  ByteCap,
  declaredTooLarge,
  keyedRoute,
  MAX_JSON_BODY_BYTES,
  MAX_UPLOAD_BODY_BYTES,
  nonEmptyBody,
  problem,
  readSmallBody,
} from '../../shared/app/http.js';
import { getRuntime, invocationLogger } from '../../shared/app/runtime.js';
import { InputError } from '../../shared/errors.js';
import { blobImportInstanceId } from '../../shared/jobs/index.js';
import {
  BODY_UPLOAD_CONCURRENCY,
  checkFileName,
  checkLegalEntity,
  inboundPath,
  uploadStreamTo,
} from '../../shared/storage/index.js';
import { describeIssues, unquoteEtag } from '../../shared/util.js';
import {
  importProjectOf,
  referencedImport,
  SourceReferenceSchema,
  startImport,
  type ReferencedImport,
} from './starting.js';

/** Name of the HTTP starter function. */
export const IMPORTS_HTTP_FUNCTION = 'importsHttp';

/** Links of a job, relative to the request's origin. */
export function jobLinks(request: HttpRequest, id: string): { statusUrl: string; cancelUrl: string } {
  const origin = new URL(request.url).origin;
  return { statusUrl: `${origin}/api/jobs/${id}`, cancelUrl: `${origin}/api/jobs/${id}/cancel` };
}

function extensionFor(contentType: string): string {
  if (/zip/i.test(contentType)) return '.zip';
  if (/csv/i.test(contentType)) return '.csv';
  if (/xml/i.test(contentType)) return '.xml';
  if (/json/i.test(contentType)) return '.json';
  return '.dat';
}

/** The pointer a 413 gives: where a larger file goes. */
export const UPLOAD_URL_HINT =
  'Ask POST /api/uploads?environment=…&project=…&fileName=… for a direct upload url and PUT the file there (dmf import does so for large files).';

/** The job answer of an import request (202 when started or found running, 200 when already finished). */
function accepted(
  request: HttpRequest,
  outcome: { instanceId: string; started: boolean; status?: string },
): HttpResponseInit {
  const links = jobLinks(request, outcome.instanceId);
  return {
    status: outcome.status === undefined ? 202 : 200,
    headers: { Location: links.statusUrl, ...(outcome.status === undefined ? { 'Retry-After': '10' } : {}) },
    jsonBody: {
      id: outcome.instanceId,
      status: outcome.status ?? 'Pending',
      started: outcome.started,
      ...links,
    },
  };
}

/**
 * Streams the request body into `inbound/path` through a byte cap ({@link MAX_UPLOAD_BODY_BYTES}):
 * never buffered (with `enableHttpStream` the body is the caller's socket). @returns the bytes
 * written, or `tooLarge` (nothing committed: the staged blocks are never committed).
 */
async function storeBody(
  request: HttpRequest,
  inbound: ContainerClient,
  path: string,
  contentType: string,
): Promise<{ bytes: number } | 'tooLarge'> {
  const body = await nonEmptyBody(request);
  if (!body) return { bytes: 0 };
  const cap = new ByteCap(MAX_UPLOAD_BODY_BYTES);
  body.on('error', (error) => cap.destroy(error));
  try {
    return await uploadStreamTo(inbound, path, body.pipe(cap), {
      contentType,
      concurrency: BODY_UPLOAD_CONCURRENCY,
    });
  } catch (error) {
    if (cap.exceeded) {
      body.destroy();
      return 'tooLarge';
    }
    throw error;
  }
}

/** Handles `POST /api/imports`. */
export async function handleImportRequest(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const runtime = getRuntime();
  const logger = invocationLogger(context);
  const environment = request.query.get('environment') ?? '';
  const projectName = request.query.get('project') ?? '';
  const legalEntity = request.query.get('legalEntity') ?? undefined;
  if (!environment || !projectName) {
    return problem(400, 'MISSING_PARAMETER', 'Query parameters "environment" and "project" are required.');
  }
  const contentType = request.headers.get('content-type') ?? 'application/octet-stream';
  let planned: ReferencedImport;
  try {
    if (legalEntity !== undefined) checkLegalEntity(legalEntity);
    if (/^application\/json/i.test(contentType)) {
      const text = await readSmallBody(request);
      if (text === undefined)
        return bodyTooLarge(MAX_JSON_BODY_BYTES, 'A JSON import request names a source; it carries no file.');
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return problem(400, 'BODY_NOT_JSON', 'The body is declared as JSON but is not valid JSON.');
      }
      const parsed = SourceReferenceSchema.safeParse(body);
      if (!parsed.success) return problem(400, 'BODY_INVALID', describeIssues(parsed.error));
      planned = await referencedImport(
        runtime,
        {
          environment,
          project: projectName,
          ...(legalEntity ? { legalEntity } : {}),
          ...parsed.data,
          requestId: context.invocationId,
        },
        { trigger: 'http', now: new Date() },
      );
    } else {
      const { environment: env, project } = importProjectOf(runtime.config, environment, projectName);
      const given = request.query.get('fileName');
      if (given !== null) checkFileName(given);
      if (declaredTooLarge(request, MAX_UPLOAD_BODY_BYTES))
        return bodyTooLarge(MAX_UPLOAD_BODY_BYTES, UPLOAD_URL_HINT);
      if (!request.body)
        return problem(400, 'EMPTY_BODY', 'Send the package or data file as the request body.');
      // a unique name per upload (two uploads of one file name never overwrite each other)
      const fileName = checkFileName(
        `${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomUUID().slice(0, 8)}-${given ?? `upload${extensionFor(contentType)}`}`,
      );
      const path = inboundPath({
        environment: env.name,
        project: project.name,
        ...(legalEntity ? { legalEntity } : {}),
        fileName,
      });
      const inbound = runtime.containers.inbound;
      const stored = await storeBody(request, inbound, path, contentType);
      if (stored === 'tooLarge') return bodyTooLarge(MAX_UPLOAD_BODY_BYTES, UPLOAD_URL_HINT);
      if (stored.bytes === 0) {
        return problem(400, 'EMPTY_BODY', 'Send the package or data file as the request body.');
      }
      const etag = unquoteEtag((await inbound.getBlobClient(path).getProperties()).etag) ?? randomUUID();
      planned = {
        kind: 'planned',
        instanceId: blobImportInstanceId(`${inbound.containerName}/${path}`, etag),
        input: {
          source: { kind: 'blob', container: inbound.containerName, path, etag },
          logicalPath: path,
          fileName,
          environment: env.name,
          project: project.name,
          definitionGroupId: project.definitionGroupId,
          legalEntity: legalEntity ?? project.legalEntity,
          execute: project.execute,
          overwrite: project.overwrite,
          trigger: 'http',
          requestedAt: new Date().toISOString(),
        },
      };
    }
  } catch (error) {
    if (error instanceof InputError) return problem(400, error.code, error.message);
    throw error;
  }
  if (planned.kind === 'finished') {
    logger.info(`The file was already imported by job ${planned.instanceId}`);
    return accepted(request, { instanceId: planned.instanceId, started: false, status: planned.status });
  }
  const outcome = await startImport(df.getClient(context), planned.instanceId, planned.input, {
    ...(planned.beforeStart ? { beforeStart: planned.beforeStart } : {}),
  });
  logger.info(`${outcome.started ? 'Started' : 'Found existing'} import ${outcome.instanceId}`);
  return accepted(request, outcome);
}

keyedRoute(IMPORTS_HTTP_FUNCTION, 'POST', 'imports', handleImportRequest);
