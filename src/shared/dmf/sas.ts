import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BlobClient, BlockBlobClient, RestError } from '@azure/storage-blob';
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

/** Default block size of {@link copyUrlToSas}: 64 MiB (Azure allows up to 4,000 MiB a block). */
export const DEFAULT_COPY_BLOCK_SIZE = 64 * 1024 * 1024;
/** Default blocks copied at once by {@link copyUrlToSas}. */
export const DEFAULT_COPY_CONCURRENCY = 8;
/** Size of the first block of {@link copyUrlToSas}, staged alone to learn whether the destination copies. */
export const COPY_PROBE_BLOCK_SIZE = 4 * 1024 * 1024;

/** Options of {@link copyUrlToSas}. */
export interface CopyToSasOptions {
  /** Size of the source in bytes (from its properties). */
  size: number;
  /**
   * The source's ETag when its size was read: checked again once every block is staged, so a blob
   * of blocks from two versions is never committed (`DMF_HTTP_412`, transient).
   */
  sourceEtag?: string;
  /** Block size in bytes (≤ 4,000 MiB). Default {@link DEFAULT_COPY_BLOCK_SIZE}. */
  blockSize?: number;
  /** Blocks copied at once. Default {@link DEFAULT_COPY_CONCURRENCY}. */
  maxConcurrency?: number;
  /** Content type stored on the blob. Default `application/zip`. */
  contentType?: string;
  abortSignal?: AbortSignal;
  /** Receives one line per copy (urls without SAS). */
  logger?: DmfLogger;
}

/**
 * Copies a blob into a GetAzureWriteUrl SAS url **server side**: the destination storage reads each
 * block from `sourceUrl` itself (Put Block From URL, then Put Block List), so no package byte passes
 * through this process and its memory stays flat whatever the size. `sourceUrl` must be readable by
 * the destination service (public, or a SAS of its own: `blobReadSasUrl`); it is sent in a header
 * to that service only, never logged. When the destination refuses the first block for a reason a
 * streamed upload would not meet (no Put Block From URL there, the source not reachable from it, a
 * 4xx about the copy source) this throws `DMF_COPY_REFUSED` before anything is committed (the first
 * block is a small one, staged alone, so that answer comes at once): stream
 * with {@link uploadPackageToSas} instead. A refused write url throws `DMF_SAS_REJECTED` as there.
 * Block ids have the SDK's own form, so a streamed upload can follow on the same blob.
 */
export async function copyUrlToSas(
  sourceUrl: string,
  sasUrl: string,
  options: CopyToSasOptions,
): Promise<UploadPackageResult & { blocks: number }> {
  const logger = options.logger ?? silentLogger;
  const action = 'CopyPackage';
  const blockSize = options.blockSize ?? DEFAULT_COPY_BLOCK_SIZE;
  const started = Date.now();
  const client = new BlockBlobClient(sasUrl);
  // The first block is small and staged alone: a destination that cannot copy says so at once,
  // before the others start (blocks of one blob may differ in size).
  const ranges: { offset: number; count: number }[] = [];
  const probe = Math.min(COPY_PROBE_BLOCK_SIZE, blockSize, options.size);
  if (probe > 0) ranges.push({ offset: 0, count: probe });
  for (let offset = probe; offset < options.size; offset += blockSize) {
    ranges.push({ offset, count: Math.min(blockSize, options.size - offset) });
  }
  // the form uploadStream gives its ids (a uuid and a 6-digit number): every id of a blob has one length
  const prefix = randomUUID();
  const ids = ranges.map((_, i) => Buffer.from(`${prefix}${String(i).padStart(6, '0')}`).toString('base64'));
  const stage = async (i: number): Promise<void> => {
    const range = ranges[i]!;
    await client.stageBlockFromURL(ids[i]!, sourceUrl, range.offset, range.count, {
      abortSignal: options.abortSignal,
    });
  };
  const count = ranges.length;
  try {
    if (count > 0) {
      try {
        await stage(0);
      } catch (error) {
        if (copyRefused(error)) throw copyRefusedError(action, sasUrl, error as RestError);
        throw error;
      }
    }
    let next = 1;
    const worker = async (): Promise<void> => {
      while (next < count) await stage(next++);
    };
    await Promise.all(
      Array.from({ length: Math.min(options.maxConcurrency ?? DEFAULT_COPY_CONCURRENCY, count) }, worker),
    );
    // The SDK's stageBlockFromURL sends no x-ms-source-if-match: the source's version is checked
    // once all blocks are staged, before they become a blob F&O may read.
    if (options.sourceEtag !== undefined) {
      const now = (await new BlobClient(sourceUrl).getProperties({ abortSignal: options.abortSignal })).etag;
      if (now !== options.sourceEtag) throw sourceChanged(action, sasUrl);
    }
    const response = await client.commitBlockList(ids, {
      abortSignal: options.abortSignal,
      blobHTTPHeaders: { blobContentType: options.contentType ?? 'application/zip' },
    });
    logger.debug(`${action} PUT ${urlForLog(sasUrl)} <- server-side copy, ${options.size} bytes`, {
      action,
      bytes: options.size,
      blocks: count,
      durationMs: Date.now() - started,
    });
    return { bytes: options.size, etag: response.etag, blocks: count };
  } catch (error) {
    throw storageError(action, sasUrl, error, options.abortSignal);
  }
}

/**
 * True when a Put Block From URL failure means "this destination does not copy from that source":
 * Not Implemented (emulators), or a 4xx naming the copy source (CannotVerifyCopySource: the
 * destination could not read it — a firewall, a private endpoint — or an `x-ms-copy-source` it
 * does not accept). A 403 on the write url itself (expired, bad signature) is not: a streamed
 * upload would meet the same refusal.
 */
function copyRefused(error: unknown): boolean {
  if (!(error instanceof RestError) || error.statusCode === undefined) return false;
  const code = error.code ?? (error.details as { errorCode?: unknown } | undefined)?.errorCode;
  if (error.statusCode === 501) return true;
  if (error.statusCode < 400 || error.statusCode >= 500) return false;
  if (typeof code === 'string' && /CopySource|NotImplemented|FeatureNotSupported|NotSupported/i.test(code)) {
    return true;
  }
  // an authorization failure of the write url: a streamed upload would be refused the same way
  if (error.statusCode === 403) return false;
  return error.statusCode === 400 || error.statusCode === 404 || error.statusCode === 409;
}

/** The source was replaced since its ETag was read: transient, a retry copies the version there now. */
function sourceChanged(action: string, url: string): DmfApiError {
  return new DmfApiError(`${action}: the source changed during the copy to ${urlForLog(url)}`, {
    code: httpErrorCode(412),
    action,
    status: 412,
    transient: true,
  });
}

// A RestError carries the request (the urls and the source SAS in a header): never the cause.
function copyRefusedError(action: string, url: string, error: RestError): DmfApiError {
  const code = error.code ?? (error.details as { errorCode?: unknown } | undefined)?.errorCode;
  return new DmfApiError(
    `${action}: ${urlForLog(url)} refused a server-side copy (HTTP ${String(error.statusCode)}${
      typeof code === 'string' ? ` ${code}` : ''
    })`,
    { code: DmfErrorCode.CopyRefused, action, status: error.statusCode, transient: false },
  );
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
