import { describe, expect, it } from 'vitest';
import { PackageError } from '../../../src/shared/errors.js';
import {
  MANIFEST_FILE_NAME,
  PACKAGE_ERROR_CODES,
  PACKAGE_HEADER_FILE_NAME,
  PACKAGE_WARNING_CODES,
  PackageValidationError,
  assertValidPackage,
  checkPackageFileName,
  createHeaderXml,
  createManifestXml,
  encodePackageXml,
  openPackage,
  serializeXml,
  sortByExecutionOrder,
  validatePackage,
  type NewManifestSpec,
  type PackageValidationReport,
  type RandomAccessSource,
} from '../../../src/shared/packages/index.js';
import { customersSpec, makeZip, patchDeclaredSize, patchName, type CraftedEntry } from './helpers.js';

const SPEC = customersSpec('Import-Customers', ['CUSTOMERACCOUNT', 'ORGANIZATIONNAME', 'CUSTOMERGROUPID']);
const CSV = 'CUSTOMERACCOUNT,ORGANIZATIONNAME,CUSTOMERGROUPID\r\nC0001,Contoso,10\r\n';
const manifestXml = (spec: NewManifestSpec = SPEC): Buffer => encodePackageXml(createManifestXml(spec));
const headerXml = (): Buffer => encodePackageXml(createHeaderXml({ description: 'Import-Customers' }));

function goodEntries(): CraftedEntry[] {
  return [
    { name: MANIFEST_FILE_NAME, data: manifestXml() },
    { name: PACKAGE_HEADER_FILE_NAME, data: headerXml() },
    { name: 'Customers V3.csv', data: CSV },
  ];
}

const codes = (report: PackageValidationReport): string[] => report.errors.map((e) => e.code);

describe('validatePackage on crafted packages', () => {
  it('accepts a well-formed CSV package', async () => {
    const report = await validatePackage(await makeZip(goodEntries()), { verifyData: true });
    expect(report.errors).toEqual([]);
    expect(report.warnings).toEqual([]);
    expect(report.entities[0]).toMatchObject({
      entityName: 'Customers V3',
      sourceFormat: 'CSV',
      entityMapCount: 3,
    });
  });

  it('refuses a folder inside the zip', async () => {
    const zip = await makeZip([
      ...goodEntries().filter((e) => e.name !== 'Customers V3.csv'),
      { name: 'data/', directory: true },
      { name: 'data/Customers V3.csv', data: CSV },
    ]);
    const report = await validatePackage(zip);
    expect(report.ok).toBe(false);
    expect(report.errors.filter((e) => e.code === PACKAGE_ERROR_CODES.folder).map((e) => e.file)).toEqual([
      'data/',
      'data/Customers V3.csv',
    ]);
    // and the data file is not found at the root either
    expect(codes(report)).toContain(PACKAGE_ERROR_CODES.missingDataFile);
  });

  it('reports a missing manifest, a missing header and a missing data file', async () => {
    const noManifest = await validatePackage(
      await makeZip(goodEntries().filter((e) => e.name !== MANIFEST_FILE_NAME)),
    );
    expect(codes(noManifest)).toEqual([PACKAGE_ERROR_CODES.missingManifest]);
    expect(noManifest.entities).toEqual([]);

    const noHeader = await validatePackage(
      await makeZip(goodEntries().filter((e) => e.name !== PACKAGE_HEADER_FILE_NAME)),
    );
    expect(codes(noHeader)).toEqual([PACKAGE_ERROR_CODES.missingHeader]);

    const noData = await validatePackage(
      await makeZip(goodEntries().filter((e) => e.name !== 'Customers V3.csv')),
    );
    expect(noData.errors).toEqual([
      expect.objectContaining({ code: PACKAGE_ERROR_CODES.missingDataFile, file: 'Customers V3.csv' }),
    ]);
    // a template may lack its data file
    expect(
      (
        await validatePackage(await makeZip(goodEntries().filter((e) => e.name !== 'Customers V3.csv')), {
          requireDataFiles: false,
        })
      ).ok,
    ).toBe(true);
  });

  it('points out a case mismatch of the manifest name', async () => {
    const entries = goodEntries().map((e) =>
      e.name === MANIFEST_FILE_NAME ? { ...e, name: 'manifest.xml' } : e,
    );
    const report = await validatePackage(await makeZip(entries));
    expect(report.errors[0]?.message).toContain('found "manifest.xml"');
  });

  it('refuses a zip bomb by its declared compression ratio without inflating it', async () => {
    const zip = await makeZip([...goodEntries(), { name: 'bomb.csv', data: Buffer.alloc(4 * 1024 * 1024) }]);
    const report = await validatePackage(zip);
    expect(report.errors).toEqual([
      expect.objectContaining({ code: PACKAGE_ERROR_CODES.compressionRatio, file: 'bomb.csv' }),
    ]);
    const reader = await openPackage(zip);
    await expect(reader.openEntryStream('bomb.csv')).rejects.toMatchObject({
      code: PACKAGE_ERROR_CODES.compressionRatio,
    });
    await reader.close();
  });

  it('catches an entry that inflates to more than its header declares, while streaming', async () => {
    const honest = await makeZip([
      ...goodEntries(),
      { name: 'liar.csv', data: Buffer.alloc(2 * 1024 * 1024, 0x41) },
    ]);
    const zip = patchDeclaredSize(honest, 'liar.csv', 1000);
    const shallow = await validatePackage(zip);
    expect(codes(shallow)).toEqual([]); // declared sizes look harmless
    const deep = await validatePackage(zip, { verifyData: true });
    expect(deep.errors).toEqual([
      expect.objectContaining({ code: PACKAGE_ERROR_CODES.sizeMismatch, file: 'liar.csv' }),
    ]);

    const reader = await openPackage(zip);
    const stream = await reader.openEntryStream('liar.csv');
    let received = 0;
    await expect(
      (async () => {
        for await (const chunk of stream) received += (chunk as Buffer).length;
      })(),
    ).rejects.toBeInstanceOf(PackageError);
    expect(received).toBeLessThanOrEqual(1000);
    await reader.close();
  });

  it('enforces size limits on declared and total sizes', async () => {
    const zip = await makeZip([
      ...goodEntries(),
      { name: 'big.csv', data: Buffer.alloc(64 * 1024, 0x42), compress: false },
    ]);
    const report = await validatePackage(zip, { limits: { maxEntryBytes: 32 * 1024 } });
    expect(report.errors).toEqual([
      expect.objectContaining({ code: PACKAGE_ERROR_CODES.tooLarge, file: 'big.csv' }),
    ]);
    await expect(openPackage(zip, { limits: { maxEntries: 2 } })).rejects.toMatchObject({
      code: PACKAGE_ERROR_CODES.tooManyEntries,
    });
  });

  it.each([
    ['xx/evil.csv', '../evil.csv', PACKAGE_ERROR_CODES.unsafeName],
    ['x/etc/passwd', '/etc/passwd'.padStart(12, '/'), PACKAGE_ERROR_CODES.unsafeName],
    ['Xz/evil.csv', 'C:/evil.csv', PACKAGE_ERROR_CODES.unsafeName],
    ['aa_evil.csv', '..\\evil.csv', PACKAGE_ERROR_CODES.unsafeName],
    ['bell_.csv', 'bell\u0007.csv', PACKAGE_ERROR_CODES.unsafeName],
  ])('refuses the hostile name %s → %j', async (placeholder, hostile, code) => {
    const zip = patchName(
      await makeZip([...goodEntries(), { name: placeholder, data: 'x' }]),
      placeholder,
      hostile,
    );
    const report = await validatePackage(zip);
    expect(report.errors).toEqual([expect.objectContaining({ code, file: hostile })]);
  });

  it('judges names like Windows would', () => {
    expect(checkPackageFileName('Customers V3.csv')).toBeUndefined();
    expect(checkPackageFileName('Fixed asset major type.xlsx')).toBeUndefined();
    for (const bad of ['a/../b', 'C:evil', 'con.csv', 'x.csv.', 'a|b', '', 'tab\t.csv']) {
      expect(checkPackageFileName(bad)?.code, bad).toBe(PACKAGE_ERROR_CODES.unsafeName);
    }
  });

  it('refuses entry names over 255 bytes and names with bidi overrides or invisible characters (issue 12.8)', async () => {
    const long = `${'x'.repeat(252)}.csv`; // 256 bytes
    expect(checkPackageFileName(long)?.message).toMatch(/longer than 255 bytes/);
    expect(checkPackageFileName(`${'x'.repeat(251)}.csv`)).toBeUndefined();
    expect(checkPackageFileName('invoice\u202Evsc.exe')?.message).toMatch(/bidirectional-text control/);
    expect(checkPackageFileName('a\u200Bb.csv')?.code).toBe(PACKAGE_ERROR_CODES.unsafeName);
    // the message shows the character escaped, never as itself
    expect(checkPackageFileName('invoice\u202Evsc.exe')?.message).toContain('\\u{202e}');

    const withLong = await validatePackage(await makeZip([...goodEntries(), { name: long, data: 'a' }]));
    expect(codes(withLong)).toEqual([PACKAGE_ERROR_CODES.unsafeName]);
    // an entry whose UTF-8 name holds U+202E (patched in: yazl writes the placeholder's UTF-8 flag)
    const placeholder = 'AAé.csv'; // 8 bytes, non-ASCII so the name is flagged UTF-8
    const spoofed = patchName(
      await makeZip([...goodEntries(), { name: placeholder, data: 'a' }]),
      placeholder,
      'A\u202E.csv', // 8 bytes
    );
    const report = await validatePackage(spoofed);
    expect(codes(report)).toEqual([PACKAGE_ERROR_CODES.unsafeName]);
    expect(report.errors[0]?.message).toMatch(/bidirectional-text control/);
  });

  it('refuses two names that are equal ignoring case', async () => {
    const report = await validatePackage(
      await makeZip([...goodEntries(), { name: 'customers v3.CSV', data: CSV }]),
    );
    expect(codes(report)).toEqual([PACKAGE_ERROR_CODES.duplicateName]);
  });

  it('warns (only) when an entity has no EntityMapList: 0 rows would import', async () => {
    const entries = goodEntries().map((e) =>
      e.name === MANIFEST_FILE_NAME ? { ...e, data: manifestXml({ ...SPEC, columns: [] }) } : e,
    );
    const report = await validatePackage(await makeZip(entries));
    expect(report.ok).toBe(true);
    expect(report.warnings).toEqual([
      expect.objectContaining({
        code: PACKAGE_WARNING_CODES.noEntityMap,
        message: expect.stringContaining('0 rows') as string,
      }),
    ]);
    expect(report.entities[0]?.hasEntityMapList).toBe(false);
  });

  it('orders entities by execution unit, level and sequence', () => {
    const e = (
      entityName: string,
      executionUnit: number,
      levelInExecutionUnit: number,
      sequenceInLevel: number,
    ) => ({
      entityName,
      executionUnit,
      levelInExecutionUnit,
      sequenceInLevel,
      inputFilePath: `${entityName}.csv`,
      sourceFormat: 'CSV',
      hasEntityMapList: true,
      entityMapCount: 1,
      mappedFields: ['A'],
      isComposite: false,
    });
    const sorted = sortByExecutionOrder([e('d', 2, 1, 1), e('c', 1, 2, 1), e('b', 1, 1, 2), e('a', 1, 1, 1)]);
    expect(sorted.map((x) => x.entityName)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('refuses more than one composite entity', async () => {
    const root = createManifestXml({
      ...SPEC,
      entityName: 'Sales orders composite V4',
      dataFileName: 'a.xml',
      sourceFormat: 'XML-Element',
    });
    const second = createManifestXml({
      ...SPEC,
      entityName: 'Purchase orders composite V2',
      dataFileName: 'b.xml',
      sourceFormat: 'XML-Element',
    });
    const list = root.children.find((c) => 'name' in c && c.name === 'PackageEntityList');
    const otherList = second.children.find((c) => 'name' in c && c.name === 'PackageEntityList');
    if (!list || !('children' in list) || !otherList || !('children' in otherList)) throw new Error('shape');
    list.children.push(...otherList.children);
    const zip = await makeZip([
      { name: MANIFEST_FILE_NAME, data: encodePackageXml(root) },
      { name: PACKAGE_HEADER_FILE_NAME, data: headerXml() },
      { name: 'a.xml', data: '<Document/>' },
      { name: 'b.xml', data: '<Document/>' },
    ]);
    const report = await validatePackage(zip);
    expect(codes(report)).toEqual([PACKAGE_ERROR_CODES.multipleComposite]);
    expect(report.entities.map((e) => e.isComposite)).toEqual([true, true]);
    // a custom composite named in the options counts too
    const single = await validatePackage(await makeZip(goodEntries()), {
      compositeEntityNames: ['customers v3'],
    });
    expect(single.entities[0]?.isComposite).toBe(true);
  });

  it('reports bytes that are not a zip, and malformed XML', async () => {
    expect(codes(await validatePackage(Buffer.from('CUSTOMERACCOUNT\r\nC1\r\n')))).toEqual([
      PACKAGE_ERROR_CODES.notZip,
    ]);
    const entries = goodEntries().map((e) =>
      e.name === MANIFEST_FILE_NAME ? { ...e, data: '<DataManagementPackageManifest><Oops>' } : e,
    );
    const report = await validatePackage(await makeZip(entries));
    expect(report.errors).toEqual([
      expect.objectContaining({ code: PACKAGE_ERROR_CODES.xmlInvalid, file: MANIFEST_FILE_NAME }),
    ]);
  });

  it('lets failures of the source itself through (a transient read error is not a broken package)', async () => {
    const zip = await makeZip(goodEntries());
    const outage = new Error('503 Server Busy');
    let reads = 0;
    const flaky: RandomAccessSource = {
      size: zip.length,
      chunkSize: 64,
      read: async (offset, length) => {
        reads += 1;
        if (reads > 3) throw outage;
        return zip.subarray(offset, offset + length);
      },
    };
    await expect(validatePackage(flaky)).rejects.toBe(outage);
    const failingAtOnce: RandomAccessSource = { size: zip.length, read: () => Promise.reject(outage) };
    await expect(validatePackage(failingAtOnce)).rejects.toBe(outage);
  });

  it('has a throwing variant with a stable code and the full report', async () => {
    const zip = await makeZip(goodEntries().filter((e) => e.name !== PACKAGE_HEADER_FILE_NAME));
    const error = await assertValidPackage(zip).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PackageValidationError);
    expect(error).toBeInstanceOf(PackageError);
    expect(error).toMatchObject({ code: PACKAGE_ERROR_CODES.missingHeader, transient: false });
    expect((error as PackageValidationError).report.errors).toHaveLength(1);
    await expect(assertValidPackage(await makeZip(goodEntries()))).resolves.toMatchObject({ ok: true });
  });
});

describe('manifest encodings', () => {
  const text = serializeXml(createManifestXml(SPEC));
  const pretty = `<?xml version="1.0" encoding="utf-8"?>\r\n${text.replace(/></g, '>\r\n  <')}`;
  const variants: [string, Buffer][] = [
    ['UTF-8 without BOM, with declaration and indentation', Buffer.from(pretty, 'utf8')],
    ['UTF-8 with BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, 'utf8')])],
    ['UTF-16LE with BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')])],
    ['UTF-16LE without BOM', Buffer.from(text, 'utf16le')],
    ['UTF-16BE with BOM', Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(text, 'utf16le').swap16()])],
    ['UTF-16BE without BOM', Buffer.from(text, 'utf16le').swap16()],
  ];

  it.each(variants)('reads a manifest in %s', async (_label, bytes) => {
    const entries = goodEntries().map((e) => (e.name === MANIFEST_FILE_NAME ? { ...e, data: bytes } : e));
    const report = await validatePackage(await makeZip(entries));
    expect(report.errors).toEqual([]);
    expect(report.warnings).toEqual([]);
    expect(report.entities).toEqual([
      expect.objectContaining({
        entityName: 'Customers V3',
        inputFilePath: 'Customers V3.csv',
        entityMapCount: 3,
      }),
    ]);
  });

  it('refuses bytes invalid in the detected encoding', async () => {
    const entries = goodEntries().map((e) =>
      e.name === MANIFEST_FILE_NAME ? { ...e, data: Buffer.from([0x3c, 0x61, 0xff, 0x2f, 0x3e]) } : e,
    );
    const report = await validatePackage(await makeZip(entries));
    expect(codes(report)).toEqual([PACKAGE_ERROR_CODES.xmlEncoding]);
  });
});
