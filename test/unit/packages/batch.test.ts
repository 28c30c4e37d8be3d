/** Multi-entity templates: raw files matched to entities by pattern, one package from a batch. */
import { buildOrdersBatchPackage, buildPackage, sampleOrdersCsv } from '@dmf-functions/emulator';
import { describe, expect, it } from 'vitest';
import {
  MANIFEST_FILE_NAME,
  PACKAGE_ERROR_CODES,
  buildBatchPackageFromTemplate,
  entityMatchProblems,
  matchEntityFiles,
  matchesFilePattern,
  openPackage,
  parseManifest,
  sortByExecutionOrder,
  streamToBuffer,
  validatePackage,
} from '../../../src/shared/packages/index.js';
import { PackageError } from '../../../src/shared/errors.js';
import { caughtAs } from '../../support/caught.js';

const caught = caughtAs(PackageError);

const HEADERS = 'Sales order headers V2';
const LINES = 'Sales order lines V2';
const ORDER_ENTITIES = [
  { entity: HEADERS, files: '*header*.csv' },
  { entity: LINES, files: '*lines*.csv' },
];

describe('file patterns', () => {
  it('match whole names, case-insensitively, with * and ? only', () => {
    expect(matchesFilePattern('*header*.csv', 'orders-HEADER-2026.CSV')).toBe(true);
    expect(matchesFilePattern('*header*.csv', 'orders-header.csv.bak')).toBe(false);
    expect(matchesFilePattern('lines-??.csv', 'lines-01.csv')).toBe(true);
    expect(matchesFilePattern('lines-??.csv', 'lines-001.csv')).toBe(false);
    // everything else is literal: a dot is a dot, brackets are brackets
    expect(matchesFilePattern('a.csv', 'abcsv')).toBe(false);
    expect(matchesFilePattern('[x]+(1).csv', '[x]+(1).csv')).toBe(true);
    expect(matchesFilePattern('[x].csv', 'x.csv')).toBe(false);
  });

  it('find each entity its one file, and name every problem', () => {
    const name = (f: string): string => f;
    const ok = matchEntityFiles(ORDER_ENTITIES, ['orders-lines.csv', 'orders-header.csv'], name);
    expect(ok.matched).toEqual([
      { entity: HEADERS, file: 'orders-header.csv' },
      { entity: LINES, file: 'orders-lines.csv' },
    ]);
    expect(ok.missing).toEqual([]);
    expect(entityMatchProblems(ok, name)).toEqual([]);

    const missing = matchEntityFiles(ORDER_ENTITIES, ['orders-header.csv'], name);
    expect(missing.missing).toEqual([LINES]);

    const optional = matchEntityFiles(
      [ORDER_ENTITIES[0]!, { ...ORDER_ENTITIES[1]!, optional: true }],
      ['orders-header.csv'],
      name,
    );
    expect(optional).toMatchObject({ missing: [], absentOptional: [LINES] });

    const messy = matchEntityFiles(
      ORDER_ENTITIES,
      ['a-header.csv', 'b-header.csv', 'header-lines.csv', 'notes.txt'],
      name,
    );
    expect(messy.matched).toEqual([]);
    expect(messy.missing).toEqual([LINES]);
    expect(entityMatchProblems(messy, name)).toEqual([
      'file "notes.txt" matches no entity\'s file pattern',
      `file "header-lines.csv" matches the patterns of several entities (${HEADERS}, ${LINES})`,
      `entity "${HEADERS}" is matched by several files (a-header.csv, b-header.csv)`,
    ]);
  });
});

describe('buildBatchPackageFromTemplate', () => {
  const csv = sampleOrdersCsv();
  const template = (): Promise<Buffer> => buildOrdersBatchPackage({ headers: [], lines: [] });

  it('fills every entity of the template with its file and keeps units, levels and sequences', async () => {
    const built = await buildBatchPackageFromTemplate(
      await template(),
      [
        // given lines first: the manifest's order numbers decide, not the order of the files
        { entityName: LINES, data: { content: Buffer.from(csv.lines), fileName: 'lines-2026.csv' } },
        { entityName: 'sales order HEADERS v2', data: { content: Buffer.from(csv.header) } },
      ],
      { mtime: new Date('2026-01-01T00:00:00Z') },
    );
    expect(built.entities.map((e) => [e.entityName, e.sequenceInLevel, e.filled])).toEqual([
      [HEADERS, 1, true],
      [LINES, 2, true],
    ]);
    const zip = await streamToBuffer(built.stream);
    expect((await validatePackage(zip, { verifyData: true })).ok).toBe(true);
    const reader = await openPackage(zip);
    try {
      const manifest = parseManifest(await reader.readEntry(MANIFEST_FILE_NAME));
      expect(sortByExecutionOrder(manifest.entities).map((e) => [e.entityName, e.inputFilePath])).toEqual([
        [HEADERS, 'orders-header.csv'],
        [LINES, 'orders-lines.csv'],
      ]);
      expect((await reader.readEntry('orders-header.csv')).toString('utf8')).toBe(csv.header);
      expect((await reader.readEntry('orders-lines.csv')).toString('utf8')).toBe(csv.lines);
    } finally {
      await reader.close();
    }
  });

  it('keeps the template file of an optional entity without a file, and refuses a required one', async () => {
    const kept = await buildBatchPackageFromTemplate(
      await template(),
      [{ entityName: HEADERS, data: { content: Buffer.from(csv.header) } }],
      { optionalEntities: [LINES] },
    );
    expect(kept.entities.map((e) => e.filled)).toEqual([true, false]);
    const zip = await streamToBuffer(kept.stream);
    const reader = await openPackage(zip);
    try {
      expect((await reader.readEntry('orders-lines.csv')).toString('utf8')).toMatch(
        /^\uFEFF?INVENTORYLOTID,/,
      );
    } finally {
      await reader.close();
    }

    const refused = await caught(
      buildBatchPackageFromTemplate(await template(), [
        { entityName: HEADERS, data: { content: Buffer.from(csv.header) } },
      ]),
    );
    expect(refused).toMatchObject({ code: PACKAGE_ERROR_CODES.templateEntityMissing });
    expect(String(refused)).toContain(`"${LINES}" gets no file and is not optional`);
  });

  it('refuses a file for an entity the template lacks, and two files for one entity', async () => {
    const unknown = await caught(
      buildBatchPackageFromTemplate(await template(), [
        { entityName: 'Customers V3', data: { content: Buffer.from('x') } },
      ]),
    );
    expect(unknown).toMatchObject({ code: PACKAGE_ERROR_CODES.templateEntity });
    const twice = await caught(
      buildBatchPackageFromTemplate(await template(), [
        { entityName: HEADERS, data: { content: Buffer.from(csv.header) } },
        { entityName: HEADERS, data: { content: Buffer.from(csv.header) } },
        { entityName: LINES, data: { content: Buffer.from(csv.lines) } },
      ]),
    );
    expect(twice).toMatchObject({ code: PACKAGE_ERROR_CODES.builderInput });
  });

  it('orders three entities across levels as the template says', async () => {
    const three = await buildPackage({
      definitionGroupName: 'Customers3',
      entities: [
        { entityName: 'Customers V3', columns: ['CUSTOMERACCOUNT'], rows: [], level: 2, sequence: 1 },
        { entityName: 'Customer groups', columns: ['CUSTOMERGROUPID'], rows: [], level: 1, sequence: 1 },
        { entityName: 'Customer addresses', columns: ['CUSTOMERACCOUNT'], rows: [], level: 2, sequence: 2 },
      ],
    });
    const built = await buildBatchPackageFromTemplate(three, [
      { entityName: 'Customer addresses', data: { content: Buffer.from('CUSTOMERACCOUNT\r\nC1\r\n') } },
      { entityName: 'Customers V3', data: { content: Buffer.from('CUSTOMERACCOUNT\r\nC1\r\n') } },
      { entityName: 'Customer groups', data: { content: Buffer.from('CUSTOMERGROUPID\r\nG1\r\n') } },
    ]);
    built.stream.resume();
    expect(built.entities.map((e) => e.entityName)).toEqual([
      'Customer groups',
      'Customers V3',
      'Customer addresses',
    ]);
  });
});
