import type { Readable } from 'node:stream';
import { BlockBlobClient, RestError } from '@azure/storage-blob';
import { DmfApiError, DmfErrorCode, httpErrorCode, isTransientStatus } from './errors.js';
import { silentLogger, type DmfLogger } from './logger.js';
import { scrubSecrets, urlForLog } from './redact.js';
import { DmfTransport, type DmfRequestOptions, type DmfTransportOptions } from './transport.js';

/** Default block size of {@link uploadPackageToSas}: 4 MiB. */
export const DEFAULT_UPLOAD_BLOCK_SIZE = 4 * 1024 * 1024;
/** Default parallel block uploads of {@link uploadPackageToSas}: 4 (at most this many block buffers in memory). */
export const DEFAULT_UPLOAD_CONCURRENCY = 4;

/** Options of {@link uploadPackageToSas}. */
export interface UploadPackageOptions {
  /** Cancels the upload. */
  abortSignal?: AbortSignal;
  /** Block size in bytes; bounds memory together with `maxConcurrency`. Default {@link DEFAULT_UPLOAD_BLOCK_SIZE}. */
  blockSize?: number;
  /** Blocks uploaded in parallel. Default {@link DEFAULT_UPLOAD_CONCURRENCY}. */
  maxConcurrency?: number;
  /** Content type stored on the blob. Default `application/zip`. */
  contentType?: string;
  /** Receives one line per upload (url without SAS). */
  logger?: DmfLogger;
}

/** Result of {@link uploadPackageToSas}. */
export interface UploadPackageResult {
  /** Bytes uploaded. */
  bytes: number;
  /** ETag of the committed blob. */
  etag: string | undefined;
}

/**
 * Uploads a package stream to a GetAzureWriteUrl SAS url as a block blob (`uploadStream`: memory bounded
 * by block size × concurrency, whatever the package size). A refused SAS (expired, bad signature)
 * throws `DMF_SAS_REJECTED`: ask F&O for a new url.
 */
export async function uploadPackageToSas(
  sasUrl: string,
  stream: Readable,
  options: UploadPackageOptions = {},
): Promise<UploadPackageResult> {
  const logger = options.logger ?? silentLogger;
  const action = 'UploadPackage';
  let bytes = 0;
  const started = Date.now();
  try {
    const client = new BlockBlobClient(sasUrl);
    const response = await client.uploadStream(
      stream,
      options.blockSize ?? DEFAULT_UPLOAD_BLOCK_SIZE,
      options.maxConcurrency ?? DEFAULT_UPLOAD_CONCURRENCY,
      {
        abortSignal: options.abortSignal,
        blobHTTPHeaders: { blobContentType: options.contentType ?? 'application/zip' },
        onProgress: (p) => (bytes = p.loadedBytes),
      },
    );
    logger.debug(`${action} PUT ${urlForLog(sasUrl)} -> ${bytes} bytes`, {
      action,
      bytes,
      durationMs: Date.now() - started,
    });
    return { bytes, etag: response.etag };
  } catch (error) {
    throw storageError(action, sasUrl, error, options.abortSignal);
  }
}

/** Options of {@link downloadSasStream}. */
export interface DownloadSasOptions
  extends DmfRequestOptions, Omit<DmfTransportOptions, 'credential' | 'scope'> {}

/** A streamed download. */
export interface DownloadedStream {
  /** The body; consume or destroy it. */
  stream: Readable;
  /** `Content-Length`, when the server sent one. */
  contentLength: number | undefined;
  /** `Content-Type`, when the server sent one. */
  contentType: string | undefined;
}

/**
 * Downloads a SAS url (GetExportedPackageUrl, error file urls) as a stream with a plain GET: no bearer
 * token ever goes to storage. Retries 408/429/5xx/network errors before the body starts; the timeout
 * covers the wait for the headers only. 403 → `DMF_SAS_REJECTED`; 404 → `DMF_HTTP_404` (F&O deletes
 * packages after 7 days).
 */
export async function downloadSasStream(
  sasUrl: string,
  options: DownloadSasOptions = {},
): Promise<DownloadedStream> {
  const action = 'DownloadSas';
  const transport = new DmfTransport(options);
  const response = await transport
    .send({
      ...options,
      action,
      method: 'GET',
      url: sasUrl,
      auth: false,
      retryMode: 'idempotent',
      stream: true,
    })
    .catch((error: unknown) => {
      if (error instanceof DmfApiError && error.status === 403) throw sasRejected(action, error);
      throw error;
    });
  if (!response.body || response.status >= 300) {
    throw new DmfApiError(`${action}: HTTP ${response.status} from ${urlForLog(sasUrl)}`, {
      code: httpErrorCode(response.status),
      action,
      status: response.status,
      transient: false,
    });
  }
  const length = response.headers.get('content-length');
  return {
    stream: response.body,
    contentLength: length === null ? undefined : Number(length),
    contentType: response.headers.get('content-type') ?? undefined,
  };
}

// A RestError carries the request (and so the SAS url) with it: it is never attached as `cause`.
function sasRejected(action: string, cause: DmfApiError | undefined): DmfApiError {
  return new DmfApiError(`${action}: storage refused the SAS url (expired or invalid signature, HTTP 403)`, {
    code: DmfErrorCode.SasRejected,
    action,
    status: 403,
    transient: false,
    cause,
  });
}

function storageError(
  action: string,
  url: string,
  error: unknown,
  signal: AbortSignal | undefined,
): DmfApiError {
  if (error instanceof DmfApiError) return error;
  if (signal?.aborted || (error instanceof Error && error.name === 'AbortError')) {
    return new DmfApiError(`${action} was aborted`, {
      code: DmfErrorCode.Aborted,
      action,
      transient: false,
      cause: error,
    });
  }
  if (error instanceof RestError && error.statusCode === 403) return sasRejected(action, undefined);
  if (error instanceof RestError && error.statusCode !== undefined) {
    const detail = `${error.code ?? ''} ${error.message}`.trim();
    return new DmfApiError(
      `${action}: HTTP ${error.statusCode} from ${urlForLog(url)}: ${scrubSecrets(detail)}`,
      {
        code: httpErrorCode(error.statusCode),
        action,
        status: error.statusCode,
        transient: isTransientStatus(error.statusCode),
      },
    );
  }
  // Anything else came from the source stream (e.g. the package builder): not ours to classify.
  if (!(error instanceof RestError)) throw error;
  return new DmfApiError(`${action}: ${urlForLog(url)} failed: ${scrubSecrets(error.message)}`, {
    code: DmfErrorCode.Network,
    action,
    transient: true,
  });
}
