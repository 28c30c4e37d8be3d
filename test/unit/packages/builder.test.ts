import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  MANIFEST_FILE_NAME,
  PACKAGE_ERROR_CODES,
  PACKAGE_HEADER_FILE_NAME,
  PACKAGE_WARNING_CODES,
  buildPackageFromTemplate,
  childElement,
  childElements,
  createManifestXml,
  createPackage,
  decodeXml,
  encodePackageXml,
  hasZipMagic,
  localName,
  openPackage,
  parseManifest,
  parseXml,
  serializeXml,
  streamToBuffer,
  validatePackage,
  writePackageTo,
  type NewPackageSpec,
} from '../../../src/shared/packages/index.js';
import { makeZip } from './helpers.js';

const CUSTOMERS: NewPackageSpec = {
  entityName: 'Customers V3',
  dataFileName: 'Customers V3.csv',
  sourceFormat: 'CSV',
  definitionGroupName: 'Import-Customers',
  columns: ['CUSTOMERACCOUNT', 'ORGANIZATIONNAME', 'CUSTOMERGROUPID', 'SALESCURRENCYCODE'],
  mtime: new Date('2026-11-23T10:00:00Z'),
};

/** A CSV of `rows` customers, produced lazily so the test never holds it whole. */
function csvStream(rows: number): Readable {
  return Readable.from(
    (function* () {
      yield 'CUSTOMERACCOUNT,ORGANIZATIONNAME,CUSTOMERGROUPID,SALESCURRENCYCODE\r\n';
      let batch = '';
      for (let i = 0; i < rows; i += 1) {
        batch += `C${String(i).padStart(6, '0')},"Customer ${i}, Inc.",${i % 90},USD\r\n`;
        if (batch.length >= 64 * 1024) {
          yield batch;
          batch = '';
        }
      }
      yield batch;
    })(),
    { objectMode: false },
  );
}

async function sha256(stream: NodeJS.ReadableStream): Promise<{ hash: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { hash: hash.digest('hex'), bytes };
}

describe('createPackage', () => {
  it('builds a Customers V3 CSV package in F&O form that validates and reads back', async () => {
    const csv =
      'CUSTOMERACCOUNT,ORGANIZATIONNAME,CUSTOMERGROUPID,SALESCURRENCYCODE\r\nC0001,Contoso,10,USD\r\n';
    const zip = await streamToBuffer(createPackage(CUSTOMERS, { content: Buffer.from(csv) }));
    expect(hasZipMagic(zip)).toBe(true);
    const report = await validatePackage(zip, { verifyData: true });
    expect(report.errors).toEqual([]);
    expect(report.warnings).toEqual([]);
    expect(report.entities).toEqual([
      {
        entityName: 'Customers V3',
        executionUnit: 1,
        levelInExecutionUnit: 1,
        sequenceInLevel: 1,
        inputFilePath: 'Customers V3.csv',
        sourceFormat: 'CSV',
        hasEntityMapList: true,
        entityMapCount: 4,
        mappedFields: ['CUSTOMERACCOUNT', 'ORGANIZATIONNAME', 'CUSTOMERGROUPID', 'SALESCURRENCYCODE'],
        isComposite: false,
      },
    ]);
    expect(report.manifest?.definitionGroupName).toBe('Import-Customers');

    const reader = await openPackage(zip);
    const manifest = await reader.readEntry(MANIFEST_FILE_NAME);
    // UTF-16LE with BOM, no XML declaration, F&O's namespace
    expect([...manifest.subarray(0, 4)]).toEqual([0xff, 0xfe, 0x3c, 0x00]);
    const text = decodeXml(manifest);
    expect(text.startsWith('<DataManagementPackageManifest xmlns:i=')).toBe(true);
    expect(text).toContain('xmlns="http://schemas.microsoft.com/dynamics/2015/01/DataManagement"');
    expect(text).toContain('<XMLField>SALESCURRENCYCODE</XMLField>');
    const entity = childElements(childElement(parseXml(text), 'PackageEntityList')!)[0]!;
    const names = childElements(entity).map(localName);
    expect(names).toEqual([...names].sort());
    expect((await reader.readEntry(PACKAGE_HEADER_FILE_NAME)).subarray(0, 2)).toEqual(
      Buffer.from([0xff, 0xfe]),
    );
    expect((await reader.readEntry('Customers V3.csv')).toString()).toBe(csv);
    await reader.close();
  });

  it('warns when built without columns (no EntityMapList)', async () => {
    const zip = await streamToBuffer(
      createPackage({ ...CUSTOMERS, columns: undefined }, { content: Buffer.from('A\r\n') }),
    );
    const report = await validatePackage(zip);
    expect(report.ok).toBe(true);
    expect(report.warnings.map((w) => w.code)).toEqual([PACKAGE_WARNING_CODES.noEntityMap]);
  });

  it('writes to a Writable (a file) with writePackageTo', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dmf-pkg-'));
    try {
      const path = join(dir, 'customers.zip');
      await writePackageTo(createPackage(CUSTOMERS, { content: csvStream(1000) }), createWriteStream(path));
      const report = await validatePackage(path, { verifyData: true });
      expect(report.errors).toEqual([]);
      const expected = await sha256(csvStream(1000));
      expect(report.files.find((f) => f.name === 'Customers V3.csv')?.uncompressedSize).toBe(expected.bytes);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses an unsafe data file name', () => {
    expect(() =>
      createPackage({ ...CUSTOMERS, dataFileName: '../x.csv' }, { content: Buffer.alloc(0) }),
    ).toThrow(expect.objectContaining({ code: PACKAGE_ERROR_CODES.unsafeName }));
  });
});

describe('buildPackageFromTemplate', () => {
  it('streams a large CSV into a template and reads it back intact', async () => {
    const template = await streamToBuffer(createPackage(CUSTOMERS, { content: Buffer.from('old data\r\n') }));
    const expected = await sha256(csvStream(100_000));
    const built = await buildPackageFromTemplate(template, {
      content: csvStream(100_000),
      fileName: 'incoming.csv',
    });
    expect(built).toMatchObject({
      dataFileName: 'Customers V3.csv',
      entityName: 'Customers V3',
      isComposite: false,
    });
    const zip = await streamToBuffer(built.stream);
    expect(zip.length).toBeLessThan(expected.bytes); // deflated

    const report = await validatePackage(zip, { verifyData: true });
    expect(report.errors).toEqual([]);
    expect(report.files.map((f) => f.name).sort()).toEqual([
      'Customers V3.csv',
      MANIFEST_FILE_NAME,
      PACKAGE_HEADER_FILE_NAME,
    ]);
    const reader = await openPackage(zip);
    expect(await sha256(await reader.openEntryStream('Customers V3.csv'))).toEqual(expected);
    await reader.close();
  });

  it('keeps memory flat whatever the data size (96 MiB streamed through)', async () => {
    const template = await streamToBuffer(createPackage(CUSTOMERS, { content: Buffer.from('old') }));
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < chunk.length; i += 1) chunk[i] = (((i * 2654435761) >>> 27) & 0x3f) | 0x40;
    let sent = 0;
    const data = new Readable({
      read() {
        this.push(sent++ < 96 ? chunk : null);
      },
    });
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);
    let zipped = 0;
    try {
      const built = await buildPackageFromTemplate(template, { content: data });
      await writePackageTo(
        built.stream,
        new Writable({
          write(bytes: Buffer, _encoding, callback) {
            zipped += bytes.length; // a slow consumer: backpressure must hold the producer back
            setImmediate(callback);
          },
        }),
      );
    } finally {
      clearInterval(sampler);
    }
    expect(zipped).toBeGreaterThan(0);
    // buffering the input would add ≥ 96 MiB
    expect((peak - baseline) / 1024 ** 2).toBeLessThan(48);
  });

  it("keeps the template's unknown elements and other files, and puts members in DataContract order", async () => {
    const xml = createManifestXml(CUSTOMERS);
    const entity = childElements(childElement(xml, 'PackageEntityList')!)[0]!;
    // an element a future F&O version might add, and members out of order (as a hand edit might leave them)
    entity.children.push({ name: 'AFutureElement', attributes: { 'i:nil': 'true' }, children: [] });
    entity.children.reverse();
    const zip = await makeZip([
      // UTF-8 with a declaration, members out of order: the builder must fix both
      {
        name: MANIFEST_FILE_NAME,
        data: Buffer.from(`<?xml version="1.0" encoding="utf-8"?>${serializeXml(xml)}`),
      },
      {
        name: PACKAGE_HEADER_FILE_NAME,
        data: '<DataManagementPackageHeader xmlns="http://schemas.microsoft.com/dynamics/2015/01/DataManagement"><Description>x</Description><Custom>keep me</Custom></DataManagementPackageHeader>',
      },
      { name: 'Customers V3.csv', data: 'old' },
      { name: 'readme.txt', data: 'template notes' },
    ]);
    const built = await buildPackageFromTemplate(zip, { content: Buffer.from('new') });
    const out = await openPackage(await streamToBuffer(built.stream));
    const manifest = parseManifest(await out.readEntry(MANIFEST_FILE_NAME));
    const outEntity = childElements(childElement(manifest.xml, 'PackageEntityList')!)[0]!;
    const names = childElements(outEntity).map(localName);
    expect(names[0]).toBe('AFutureElement');
    expect(names.at(-1)).toBe('ValidationStatus');
    expect(names).toEqual([...names].sort());
    expect(
      childElements(childElement(outEntity, 'EntityMapList')!).map(
        (m) => childElement(m, 'XMLField')?.children,
      ),
    ).toEqual(CUSTOMERS.columns!.map((c) => [{ text: c }]));
    expect(decodeXml(await out.readEntry(PACKAGE_HEADER_FILE_NAME))).toContain('<Custom>keep me</Custom>');
    expect((await out.readEntry('readme.txt')).toString()).toBe('template notes');
    expect((await out.readEntry('Customers V3.csv')).toString()).toBe('new');
    await out.close();
  });

  it('asks which entity when the template has several, and fails on unknown ones', async () => {
    const xml = createManifestXml(CUSTOMERS);
    const second = createManifestXml({
      ...CUSTOMERS,
      entityName: 'Vendors V2',
      dataFileName: 'Vendors V2.csv',
    });
    childElement(xml, 'PackageEntityList')!.children.push(
      ...childElement(second, 'PackageEntityList')!.children,
    );
    const template = await makeZip([
      { name: MANIFEST_FILE_NAME, data: encodePackageXml(xml) },
      { name: PACKAGE_HEADER_FILE_NAME, data: '<DataManagementPackageHeader/>' },
      { name: 'Customers V3.csv', data: 'c' },
      { name: 'Vendors V2.csv', data: 'v' },
    ]);
    await expect(buildPackageFromTemplate(template, { content: Buffer.from('x') })).rejects.toMatchObject({
      code: PACKAGE_ERROR_CODES.templateEntity,
    });
    await expect(
      buildPackageFromTemplate(template, { content: Buffer.from('x') }, { entityName: 'Sales orders' }),
    ).rejects.toMatchObject({ code: PACKAGE_ERROR_CODES.templateEntity });
    const built = await buildPackageFromTemplate(
      template,
      { content: Buffer.from('new vendors') },
      { entityName: 'vendors v2' },
    );
    const reader = await openPackage(await streamToBuffer(built.stream));
    expect((await reader.readEntry('Vendors V2.csv')).toString()).toBe('new vendors');
    expect((await reader.readEntry('Customers V3.csv')).toString()).toBe('c');
    await reader.close();
  });

  it('refuses a template without manifest, and surfaces errors of the data stream on the output', async () => {
    await expect(
      buildPackageFromTemplate(await makeZip([{ name: 'a.csv', data: 'x' }]), { content: Buffer.from('x') }),
    ).rejects.toMatchObject({ code: PACKAGE_ERROR_CODES.missingManifest });

    const template = await streamToBuffer(createPackage(CUSTOMERS, { content: Buffer.from('old') }));
    const failing = new Readable({
      read() {
        this.destroy(new Error('upstream blob read failed'));
      },
    });
    const built = await buildPackageFromTemplate(template, { content: failing });
    await expect(streamToBuffer(built.stream)).rejects.toThrow('upstream blob read failed');
  });
});
