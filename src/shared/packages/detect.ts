import { PackageError } from '../errors.js';
import { MANIFEST_FILE_NAME, PACKAGE_ERROR_CODES } from './codes.js';
import { openPackage } from './reader.js';
import type { RandomAccessSource } from './source.js';

/** Bytes {@link hasZipMagic} needs from the start of a file. */
export const ZIP_MAGIC_LENGTH = 4;

/**
 * True when `head` (the first bytes of a file) starts like a zip: a local file header
 * (`PK\x03\x04`) or an empty archive (`PK\x05\x06`). Excel .xlsx files are zips too: use
 * {@link detectFileKind} to tell a data package from them.
 */
export function hasZipMagic(head: Uint8Array): boolean {
  return (
    head.length >= ZIP_MAGIC_LENGTH &&
    head[0] === 0x50 &&
    head[1] === 0x4b &&
    ((head[2] === 0x03 && head[3] === 0x04) || (head[2] === 0x05 && head[3] === 0x06))
  );
}

/** What a file is, for the import pipeline's "wrap it in a package?" decision. */
export type FileKind = 'package' | 'zip' | 'other';

/**
 * Classifies a file: `'package'` is a zip with `Manifest.xml` at its root (send as is),
 * `'zip'` another zip (e.g. an .xlsx: a raw data file to wrap), `'other'` anything else (CSV,
 * XML, …: wrap). Reads the magic bytes, then only the zip's central directory.
 */
export async function detectFileKind(source: RandomAccessSource): Promise<FileKind> {
  const head = await source.read(0, ZIP_MAGIC_LENGTH);
  if (!hasZipMagic(head)) return 'other';
  let reader;
  try {
    reader = await openPackage(source);
  } catch (error) {
    if (!(error instanceof PackageError)) throw error;
    return error.code === PACKAGE_ERROR_CODES.notZip ? 'other' : 'zip';
  }
  try {
    return reader.getEntry(MANIFEST_FILE_NAME) ? 'package' : 'zip';
  } finally {
    await reader.close();
  }
}
