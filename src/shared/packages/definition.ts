/**
 * Does a package keep its data project's definition? ImportFromPackage into an existing data project
 * needs `overwrite: true`, and then F&O replaces the project's definition — its entities and field
 * mapping — with the package's (RIS issue #75). A package that lacks an entity or a mapped field of
 * the project therefore breaks the project for every later import, and a header-only file did just
 * that in RIS issue #93 ("file #4 destroyed the field mapping"). The reference definition is the
 * data project's template (the configuration's `template`), the only definition of the project the
 * app knows; without one only the header-only rule applies. Pure functions over open packages.
 */
import type { Readable } from 'node:stream';
import { PACKAGE_ERROR_CODES, MANIFEST_FILE_NAME } from './codes.js';
import { parseManifest, type ManifestEntity, type PackageManifest } from './manifest.js';
import type { PackageReader } from './reader.js';
import type { PackageIssue } from './validate.js';
import { detectXmlEncoding } from './xml.js';

/** The first record of a data file and whether another follows. */
export interface DataFileShape {
  /** Column names of the header (unquoted, trimmed). */
  columns: string[];
  /** True when at least one record follows the header. */
  hasRecords: boolean;
}

/** Bytes of a data file read to find its header and the start of its first record. */
export const SHAPE_READ_BYTES = 256 * 1024;

/** Delimiters a DMF CSV format may use (the format's setting, not in the package): the header tells. */
const DELIMITERS = [',', ';', '\t', '|'] as const;

/** Reads at most `maxBytes` of a stream (then destroys it). */
async function head(stream: Readable, maxBytes: number): Promise<{ bytes: Buffer; complete: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      chunks.push(buffer);
      size += buffer.length;
      if (size >= maxBytes) return { bytes: Buffer.concat(chunks).subarray(0, maxBytes), complete: false };
    }
    return { bytes: Buffer.concat(chunks), complete: true };
  } finally {
    stream.destroy();
  }
}

/** Text of a data file's first bytes: UTF-8 or UTF-16 (CSV-Unicode) by BOM, as F&O reads them. */
function decodeText(bytes: Buffer): string {
  const { encoding, bomLength } = detectXmlEncoding(bytes);
  let body = bytes.subarray(bomLength);
  if (encoding !== 'utf-8') {
    body = body.subarray(0, body.length - (body.length % 2));
    if (encoding === 'utf-16be') body = Buffer.from(body).swap16();
    return new TextDecoder('utf-16le').decode(body);
  }
  return new TextDecoder('utf-8').decode(body);
}

/** Splits a CSV header on `delimiter` outside double quotes; `""` inside quotes is a quote. */
function splitFields(line: string, delimiter: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === delimiter) {
      fields.push(field.trim());
      field = '';
    } else field += c;
  }
  fields.push(field.trim());
  return fields;
}

/**
 * The header and whether a record follows, from a delimited data file's first bytes; undefined when
 * the header does not end within them (no judgement is better than a wrong one).
 */
export function csvShape(text: string, complete: boolean): DataFileShape | undefined {
  let quoted = false;
  let end = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && (c === '\n' || c === '\r')) {
      end = i;
      break;
    }
  }
  if (end < 0 && !complete) return undefined;
  const line = end < 0 ? text : text.slice(0, end);
  const rest = end < 0 ? '' : text.slice(end + 1);
  const delimiter = DELIMITERS.reduce((best, d) =>
    splitFields(line, d).length > splitFields(line, best).length ? d : best,
  );
  const columns = splitFields(line, delimiter).filter((c) => c !== '');
  return { columns, hasRecords: rest.trim() !== '' };
}

/** True for the source formats whose data files are delimited text (CSV, CSV-Unicode, TXT formats). */
export function isDelimitedFormat(entity: Pick<ManifestEntity, 'sourceFormat' | 'inputFilePath'>): boolean {
  return /^(csv|txt|tsv)/i.test(entity.sourceFormat) || /\.(csv|txt|tsv)$/i.test(entity.inputFilePath);
}

/** The shape of an entity's delimited data file; undefined for other formats or an unreadable head. */
export async function dataFileShape(
  reader: PackageReader,
  entity: ManifestEntity,
): Promise<DataFileShape | undefined> {
  if (!isDelimitedFormat(entity) || !reader.getEntry(entity.inputFilePath)) return undefined;
  const { bytes, complete } = await head(
    await reader.openEntryStream(entity.inputFilePath),
    SHAPE_READ_BYTES,
  );
  return csvShape(decodeText(bytes), complete);
}

const lower = (s: string): string => s.trim().toLowerCase();
const quoteList = (names: readonly string[]): string => names.map((n) => `'${n}'`).join(', ');

/** What {@link checkDefinition} compares the package with. */
export interface DefinitionReference {
  /** The data project's name in F&O (`definitionGroupId`), for the messages. */
  definitionGroupId: string;
  /** The data project's template, when it has one: its definition is the reference. */
  template?: PackageManifest;
  /** Name of the template (for the messages). */
  templateName?: string;
}

/**
 * The reasons a package would break its data project when imported with `overwrite: true`: an entity
 * of the template missing from the package, fields the template maps that the manifest does not map
 * (a stale manifest) or whose data file has no column for them, and a package whose every data file
 * is header-only (nothing to import; RIS issue #93). Empty when the package keeps the definition.
 */
export async function checkDefinition(
  reader: PackageReader,
  reference: DefinitionReference,
): Promise<PackageIssue[]> {
  const issues: PackageIssue[] = [];
  const manifest = parseManifest(await reader.readEntry(MANIFEST_FILE_NAME));
  const project = `data project '${reference.definitionGroupId}'`;
  const template = reference.template;
  const templateName = reference.templateName ? ` "${reference.templateName}"` : '';
  const shapes = new Map<ManifestEntity, DataFileShape | undefined>();
  for (const entity of manifest.entities) shapes.set(entity, await dataFileShape(reader, entity));

  for (const wanted of template?.entities ?? []) {
    const found = manifest.entities.find((e) => lower(e.entityName) === lower(wanted.entityName));
    if (!found) {
      issues.push({
        code: PACKAGE_ERROR_CODES.dropsEntity,
        message: `The package has no entity '${wanted.entityName}', which the template${templateName} of ${project} has: importing it with overwrite would drop that entity from the data project.`,
      });
      continue;
    }
    if (wanted.mappedFields.length === 0) continue;
    const mapped = new Set(found.mappedFields.map(lower));
    const unmapped = wanted.mappedFields.filter((f) => !mapped.has(lower(f)));
    if (unmapped.length > 0) {
      issues.push({
        code: PACKAGE_ERROR_CODES.dropsMapping,
        file: MANIFEST_FILE_NAME,
        message: `The manifest does not map ${quoteList(unmapped)} of entity '${wanted.entityName}', which the template${templateName} maps: importing it with overwrite would replace the field mapping of ${project} without ${unmapped.length === 1 ? 'it' : 'them'} (a stale or incomplete manifest).`,
      });
    }
    const shape = shapes.get(found);
    if (shape) {
      const columns = new Set(shape.columns.map(lower));
      const absent = wanted.mappedFields.filter((f) => !columns.has(lower(f)));
      if (absent.length > 0) {
        issues.push({
          code: PACKAGE_ERROR_CODES.fileLacksFields,
          file: found.inputFilePath,
          message: `The file has no column ${quoteList(absent)} for entity '${wanted.entityName}', which the template${templateName} of ${project} maps: its header is ${quoteList(shape.columns)}.`,
        });
      }
    }
  }

  const known = [...shapes.values()];
  if (known.length > 0 && known.every((s) => s !== undefined && !s.hasRecords)) {
    issues.push({
      code: PACKAGE_ERROR_CODES.noRecords,
      message: `Every data file of the package holds only a header: there is nothing to import, and importing it with overwrite would replace the definition of ${project} from it (RIS issue #93: a header-only file destroyed the field mapping).`,
    });
  }
  return issues;
}
