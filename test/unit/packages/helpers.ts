import yazl from 'yazl';
import { streamToBuffer, type NewManifestSpec } from '../../../src/shared/packages/index.js';

/** A manifest spec of entity `Customers V3`, read from `Customers V3.csv` (CSV) with `columns`. */
export function customersSpec(definitionGroupName: string, columns: string[]): NewManifestSpec {
  return {
    entityName: 'Customers V3',
    dataFileName: 'Customers V3.csv',
    sourceFormat: 'CSV',
    definitionGroupName,
    columns,
  };
}

/** One file of a crafted zip. */
export interface CraftedEntry {
  name: string;
  data?: Buffer | string;
  directory?: boolean;
  compress?: boolean;
}

/** Builds a zip in memory with yazl (names must be ones yazl accepts; see patchName). */
export async function makeZip(entries: readonly CraftedEntry[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const mtime = new Date('2026-01-01T00:00:00Z');
  for (const e of entries) {
    if (e.directory) zip.addEmptyDirectory(e.name, { mtime });
    else {
      const data = typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
      zip.addBuffer(data, e.name, { mtime, compress: e.compress ?? true });
    }
  }
  zip.end();
  return streamToBuffer(zip.outputStream);
}

/**
 * Replaces every occurrence of `placeholder` (local header and central directory) with `name`
 * of the same byte length: yazl refuses unsafe names, so hostile zips are patched after the fact.
 */
export function patchName(zip: Buffer, placeholder: string, name: string): Buffer {
  const from = Buffer.from(placeholder);
  const to = Buffer.from(name);
  if (from.length !== to.length) throw new Error('patchName needs names of equal byte length');
  const out = Buffer.from(zip);
  let at = out.indexOf(from);
  let count = 0;
  while (at >= 0) {
    to.copy(out, at);
    count += 1;
    at = out.indexOf(from, at + to.length);
  }
  if (count === 0) throw new Error(`placeholder ${placeholder} not found`);
  return out;
}

/** Overwrites the declared uncompressed size of `name` in the central directory (a lying header). */
export function patchDeclaredSize(zip: Buffer, name: string, size: number): Buffer {
  const out = Buffer.from(zip);
  for (let i = out.length - 22; i >= 0; i -= 1) {
    if (out.readUInt32LE(i) !== 0x02014b50) continue;
    const nameLength = out.readUInt16LE(i + 28);
    if (out.subarray(i + 46, i + 46 + nameLength).toString('utf8') === name) {
      out.writeUInt32LE(size, i + 24);
      return out;
    }
  }
  throw new Error(`central directory record of ${name} not found`);
}
