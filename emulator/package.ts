import { parse as parseCsv } from 'csv-parse/sync';
import { XMLParser } from 'fast-xml-parser';
import yauzl from 'yauzl';
import yazl from 'yazl';

/** Why a package could not be used; `stage` says whether F&O refuses the request or fails the run. */
export class PackageProblem extends Error {
  /** `request`: refused with HTTP 400 when the package is submitted; `execution`: the execution fails. */
  readonly stage: 'request' | 'execution';

  constructor(message: string, stage: 'request' | 'execution') {
    super(message);
    this.name = 'PackageProblem';
    this.stage = stage;
  }
}

/** One entity of a manifest. */
export interface ManifestEntity {
  entityName: string;
  inputFilePath: string;
  sourceFormat: string;
  hasEntityMapList: boolean;
  /** Source columns the EntityMapList maps (`XMLField`, else `EntityField`), as written. */
  mappedFields: string[];
  executionUnit: number;
  level: number;
  sequence: number;
}

/** A parsed data file: header row and data rows. */
export interface DataTable {
  columns: string[];
  rows: string[][];
}

/** A package opened and read. */
export interface ReadPackage {
  definitionGroupName: string;
  entities: (ManifestEntity & { table: DataTable })[];
}

/** Namespace of DMF package XML. */
export const DMF_NAMESPACE = 'http://schemas.microsoft.com/dynamics/2015/01/DataManagement';

/** Decodes text by its BOM: UTF-16LE, UTF-16BE or UTF-8 (default). */
export function decodeText(bytes: Buffer): string {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe)
    return bytes.subarray(2).toString('utf16le');
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) {
    const swapped = Buffer.from(bytes.subarray(2));
    swapped.swap16();
    return swapped.toString('utf16le');
  }
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    return bytes.subarray(3).toString('utf8');
  }
  return bytes.toString('utf8');
}

/** Reads every entry of a zip into memory; folders are reported, not skipped. */
export async function readZipEntries(bytes: Buffer): Promise<Map<string, Buffer>> {
  const zip = await yauzl.fromBufferPromise(bytes, { lazyEntries: true, validateEntrySizes: true });
  const entries = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    zip.on('error', reject);
    zip.on('end', () => resolve());
    zip.on('entry', (entry: yauzl.Entry) => {
      if (entry.fileName.endsWith('/')) {
        entries.set(entry.fileName, Buffer.alloc(0));
        zip.readEntry();
        return;
      }
      zip.openReadStream(entry, (err, stream) => {
        if (err) {
          reject(err);
          return;
        }
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('error', reject);
        stream.on('end', () => {
          entries.set(entry.fileName, Buffer.concat(chunks));
          zip.readEntry();
        });
      });
    });
    zip.readEntry();
  });
  return entries;
}

const xml = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  isArray: (name) =>
    ['DataManagementPackageEntityData', 'EntityMap', 'row', 'c', 'si', 'r', 'sheet'].includes(name),
});

function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'object' && '#text' in value) return text((value as Record<string, unknown>)['#text']);
  return '';
}

function findEntry(entries: Map<string, Buffer>, name: string): Buffer | undefined {
  const direct = entries.get(name);
  if (direct) return direct;
  const lower = name.toLowerCase();
  for (const [key, value] of entries) if (key.toLowerCase() === lower) return value;
  return undefined;
}

/** Parses Manifest.xml text into its entities. */
export function parseManifest(manifestText: string): {
  definitionGroupName: string;
  entities: ManifestEntity[];
} {
  const doc = xml.parse(manifestText) as Record<string, unknown>;
  const root = doc.DataManagementPackageManifest as Record<string, unknown> | undefined;
  if (!root || typeof root !== 'object') {
    throw new PackageProblem('The manifest file is not a valid data package manifest.', 'execution');
  }
  const list = (root.PackageEntityList as Record<string, unknown> | undefined)
    ?.DataManagementPackageEntityData;
  const items = Array.isArray(list) ? (list as Record<string, unknown>[]) : [];
  return {
    definitionGroupName: text(root.DefinitionGroupName),
    entities: items.map((e) => {
      const maps = (e.EntityMapList as Record<string, unknown> | undefined)?.EntityMap;
      const mapList = Array.isArray(maps) ? (maps as Record<string, unknown>[]) : [];
      return {
        entityName: text(e.EntityName),
        inputFilePath: text(e.InputFilePath),
        sourceFormat: text(e.SourceFormat) || 'CSV',
        hasEntityMapList: mapList.length > 0,
        mappedFields: mapList.map((m) => text(m.XMLField) || text(m.EntityField)).filter((f) => f !== ''),
        executionUnit: Number(text(e.ExecutionUnit) || 1),
        level: Number(text(e.LevelInExecutionUnit) || 1),
        sequence: Number(text(e.SequenceInLevel) || 1),
      };
    }),
  };
}

/** Parses CSV bytes (UTF-8/UTF-16 by BOM); the first record is the header. */
export function parseCsvTable(bytes: Buffer): DataTable {
  const records: string[][] = parseCsv(decodeText(bytes), {
    relax_column_count: true,
    skip_empty_lines: true,
    relax_quotes: true,
  });
  const [columns = [], ...rows] = records;
  return { columns: columns.map((c) => c.trim()), rows };
}

function columnIndex(ref: string): number {
  const letters = /^[A-Z]+/.exec(ref)?.[0] ?? 'A';
  let n = 0;
  for (const ch of letters) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n - 1;
}

/** Reads the first worksheet of an .xlsx file (shared and inline strings, numbers as text). */
export async function parseXlsxTable(bytes: Buffer): Promise<DataTable> {
  const entries = await readZipEntries(bytes);
  const shared: string[] = [];
  const sst = entries.get('xl/sharedStrings.xml');
  if (sst) {
    const doc = xml.parse(decodeText(sst)) as { sst?: { si?: Record<string, unknown>[] } };
    for (const si of doc.sst?.si ?? []) {
      if (si.t !== undefined) shared.push(text(si.t));
      else
        shared.push(((si.r as Record<string, unknown>[] | undefined) ?? []).map((r) => text(r.t)).join(''));
    }
  }
  const sheetName = [...entries.keys()].filter((k) => /^xl\/worksheets\/sheet\d+\.xml$/.test(k)).sort()[0];
  const sheet = sheetName ? entries.get(sheetName) : undefined;
  if (!sheet) throw new PackageProblem('The Excel file has no worksheet.', 'execution');
  // Attributes are ignored by the shared parser; re-parse cells with attributes for r= and t=.
  const withAttrs = new XMLParser({
    ignoreAttributes: false,
    removeNSPrefix: true,
    parseTagValue: false,
    isArray: (n) => ['row', 'c'].includes(n),
  });
  const doc2 = withAttrs.parse(decodeText(sheet)) as {
    worksheet?: { sheetData?: { row?: { c?: Record<string, unknown>[] }[] } };
  };
  const table: string[][] = [];
  for (const row of doc2.worksheet?.sheetData?.row ?? []) {
    const cells: string[] = [];
    for (const c of row.c ?? []) {
      const idx = columnIndex(text(c['@_r']));
      const type = text(c['@_t']);
      let value = text(c.v);
      if (type === 's') value = shared[Number(value)] ?? '';
      else if (type === 'inlineStr') value = text((c.is as Record<string, unknown> | undefined)?.t);
      cells[idx] = value;
    }
    table.push(Array.from(cells, (v) => v ?? ''));
  }
  const [columns = [], ...rows] = table.filter((r) => r.some((v) => v !== ''));
  return { columns: columns.map((c) => c.trim()), rows };
}

/**
 * Opens a data package as F&O does: refuses non-zips and folders (request stage), and fails the
 * execution for a missing manifest or data file or an unreadable data file.
 */
export async function readPackage(bytes: Buffer): Promise<ReadPackage> {
  let entries: Map<string, Buffer>;
  try {
    entries = await readZipEntries(bytes);
  } catch (error) {
    throw new PackageProblem(`The package is not a valid zip file: ${(error as Error).message}`, 'request');
  }
  const folder = [...entries.keys()].find((k) => k.includes('/') || k.includes('\\'));
  if (folder !== undefined) {
    throw new PackageProblem(
      `The package contains the folder '${folder.split(/[/\\]/)[0]}'. Data packages must hold their files at the root of the zip file.`,
      'request',
    );
  }
  const manifestBytes = findEntry(entries, 'Manifest.xml');
  if (!manifestBytes) throw new PackageProblem('Manifest file is missing from the package.', 'execution');
  if (!findEntry(entries, 'PackageHeader.xml')) {
    throw new PackageProblem('Package header file is missing from the package.', 'execution');
  }
  let manifest: ReturnType<typeof parseManifest>;
  try {
    manifest = parseManifest(decodeText(manifestBytes));
  } catch (error) {
    if (error instanceof PackageProblem) throw error;
    throw new PackageProblem(`The manifest could not be read: ${(error as Error).message}`, 'execution');
  }
  if (manifest.entities.length === 0) throw new PackageProblem('The manifest lists no entity.', 'execution');
  const result: ReadPackage = { definitionGroupName: manifest.definitionGroupName, entities: [] };
  for (const entity of manifest.entities) {
    const data = findEntry(entries, entity.inputFilePath);
    if (!data) {
      throw new PackageProblem(
        `The file '${entity.inputFilePath}' for entity '${entity.entityName}' was not found in the package.`,
        'execution',
      );
    }
    result.entities.push({
      ...entity,
      table: await readDataFile(data, entity.sourceFormat, entity.inputFilePath),
    });
  }
  return result;
}

/** Reads one data file by its source format (CSV family or EXCEL). */
export async function readDataFile(data: Buffer, sourceFormat: string, fileName: string): Promise<DataTable> {
  const format = sourceFormat.toUpperCase();
  try {
    if (format === 'EXCEL' || fileName.toLowerCase().endsWith('.xlsx')) return await parseXlsxTable(data);
    if (
      format.startsWith('CSV') ||
      fileName.toLowerCase().endsWith('.csv') ||
      fileName.toLowerCase().endsWith('.txt')
    ) {
      if (format === 'CSV-UNICODE' && !(data[0] === 0xff && data[1] === 0xfe)) {
        throw new PackageProblem(
          `The file '${fileName}' is not UTF-16LE with a byte order mark, which source format ${sourceFormat} requires.`,
          'execution',
        );
      }
      return parseCsvTable(data);
    }
  } catch (error) {
    if (error instanceof PackageProblem) throw error;
    throw new PackageProblem(
      `The file '${fileName}' could not be read as ${sourceFormat}: ${(error as Error).message}`,
      'execution',
    );
  }
  throw new PackageProblem(
    `The source data format '${sourceFormat}' of '${fileName}' is not supported by the emulator.`,
    'execution',
  );
}

function xmlEscape(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** UTF-16LE with BOM: how Microsoft's packages store their XML files. */
export function utf16leWithBom(value: string): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(value, 'utf16le')]);
}

/** Writes CSV text with CRLF line ends, quoting only where needed. */
export function toCsv(columns: readonly string[], rows: readonly (readonly string[])[]): string {
  const cell = (v: string): string => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return [columns, ...rows].map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}

/** One entity of a package {@link buildPackage} writes. */
export interface PackageEntityInput {
  /** DMF entity label (the manifest's EntityName). */
  entityName: string;
  columns: string[];
  rows: string[][];
  /** The manifest's ExecutionUnit; default 1. */
  executionUnit?: number;
  /** The manifest's LevelInExecutionUnit; default 1. */
  level?: number;
  /** The manifest's SequenceInLevel; default the entity's position in `entities` (1, 2, …). */
  sequence?: number;
  /** Name of its CSV file in the zip (InputFilePath); default `{entityName}.csv`. */
  fileName?: string;
}

/**
 * Builds a package like F&O's exports: Manifest.xml and PackageHeader.xml (UTF-16LE, BOM) and a
 * CSV file per entity, listed in the manifest in the order given, with their execution unit, level
 * and sequence.
 */
export async function buildPackage(options: {
  definitionGroupName: string;
  entities: PackageEntityInput[];
}): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const mtime = new Date();
  const fileName = (e: PackageEntityInput): string => e.fileName ?? `${e.entityName}.csv`;
  const entityXml = options.entities
    .map((e, i) => {
      const maps = e.columns
        .map(
          (c) =>
            `<EntityMap><ArrayIndex>0</ArrayIndex><EntityField>${xmlEscape(c)}</EntityField><EntityFieldConversionList i:nil="true" /><IsAutoDefault>false</IsAutoDefault><IsAutoGenerated>false</IsAutoGenerated><IsDefaultValueEqualNull>false</IsDefaultValueEqualNull><UseTextQualifier>false</UseTextQualifier><XMLField>${xmlEscape(c)}</XMLField></EntityMap>`,
        )
        .join('');
      return (
        `<DataManagementPackageEntityData><EntityMapList>${maps}</EntityMapList><EntityName>${xmlEscape(e.entityName)}</EntityName>` +
        `<EntityTransformList i:nil="true" /><ExcelSheetName /><ExecutionUnit>${e.executionUnit ?? 1}</ExecutionUnit><FailExecutionUnitOnError>false</FailExecutionUnitOnError>` +
        `<FailLevelOnError>false</FailLevelOnError><InputFilePath>${xmlEscape(fileName(e))}</InputFilePath><LevelInExecutionUnit>${e.level ?? 1}</LevelInExecutionUnit>` +
        `<RunBusinessLogic>true</RunBusinessLogic><RunBusinessValidation>false</RunBusinessValidation><SampleFilePath /><SequenceInLevel>${e.sequence ?? i + 1}</SequenceInLevel>` +
        `<SourceFormat>CSV</SourceFormat><ValidationStatus>Yes</ValidationStatus></DataManagementPackageEntityData>`
      );
    })
    .join('');
  const ns = `xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="${DMF_NAMESPACE}"`;
  const name = xmlEscape(options.definitionGroupName);
  const manifest = `<DataManagementPackageManifest ${ns}><DefinitionGroupName>${name}</DefinitionGroupName><Description>${name}</Description><PackageEntityList>${entityXml}</PackageEntityList></DataManagementPackageManifest>`;
  const header = `<DataManagementPackageHeader ${ns}><Description>${name}</Description><ManifestType>Microsoft.Dynamics.AX.Framework.Tools.DataManagement.Serialization.DataManagementPackageManifest</ManifestType><PackageType>DefinitionGroup</PackageType><PackageVersion>2</PackageVersion></DataManagementPackageHeader>`;
  zip.addBuffer(utf16leWithBom(manifest), 'Manifest.xml', { mtime });
  zip.addBuffer(utf16leWithBom(header), 'PackageHeader.xml', { mtime });
  for (const e of options.entities) {
    zip.addBuffer(Buffer.from('\ufeff' + toCsv(e.columns, e.rows), 'utf8'), fileName(e), { mtime });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
