import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { BlobServiceClient } from '@azure/storage-blob';
import { describe, expect, inject, it } from 'vitest';
import {
  MANIFEST_FILE_NAME,
  PACKAGE_HEADER_FILE_NAME,
  blobSource,
  buildPackageFromTemplate,
  decodeXml,
  detectFileKind,
  bufferSource,
  openPackage,
  parseHeader,
  parseManifest,
  streamToBuffer,
  validatePackage,
  type BlobRangeClient,
} from '../../../src/shared/packages/index.js';

const FIXTURE = new URL('../../../../shared/fixtures/usmf_asset-major-types-01.zip', import.meta.url)
  .pathname;
const present = existsSync(FIXTURE);
const DATA_FILE = 'Fixed asset major type.xlsx';

describe.skipIf(!present)(
  `the real F&O package (usmf_asset-major-types-01.zip)${present ? '' : ' — skipped: ../shared/fixtures is absent (clone outside CI)'}`,
  () => {
    it('reads and validates without errors or warnings, listing the entity', async () => {
      const report = await validatePackage(FIXTURE, { verifyData: true });
      expect(report.errors).toEqual([]);
      expect(report.warnings).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.entities).toEqual([
        {
          entityName: 'Fixed asset major type',
          executionUnit: 1,
          levelInExecutionUnit: 1,
          sequenceInLevel: 1,
          inputFilePath: DATA_FILE,
          sourceFormat: 'EXCEL',
          hasEntityMapList: true,
          entityMapCount: 2,
          mappedFields: ['DESCRIPTION', 'MAJORTYPEID'],
          isComposite: false,
        },
      ]);
      expect(report.manifest?.definitionGroupName).toBe('Asset-Major-Types');
      expect(report.header?.packageVersion).toBe('1');
      expect(report.files.map((f) => f.name).sort()).toEqual([
        DATA_FILE,
        MANIFEST_FILE_NAME,
        PACKAGE_HEADER_FILE_NAME,
      ]);
    });

    it('round-trips through the template builder unchanged in meaning (and in bytes of the XML files)', async () => {
      const original = await openPackage(FIXTURE);
      const manifestBytes = await original.readEntry(MANIFEST_FILE_NAME);
      const headerBytes = await original.readEntry(PACKAGE_HEADER_FILE_NAME);
      const data = await original.readEntry(DATA_FILE, { maxBytes: 1024 * 1024 });
      await original.close();

      const built = await buildPackageFromTemplate(FIXTURE, { content: data });
      expect(built.dataFileName).toBe(DATA_FILE);
      expect(built.entityName).toBe('Fixed asset major type');
      const zip = await streamToBuffer(built.stream);

      const report = await validatePackage(zip, { verifyData: true });
      expect(report.ok).toBe(true);
      expect(report.warnings).toEqual([]);
      const rebuilt = await openPackage(zip);
      try {
        const before = parseManifest(manifestBytes);
        const after = parseManifest(await rebuilt.readEntry(MANIFEST_FILE_NAME));
        expect(after.xml).toEqual(before.xml);
        expect(after.entities).toEqual(before.entities);
        expect(parseHeader(await rebuilt.readEntry(PACKAGE_HEADER_FILE_NAME)).xml).toEqual(
          parseHeader(headerBytes).xml,
        );
        // F&O's own form is reproduced exactly: UTF-16LE + BOM, no declaration, same element order
        expect(await rebuilt.readEntry(MANIFEST_FILE_NAME)).toEqual(manifestBytes);
        expect(await rebuilt.readEntry(PACKAGE_HEADER_FILE_NAME)).toEqual(headerBytes);
        expect(await rebuilt.readEntry(DATA_FILE, { maxBytes: 1024 * 1024 })).toEqual(data);
      } finally {
        await rebuilt.close();
      }
    });

    it('rewrites InputFilePath to the incoming name and drops the template data file', async () => {
      const built = await buildPackageFromTemplate(
        FIXTURE,
        { content: Buffer.from('not really excel'), fileName: 'majortypes-2026-11-23.xlsx' },
        { dataFileName: 'incoming' },
      );
      const report = await validatePackage(await streamToBuffer(built.stream));
      expect(report.ok).toBe(true);
      expect(report.files.map((f) => f.name).sort()).toEqual([
        MANIFEST_FILE_NAME,
        PACKAGE_HEADER_FILE_NAME,
        'majortypes-2026-11-23.xlsx',
      ]);
      expect(report.entities[0]?.inputFilePath).toBe('majortypes-2026-11-23.xlsx');
      expect(report.entities[0]?.entityMapCount).toBe(2);
    });

    it('tells the package from its inner .xlsx (also a zip) and from text', async () => {
      const bytes = await readFile(FIXTURE);
      expect(await detectFileKind(bufferSource(bytes))).toBe('package');
      const reader = await openPackage(bytes);
      const xlsx = await reader.readEntry(DATA_FILE, { maxBytes: 1024 * 1024 });
      await reader.close();
      expect(await detectFileKind(bufferSource(xlsx))).toBe('zip');
      expect(await detectFileKind(bufferSource(Buffer.from('CUSTOMERACCOUNT,NAME\r\nC1,Contoso\r\n')))).toBe(
        'other',
      );
      expect(decodeXml(Buffer.from('\ufeff<a/>', 'utf8'))).toBe('<a/>');
    });

    it('reads from a blob with range GETs only (Azurite)', async () => {
      const service = BlobServiceClient.fromConnectionString(inject('azuriteConnectionString'));
      const container = service.getContainerClient(`pkg-${Date.now()}`);
      await container.create();
      try {
        const blob = container.getBlockBlobClient('usmf_asset-major-types-01.zip');
        await blob.uploadFile(FIXTURE);
        const ranges: [number, number][] = [];
        const spy: BlobRangeClient = {
          getProperties: (options) => blob.getProperties(options),
          download: (offset, count, options) => {
            ranges.push([offset ?? 0, count ?? -1]);
            return blob.download(offset, count, options);
          },
        };
        const source = await blobSource(spy, { chunkSize: 4096 });
        const report = await validatePackage(source, { verifyData: true });
        expect(report.ok).toBe(true);
        expect(report.entities[0]?.entityName).toBe('Fixed asset major type');
        expect(ranges.length).toBeGreaterThan(1);
        expect(ranges.every(([, count]) => count > 0 && count <= 4096)).toBe(true);
      } finally {
        await container.delete();
      }
    });
  },
);
