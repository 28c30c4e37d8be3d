/** Blob storage helpers of the pipeline: one client per app, JSON blobs, streamed copies and moves. */
import type { Readable } from 'node:stream';
import {
  BlobServiceClient,
  RestError,
  type BlobRequestConditions,
  type ContainerClient,
} from '@azure/storage-blob';
import { connectionCredential } from '../auth/credential.js';
import { DmfFunctionsError } from '../errors.js';
import type { StorageConnection } from '../config/index.js';

/** Block size of streamed copies (memory ≈ block size × concurrency). */
export const COPY_BLOCK_SIZE = 4 * 1024 * 1024;
/** Parallel blocks of streamed copies. */
export const COPY_CONCURRENCY = 4;
/**
 * Blocks in flight when a request body is streamed into storage: the body arrives at the caller's
 * pace, so two 4 MiB blocks keep up, and the host's memory stays well under the 64 MB budget.
 */
export const BODY_UPLOAD_CONCURRENCY = 2;

/** Builds the blob service client of the app's storage (connection string or identity). */
export function createBlobService(connection: StorageConnection): BlobServiceClient {
  if (connection.kind === 'connectionString') {
    return BlobServiceClient.fromConnectionString(connection.connectionString);
  }
  return new BlobServiceClient(connection.blobServiceUri, connectionCredential(connection));
}

/** A storage failure: transient for 408/429/5xx and network errors. */
export class StorageError extends DmfFunctionsError {
  constructor(message: string, options: { cause?: unknown; transient?: boolean; code?: string }) {
    super(message, {
      code: options.code ?? 'STORAGE_FAILED',
      transient: options.transient ?? true,
      cause: options.cause,
    });
  }
}

/** True when a storage error says the blob is not there. */
export function isNotFound(error: unknown): boolean {
  return error instanceof RestError && error.statusCode === 404;
}

/** Wraps a storage SDK error in {@link StorageError} (never echoing urls with a SAS). */
export function storageError(what: string, error: unknown): StorageError {
  const status = error instanceof RestError ? error.statusCode : undefined;
  const transient = status === undefined || status === 408 || status === 429 || status >= 500;
  const code = status === undefined ? 'STORAGE_FAILED' : `STORAGE_HTTP_${status}`;
  // a HEAD answer has no body: its error code is only in the x-ms-error-code header (details)
  const headerCode =
    error instanceof RestError
      ? (error.details as { errorCode?: unknown } | undefined)?.errorCode
      : undefined;
  const detail =
    error instanceof RestError
      ? error.code ||
        (typeof headerCode === 'string' && headerCode) ||
        error.message.split('\n')[0] ||
        `HTTP ${String(status)}`
      : String(error);
  return new StorageError(`${what}: ${detail}`, { cause: error, transient, code });
}

/** True when `container/path` exists. */
export async function blobExists(container: ContainerClient, path: string): Promise<boolean> {
  try {
    return await container.getBlobClient(path).exists();
  } catch (error) {
    throw storageError(`reading ${container.containerName}/${path}`, error);
  }
}

/** Writes `value` as pretty JSON to `container/path` (container created when missing). */
export async function writeJsonBlob(container: ContainerClient, path: string, value: unknown): Promise<void> {
  const body = Buffer.from(JSON.stringify(value, null, 2));
  try {
    await container.createIfNotExists();
    await container.getBlockBlobClient(path).upload(body, body.length, {
      blobHTTPHeaders: { blobContentType: 'application/json; charset=utf-8' },
    });
  } catch (error) {
    throw storageError(`writing ${container.containerName}/${path}`, error);
  }
}

/**
 * Streams `stream` into `container/path`; memory bounded by block size × concurrency. A stream of
 * `length` bytes (when known) up to one block is read and written in one Put Blob instead of a
 * block and a block list. `conditions` apply to the write that makes the blob (e.g.
 * `{ ifNoneMatch: '*' }`: only if it does not exist yet, see {@link isAlreadyExists}).
 */
export async function uploadStreamTo(
  container: ContainerClient,
  path: string,
  stream: Readable,
  options: {
    contentType?: string;
    abortSignal?: AbortSignal;
    /** Block size (default {@link COPY_BLOCK_SIZE}). */
    blockSize?: number;
    /** Blocks in flight (default {@link COPY_CONCURRENCY}). */
    concurrency?: number;
    /** Size of the stream when known (a content-length). */
    length?: number;
    /** Access conditions of the write. */
    conditions?: BlobRequestConditions;
    /** Skip the container's create-if-missing (the caller made sure it exists). */
    containerExists?: boolean;
  } = {},
): Promise<{ bytes: number }> {
  let bytes = 0;
  try {
    if (!options.containerExists) await container.createIfNotExists();
    const blockSize = options.blockSize ?? COPY_BLOCK_SIZE;
    const concurrency = options.concurrency ?? COPY_CONCURRENCY;
    const headers = { blobContentType: options.contentType ?? 'application/octet-stream' };
    const blob = container.getBlockBlobClient(path);
    if (options.length !== undefined && options.length <= blockSize) {
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
      const body = Buffer.concat(chunks);
      await blob.upload(body, body.length, {
        abortSignal: options.abortSignal,
        blobHTTPHeaders: headers,
        ...(options.conditions ? { conditions: options.conditions } : {}),
      });
      return { bytes: body.length };
    }
    await blob.uploadStream(stream, blockSize, concurrency, {
      abortSignal: options.abortSignal,
      blobHTTPHeaders: headers,
      ...(options.conditions ? { conditions: options.conditions } : {}),
      onProgress: (p) => (bytes = p.loadedBytes),
    });
    return { bytes };
  } catch (error) {
    throw storageError(`writing ${container.containerName}/${path}`, error);
  }
}

/**
 * True when a write conditioned on `If-None-Match: *` found the blob there: 409 BlobAlreadyExists
 * (Put Blob and Put Block List answer so, as Azurite does) or 412 ConditionNotMet (other writes).
 * Looks through a {@link StorageError} to its cause.
 */
export function isAlreadyExists(error: unknown): boolean {
  const cause = error instanceof StorageError ? error.cause : error;
  if (!(cause instanceof RestError)) return false;
  const code = cause.code ?? (cause.details as { errorCode?: unknown } | undefined)?.errorCode;
  return (
    (cause.statusCode === 409 && code === 'BlobAlreadyExists') ||
    (cause.statusCode === 412 && code === 'ConditionNotMet')
  );
}

/** Opens a blob for streaming (whole body). */
export async function openBlobStream(container: ContainerClient, path: string): Promise<Readable> {
  try {
    const response = await container.getBlobClient(path).download();
    const body = response.readableStreamBody;
    if (!body) throw new Error('no body');
    return body as Readable;
  } catch (error) {
    throw storageError(`reading ${container.containerName}/${path}`, error);
  }
}

/**
 * Copies a blob: streamed copy (skipped when a copy of the same size is there already, e.g. from an
 * earlier attempt), then verification that the copy has the source's size. The source is left as
 * it is. @returns the size copied and the source version (ETag) copied.
 */
export async function copyBlob(
  from: { container: ContainerClient; path: string },
  to: { container: ContainerClient; path: string },
): Promise<{ bytes: number; etag: string | undefined }> {
  const source = from.container.getBlobClient(from.path);
  let props;
  try {
    props = await source.getProperties();
  } catch (error) {
    throw storageError(`reading ${from.container.containerName}/${from.path}`, error);
  }
  const size = props.contentLength ?? 0;
  const target = to.container.getBlockBlobClient(to.path);
  let copied: number | undefined;
  try {
    copied = (await target.getProperties()).contentLength;
  } catch (error) {
    if (!isNotFound(error)) throw storageError(`reading ${to.container.containerName}/${to.path}`, error);
  }
  if (copied !== size) {
    let response;
    try {
      response = await source.download(0, undefined, { conditions: { ifMatch: props.etag } });
    } catch (error) {
      throw storageError(`reading ${from.container.containerName}/${from.path}`, error);
    }
    await uploadStreamTo(to.container, to.path, response.readableStreamBody as Readable, {
      contentType: props.contentType ?? 'application/octet-stream',
    });
    try {
      copied = (await target.getProperties()).contentLength;
    } catch (error) {
      throw storageError(`verifying ${to.container.containerName}/${to.path}`, error);
    }
  }
  if (copied !== size) {
    throw new StorageError(
      `copy of ${from.container.containerName}/${from.path} has ${String(copied)} bytes, expected ${size}; source kept`,
      { code: 'STORAGE_COPY_MISMATCH', transient: true },
    );
  }
  return { bytes: size, etag: props.etag };
}

/**
 * Moves a blob: {@link copyBlob}, then deletion of the source (only if it is still the version
 * copied). The source is never deleted before a verified copy exists. @returns the size copied.
 */
export async function moveBlob(
  from: { container: ContainerClient; path: string },
  to: { container: ContainerClient; path: string },
): Promise<{ bytes: number }> {
  const { bytes, etag } = await copyBlob(from, to);
  try {
    await from.container.getBlobClient(from.path).deleteIfExists({ conditions: { ifMatch: etag } });
  } catch (error) {
    // a newer version was written meanwhile: keep it (it is a new drop), the copy is ours
    if (!(error instanceof RestError && error.statusCode === 412)) {
      throw storageError(`deleting ${from.container.containerName}/${from.path}`, error);
    }
  }
  return { bytes };
}
