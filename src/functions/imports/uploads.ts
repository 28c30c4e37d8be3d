/**
 * `POST /api/uploads?environment=…&project=…&fileName=…[&legalEntity=…]`: a direct upload url for a
 * file too large to send through a function (the Functions front end refuses bodies over 100 MB).
 * Answers `201 {"uploadUrl","blobPath","expiresOn"}`: a write-only SAS for exactly the inbound blob
 * `{environment}/{project}/[{legalEntity}/]{fileName}`. The caller PUTs the file there (Put Blob,
 * or Put Block + Put Block List); the inbound blob trigger starts the import, whose `file` is
 * `fileName`. The url is a secret of the caller's: it is answered, never logged or stored.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { keyedRoute, problem } from '../../shared/app/http.js';
import { getRuntime, invocationLogger } from '../../shared/app/runtime.js';
import { DmfFunctionsError, InputError } from '../../shared/errors.js';
import {
  blobExists,
  checkFileName,
  checkLegalEntity,
  createUploadUrl,
  inboundPath,
  storageError,
} from '../../shared/storage/index.js';
import { importProjectOf } from './starting.js';

/** Name of the upload-url function. */
export const UPLOADS_HTTP_FUNCTION = 'uploadsHttp';

/** Handles `POST /api/uploads`. */
export async function handleUploadRequest(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const runtime = getRuntime();
  const environment = request.query.get('environment') ?? '';
  const projectName = request.query.get('project') ?? '';
  const fileName = request.query.get('fileName') ?? '';
  const legalEntity = request.query.get('legalEntity') ?? undefined;
  if (!environment || !projectName || !fileName) {
    return problem(
      400,
      'MISSING_PARAMETER',
      'Query parameters "environment", "project" and "fileName" are required.',
    );
  }
  let path: string;
  try {
    const { environment: env, project } = importProjectOf(runtime.config, environment, projectName);
    if (legalEntity !== undefined) checkLegalEntity(legalEntity);
    path = inboundPath({
      environment: env.name,
      project: project.name,
      ...(legalEntity ? { legalEntity } : {}),
      fileName: checkFileName(fileName),
    });
  } catch (error) {
    if (error instanceof InputError) return problem(400, error.code, error.message);
    throw error;
  }
  const inbound = runtime.containers.inbound;
  try {
    await inbound.createIfNotExists();
  } catch (error) {
    throw storageError(`creating ${inbound.containerName}`, error);
  }
  const blobPath = `${inbound.containerName}/${path}`;
  // one file of that name waits to be imported: a second upload would replace it under its job
  if (await blobExists(inbound, path)) {
    return problem(
      409,
      'UPLOAD_EXISTS',
      `${blobPath} is waiting to be imported; upload under another file name, or once it is archived.`,
    );
  }
  let upload;
  try {
    upload = await createUploadUrl(runtime.blobService, inbound, path);
  } catch (error) {
    if (error instanceof DmfFunctionsError && error.code === 'UPLOAD_URL_UNAVAILABLE') {
      return problem(501, error.code, error.message);
    }
    throw error;
  }
  invocationLogger(context).info(
    `Issued an upload url for ${blobPath} (until ${upload.expiresOn.toISOString()})`,
  );
  return {
    status: 201,
    jsonBody: { uploadUrl: upload.url, blobPath, expiresOn: upload.expiresOn.toISOString() },
  };
}

keyedRoute(UPLOADS_HTTP_FUNCTION, 'POST', 'uploads', handleUploadRequest);
