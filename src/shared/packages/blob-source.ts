import type { BlobClient } from '@azure/storage-blob';
import type { RandomAccessSource } from './source.js';

/** What {@link blobSource} needs of a `BlobClient` (a real one, or a test double). */
export type BlobRangeClient = Pick<BlobClient, 'download' | 'getProperties'>;

/** Options of {@link blobSource}. */
export interface BlobSourceOptions {
  /** Aborts every range request. */
  signal?: AbortSignal;
  /** Timeout of each range request in milliseconds. Default 60 000. */
  timeoutMs?: number;
  /** Blob size when already known (skips the `getProperties` call). */
  size?: number;
  /** Bytes per range GET when streaming an entry. Default 4 MiB. */
  chunkSize?: number;
}

/**
 * A {@link RandomAccessSource} reading a blob with range GETs (`BlobClient.download(offset,
 * count)`), so a package in storage can be listed and validated by reading only its central
 * directory and the entries asked for.
 */
export async function blobSource(
  blob: BlobRangeClient,
  options: BlobSourceOptions = {},
): Promise<RandomAccessSource> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const signalFor = (): AbortSignal =>
    options.signal
      ? AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)])
      : AbortSignal.timeout(timeoutMs);
  const size =
    options.size ?? (await blob.getProperties({ abortSignal: signalFor() })).contentLength ?? Number.NaN;
  if (!Number.isFinite(size)) throw new Error('blobSource: the blob did not report its size');
  return {
    size,
    chunkSize: options.chunkSize ?? 4 * 1024 * 1024,
    read: async (offset, length) => {
      const count = Math.min(length, size - offset);
      if (count <= 0) return Buffer.alloc(0);
      const response = await blob.download(offset, count, { abortSignal: signalFor() });
      const body = response.readableStreamBody;
      if (!body) throw new Error('blobSource: download returned no body');
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      return Buffer.concat(chunks);
    },
  };
}
