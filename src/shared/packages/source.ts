import { open } from 'node:fs/promises';

/**
 * Random access to the bytes of a package, wherever they are: a Buffer, a local file, or a blob
 * read with range GETs. The zip reader asks only for the ranges it needs (the central directory,
 * then one entry at a time), so a package is never loaded whole into memory.
 */
export interface RandomAccessSource {
  /** Total size in bytes. */
  readonly size: number;
  /** Reads exactly `length` bytes at `offset` (fewer only past the end). */
  read(offset: number, length: number): Promise<Buffer>;
  /** Releases the source (file handle, …). Optional; idempotent. */
  close?(): Promise<void>;
  /** Preferred read size for sequential streaming; default 1 MiB. */
  readonly chunkSize?: number;
}

/** True when `value` looks like a {@link RandomAccessSource}. */
export function isRandomAccessSource(value: unknown): value is RandomAccessSource {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as RandomAccessSource).size === 'number' &&
    typeof (value as RandomAccessSource).read === 'function'
  );
}

/** A {@link RandomAccessSource} over bytes already in memory (no copy). */
export function bufferSource(buffer: Uint8Array): RandomAccessSource {
  const bytes = Buffer.isBuffer(buffer)
    ? buffer
    : Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  return {
    size: bytes.length,
    read: async (offset, length) => bytes.subarray(offset, Math.min(bytes.length, offset + length)),
  };
}

/**
 * Opens a local file as a {@link RandomAccessSource}. Call `close()` when done (the package
 * reader does it for sources it opened itself).
 */
export async function fileSource(path: string): Promise<RandomAccessSource> {
  const handle = await open(path, 'r');
  let closed = false;
  try {
    const { size } = await handle.stat();
    return {
      size,
      read: async (offset, length) => {
        const target = Buffer.allocUnsafe(Math.max(0, Math.min(length, size - offset)));
        let filled = 0;
        while (filled < target.length) {
          const { bytesRead } = await handle.read(target, filled, target.length - filled, offset + filled);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        return target.subarray(0, filled);
      },
      close: async () => {
        if (closed) return;
        closed = true;
        await handle.close();
      },
    };
  } catch (error) {
    await handle.close();
    throw error;
  }
}
