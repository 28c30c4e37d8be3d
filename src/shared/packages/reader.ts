import { Readable, Transform, type TransformCallback } from 'node:stream';
import yauzl from 'yauzl';
import { PackageError } from '../errors.js';
import { PACKAGE_ERROR_CODES } from './codes.js';
import { bufferSource, fileSource, isRandomAccessSource, type RandomAccessSource } from './source.js';

/** Limits that keep a hostile or broken package from exhausting memory, disk or time. */
export interface PackageLimits {
  /** Most entries in the zip. Default 1 000. */
  maxEntries: number;
  /** Largest uncompressed entry in bytes (declared and actually inflated). Default 4 GiB. */
  maxEntryBytes: number;
  /** Largest sum of uncompressed entries in bytes (declared and inflated). Default 8 GiB. */
  maxTotalBytes: number;
  /** Highest uncompressed/compressed ratio of one entry. Default 200 (zip bombs reach 1 000+). */
  maxCompressionRatio: number;
  /** Entries smaller than this (uncompressed) are exempt from the ratio check. Default 1 MiB. */
  ratioCheckMinBytes: number;
  /** Largest Manifest.xml / PackageHeader.xml in bytes. Default 16 MiB. */
  maxXmlBytes: number;
}

/** Default {@link PackageLimits}. */
export const DEFAULT_PACKAGE_LIMITS: Readonly<PackageLimits> = Object.freeze({
  maxEntries: 1_000,
  maxEntryBytes: 4 * 1024 ** 3,
  maxTotalBytes: 8 * 1024 ** 3,
  maxCompressionRatio: 200,
  ratioCheckMinBytes: 1024 ** 2,
  maxXmlBytes: 16 * 1024 ** 2,
});

/** One entry of the zip's central directory. */
export interface PackageEntry {
  /** Name as stored (decoded from UTF-8 or CP437; backslashes kept so they can be refused). */
  name: string;
  /** True for a directory entry (name ends with `/`). */
  isDirectory: boolean;
  /** Declared compressed size. */
  compressedSize: number;
  /** Declared uncompressed size. */
  uncompressedSize: number;
  /** 0 stored, 8 deflate. */
  compressionMethod: number;
  /** True when the entry is encrypted. */
  encrypted: boolean;
}

/** A package opened for reading. Close it when done. */
export interface PackageReader {
  /** Every central-directory entry, in zip order. */
  readonly entries: readonly PackageEntry[];
  /** Effective limits. */
  readonly limits: Readonly<PackageLimits>;
  /** Size of the zip in bytes. */
  readonly size: number;
  /** The entry with exactly this name. */
  getEntry(name: string): PackageEntry | undefined;
  /**
   * Streams an entry's inflated bytes. Refuses (PackageError) encrypted entries, unsupported
   * compression, and declared sizes over the limits; while streaming, counts the bytes really
   * inflated and fails the stream with `PACKAGE_ENTRY_SIZE_MISMATCH`/`PACKAGE_TOO_LARGE` as soon
   * as they exceed the declared size or a limit.
   */
  openEntryStream(name: string, options?: { maxBytes?: number }): Promise<Readable>;
  /** Reads an entry into memory (for the XML files); `maxBytes` defaults to `limits.maxXmlBytes`. */
  readEntry(name: string, options?: { maxBytes?: number }): Promise<Buffer>;
  /** Closes the zip and, when the reader opened it, the source. */
  close(): Promise<void>;
}

/** A package to read: a source, bytes in memory, or a local file path. */
export type PackageInput = RandomAccessSource | Uint8Array | string;

/** Options of {@link openPackage}. */
export interface OpenPackageOptions {
  /** Overrides of {@link DEFAULT_PACKAGE_LIMITS}. */
  limits?: Partial<PackageLimits>;
}

/** Wraps failures of the underlying source so they are not mistaken for a broken zip. */
class SourceReadFailure extends Error {}

class SourceReader extends yauzl.RandomAccessReader {
  constructor(private readonly source: RandomAccessSource) {
    super();
  }

  override _readStreamForRange(start: number, end: number): Readable {
    const source = this.source;
    const chunk = source.chunkSize ?? 1024 * 1024;
    async function* ranges(): AsyncGenerator<Buffer> {
      // a source may answer with fewer bytes than asked (e.g. a short range read): advance by what came
      for (let position = start; position < end;) {
        let bytes: Buffer;
        try {
          bytes = await source.read(position, Math.min(chunk, end - position));
        } catch (error) {
          throw new SourceReadFailure('package source read failed', { cause: error });
        }
        if (bytes.length === 0) return;
        position += bytes.length;
        yield bytes;
      }
    }
    return Readable.from(ranges(), { objectMode: false });
  }
}

function unwrapSourceFailure(error: unknown): unknown {
  return error instanceof SourceReadFailure ? error.cause : error;
}

async function toSource(input: PackageInput): Promise<{ source: RandomAccessSource; owned: boolean }> {
  if (typeof input === 'string') return { source: await fileSource(input), owned: true };
  if (isRandomAccessSource(input)) return { source: input, owned: false };
  return { source: bufferSource(input), owned: false };
}

/** Checks an entry's declared metadata against the limits; returns the problem, if any. */
export function checkDeclaredEntry(
  entry: PackageEntry,
  limits: Readonly<PackageLimits>,
): { code: string; message: string } | undefined {
  if (entry.encrypted) return { code: PACKAGE_ERROR_CODES.encrypted, message: `${entry.name} is encrypted` };
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    return {
      code: PACKAGE_ERROR_CODES.unsupportedCompression,
      message: `${entry.name} uses unsupported compression method ${entry.compressionMethod}`,
    };
  }
  if (entry.uncompressedSize > limits.maxEntryBytes) {
    return {
      code: PACKAGE_ERROR_CODES.tooLarge,
      message: `${entry.name} declares ${entry.uncompressedSize} bytes, more than the limit of ${limits.maxEntryBytes}`,
    };
  }
  const ratio = entry.uncompressedSize / Math.max(1, entry.compressedSize);
  if (entry.uncompressedSize >= limits.ratioCheckMinBytes && ratio > limits.maxCompressionRatio) {
    return {
      code: PACKAGE_ERROR_CODES.compressionRatio,
      message: `${entry.name} has a compression ratio of ${Math.round(ratio)}:1, above the limit of ${limits.maxCompressionRatio}:1 (possible zip bomb)`,
    };
  }
  return undefined;
}

/**
 * Opens a data package for random-access reading: only the central directory is read now;
 * entries are inflated on demand. Throws `PackageError` `PACKAGE_NOT_ZIP` when the bytes are
 * not a zip and `PACKAGE_TOO_MANY_ENTRIES` over the entry limit; errors of the source itself
 * (I/O, network) propagate unchanged.
 */
export async function openPackage(
  input: PackageInput,
  options: OpenPackageOptions = {},
): Promise<PackageReader> {
  const limits: PackageLimits = { ...DEFAULT_PACKAGE_LIMITS, ...options.limits };
  const { source, owned } = await toSource(input);
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.fromRandomAccessReaderPromise(new SourceReader(source), source.size, {
      lazyEntries: true,
      autoClose: false,
      // we decode and judge names ourselves, to report unsafe names instead of aborting
      decodeStrings: false,
      // we count inflated bytes ourselves (and fail with a PackageError)
      validateEntrySizes: false,
    });
  } catch (error) {
    if (owned) await source.close?.();
    const cause = unwrapSourceFailure(error);
    if (cause !== error) throw cause;
    throw new PackageError(`Not a readable zip file: ${(error as Error).message}`, {
      code: PACKAGE_ERROR_CODES.notZip,
      cause: error,
    });
  }

  const closeAll = async (): Promise<void> => {
    zip.close();
    if (owned) await source.close?.();
  };

  if (zip.entryCount > limits.maxEntries) {
    await closeAll();
    throw new PackageError(
      `The zip has ${zip.entryCount} entries, more than the limit of ${limits.maxEntries}`,
      {
        code: PACKAGE_ERROR_CODES.tooManyEntries,
      },
    );
  }

  const raw: yauzl.Entry[] = [];
  try {
    for await (const entry of zip.eachEntry()) raw.push(entry);
  } catch (error) {
    await closeAll();
    const cause = unwrapSourceFailure(error);
    if (cause !== error) throw cause;
    throw new PackageError(`Corrupt zip central directory: ${(error as Error).message}`, {
      code: PACKAGE_ERROR_CODES.notZip,
      cause: error,
    });
  }

  const entries: PackageEntry[] = [];
  const byName = new Map<string, yauzl.Entry>();
  for (const entry of raw) {
    const name = yauzl.getFileNameLowLevel(
      entry.generalPurposeBitFlag,
      entry.fileNameRaw,
      entry.extraFields,
      true, // strict: keep backslashes so they can be refused
    );
    entries.push({
      name,
      isDirectory: name.endsWith('/'),
      compressedSize: entry.compressedSize,
      uncompressedSize: entry.uncompressedSize,
      compressionMethod: entry.compressionMethod,
      encrypted: entry.isEncrypted(),
    });
    if (!byName.has(name)) byName.set(name, entry);
  }

  let inflatedTotal = 0;
  const infoByName = new Map(entries.map((e) => [e.name, e] as const));

  const openEntryStream = async (name: string, opts: { maxBytes?: number } = {}): Promise<Readable> => {
    const info = infoByName.get(name);
    const entry = byName.get(name);
    if (!info || !entry) {
      throw new PackageError(`The package has no file named "${name}"`, {
        code: PACKAGE_ERROR_CODES.entryNotFound,
      });
    }
    const problem = checkDeclaredEntry(info, limits);
    if (problem) throw new PackageError(problem.message, { code: problem.code });
    const maxBytes = Math.min(opts.maxBytes ?? limits.maxEntryBytes, limits.maxEntryBytes);
    if (info.uncompressedSize > maxBytes) {
      throw new PackageError(
        `${name} declares ${info.uncompressedSize} bytes, more than the limit of ${maxBytes}`,
        {
          code: PACKAGE_ERROR_CODES.tooLarge,
        },
      );
    }
    let stream: Readable;
    try {
      stream = await zip.openReadStreamPromise(entry);
    } catch (error) {
      const cause = unwrapSourceFailure(error);
      if (cause !== error) throw cause;
      throw new PackageError(`Cannot read ${name}: ${(error as Error).message}`, {
        code: PACKAGE_ERROR_CODES.notZip,
        cause: error,
      });
    }
    let count = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback: TransformCallback) {
        count += chunk.length;
        inflatedTotal += chunk.length;
        if (count > info.uncompressedSize) {
          callback(
            new PackageError(
              `${name} inflates to more than its declared ${info.uncompressedSize} bytes (possible zip bomb)`,
              { code: PACKAGE_ERROR_CODES.sizeMismatch },
            ),
          );
        } else if (inflatedTotal > limits.maxTotalBytes) {
          callback(
            new PackageError(`The package inflates to more than the limit of ${limits.maxTotalBytes} bytes`, {
              code: PACKAGE_ERROR_CODES.tooLarge,
            }),
          );
        } else callback(null, chunk);
      },
      flush(callback: TransformCallback) {
        if (count !== info.uncompressedSize) {
          callback(
            new PackageError(`${name} inflated to ${count} bytes but declares ${info.uncompressedSize}`, {
              code: PACKAGE_ERROR_CODES.sizeMismatch,
            }),
          );
        } else callback();
      },
    });
    stream.on('error', (error: unknown) => {
      const cause = unwrapSourceFailure(error);
      counter.destroy(
        cause !== error || error instanceof PackageError
          ? (cause as Error)
          : new PackageError(`Cannot inflate ${name}: ${(error as Error).message}`, {
              code: PACKAGE_ERROR_CODES.notZip,
              cause: error,
            }),
      );
    });
    counter.on('close', () => stream.destroy());
    return stream.pipe(counter);
  };

  return {
    entries,
    limits,
    size: source.size,
    getEntry: (name) => infoByName.get(name),
    openEntryStream,
    readEntry: async (name, opts = {}) => {
      const stream = await openEntryStream(name, { maxBytes: opts.maxBytes ?? limits.maxXmlBytes });
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
    close: closeAll,
  };
}

/**
 * Collects a stream into one Buffer, failing with `PackageError` `PACKAGE_TOO_LARGE` past
 * `maxBytes` (default 256 MiB). For small packages and tests; large packages should be piped.
 */
export async function streamToBuffer(
  stream: NodeJS.ReadableStream,
  options: { maxBytes?: number } = {},
): Promise<Buffer> {
  const maxBytes = options.maxBytes ?? 256 * 1024 ** 2;
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    total += bytes.length;
    if (total > maxBytes) {
      throw new PackageError(`Stream is larger than ${maxBytes} bytes`, {
        code: PACKAGE_ERROR_CODES.tooLarge,
      });
    }
    chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}
