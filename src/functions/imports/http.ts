/**
 * `POST /api/imports?environment=…&project=…[&legalEntity=…][&fileName=…]`: the body is the package
 * (or, for a project with a template, the raw data file), stored in the inbound container under the
 * blob convention; or `application/json` `{ "blobPath" | "url", execute?, overwrite?, correlationId? }`.
 * Answers 202 with the job id and its urls.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { keyedRoute, problem } from '../../shared/app/http.js';
import { getRuntime, invocationLogger } from '../../shared/app/runtime.js';
import { InputError } from '../../shared/errors.js';
import { importInstanceId, type ImportInput } from '../../shared/jobs/index.js';
import { findDataProject, inboundPath, safeFileName, uploadStreamTo } from '../../shared/storage/index.js';
import { describeIssues, unquoteEtag } from '../../shared/util.js';
import { referencedImport, SourceReferenceSchema, startImport } from './starting.js';

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
  let planned: { instanceId: string; input: ImportInput };
  try {
    if (/^application\/json/i.test(contentType)) {
      let body: unknown;
      try {
        body = await request.json();
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
      const env = runtime.config.environments.find((e) => e.name === environment);
      const project = env && findDataProject(runtime.config, env.name, 'import', projectName);
      if (!env || !project) {
        return problem(
          400,
          env ? 'UNKNOWN_PROJECT' : 'UNKNOWN_ENVIRONMENT',
          env
            ? `"${projectName}" is not an import data project of environment "${environment}".`
            : `Environment "${environment}" is not configured.`,
        );
      }
      if (!request.body)
        return problem(400, 'EMPTY_BODY', 'Send the package or data file as the request body.');
      const given = request.query.get('fileName');
      const fileName = `${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomUUID().slice(0, 8)}-${safeFileName(given ?? `upload${extensionFor(contentType)}`)}`;
      const path = inboundPath({
        environment: env.name,
        project: project.name,
        ...(legalEntity ? { legalEntity } : {}),
        fileName,
      });
      const inbound = runtime.containers.inbound;
      const { bytes } = await uploadStreamTo(
        inbound,
        path,
        Readable.fromWeb(request.body as WebReadableStream<Uint8Array>),
        {
          contentType,
        },
      );
      if (bytes === 0) {
        await inbound.deleteBlob(path).catch(() => undefined);
        return problem(400, 'EMPTY_BODY', 'Send the package or data file as the request body.');
      }
      const etag = unquoteEtag((await inbound.getBlobClient(path).getProperties()).etag) ?? randomUUID();
      planned = {
        instanceId: importInstanceId({ source: `${inbound.containerName}/${path}`, version: etag }),
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
  const outcome = await startImport(df.getClient(context), planned.instanceId, planned.input);
  logger.info(`${outcome.started ? 'Started' : 'Found existing'} import ${outcome.instanceId}`);
  const links = jobLinks(request, outcome.instanceId);
  return {
    status: 202,
    headers: { Location: links.statusUrl, 'Retry-After': '10' },
    jsonBody: { id: outcome.instanceId, status: 'Pending', started: outcome.started, ...links },
  };
}

keyedRoute(IMPORTS_HTTP_FUNCTION, 'POST', 'imports', handleImportRequest);
