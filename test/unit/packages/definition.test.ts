import { describe, expect, it } from 'vitest';
import {
  checkDefinition,
  createManifestXml,
  createPackage,
  csvShape,
  encodePackageXml,
  openPackage,
  parseManifest,
  streamToBuffer,
  type NewManifestSpec,
} from '../../../src/shared/packages/index.js';
import { customersSpec, makeZip } from './helpers.js';

const SPEC = customersSpec('CustomerImport', ['CUSTOMERACCOUNT', 'NAME', 'CUSTOMERGROUPID']);
const HEADER = 'CUSTOMERACCOUNT,NAME,CUSTOMERGROUPID';

const template = parseManifest(encodePackageXml(createManifestXml(SPEC)));
const reference = { definitionGroupId: 'CustomerImport', template, templateName: 'customers-v3.zip' };

async function issuesOf(
  spec: NewManifestSpec,
  csv: string,
  ref: Parameters<typeof checkDefinition>[1] = reference,
) {
  const zip = await streamToBuffer(createPackage(spec, { content: Buffer.from(csv) }));
  const reader = await openPackage(zip);
  try {
    return await checkDefinition(reader, ref);
  } finally {
    await reader.close();
  }
}

describe('checkDefinition (a package imported with overwrite keeps its data project)', () => {
  it("accepts a package that keeps the template's entities and mapped fields (more fields are fine)", async () => {
    const spec = { ...SPEC, columns: [...SPEC.columns!, 'SALESCURRENCYCODE'] };
    expect(await issuesOf(spec, `${HEADER},SALESCURRENCYCODE\r\nC1,One,10,USD\r\n`)).toEqual([]);
  });

  it('refuses a stale manifest that no longer maps a field of the template', async () => {
    const issues = await issuesOf(
      { ...SPEC, columns: ['CUSTOMERACCOUNT', 'NAME'] },
      `${HEADER}\r\nC1,One,10\r\n`,
    );
    expect(issues.map((i) => i.code)).toEqual(['PACKAGE_DROPS_MAPPING']);
    expect(issues[0]!.message).toContain("'CUSTOMERGROUPID' of entity 'Customers V3'");
    expect(issues[0]!.message).toContain('customers-v3.zip');
  });

  it('refuses a manifest without any field mapping for an entity the template maps', async () => {
    const issues = await issuesOf({ ...SPEC, columns: [] }, `${HEADER}\r\nC1,One,10\r\n`);
    expect(issues.map((i) => i.code)).toEqual(['PACKAGE_DROPS_MAPPING']);
  });

  it('refuses a package without an entity of the template', async () => {
    const issues = await issuesOf({ ...SPEC, entityName: 'Vendors V2' }, `${HEADER}\r\nV1,One,10\r\n`);
    expect(issues.map((i) => i.code)).toEqual(['PACKAGE_DROPS_ENTITY']);
    expect(issues[0]!.message).toContain("no entity 'Customers V3'");
  });

  it('refuses a data file without a column the template maps, naming its header', async () => {
    const issues = await issuesOf(SPEC, 'CUSTOMERACCOUNT;NAME\r\nC1;One\r\n');
    expect(issues.map((i) => i.code)).toEqual(['PACKAGE_FILE_LACKS_FIELDS']);
    expect(issues[0]!.message).toContain("'CUSTOMERGROUPID'");
    expect(issues[0]!.message).toContain("'CUSTOMERACCOUNT', 'NAME'");
  });

  it('refuses a header-only file (RIS #93), with or without a template', async () => {
    for (const ref of [reference, { definitionGroupId: 'CustomerImport' }]) {
      const issues = await issuesOf(SPEC, `${HEADER}\r\n\r\n`, ref);
      expect(issues.map((i) => i.code)).toEqual(['PACKAGE_HAS_NO_RECORDS']);
      expect(issues[0]!.message).toContain('RIS issue #93');
    }
  });

  it('reads UTF-16 (CSV-Unicode) and quoted headers, and leaves formats it cannot read alone', async () => {
    const utf16 = Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      Buffer.from(`"CUSTOMERACCOUNT","NAME","CUSTOMERGROUPID"\r\nC1,"One, Inc",10\r\n`, 'utf16le'),
    ]);
    const zip = await streamToBuffer(createPackage(SPEC, { content: utf16 }));
    const reader = await openPackage(zip);
    expect(await checkDefinition(reader, reference)).toEqual([]);
    await reader.close();
    const excel = await makeZip([
      {
        name: 'Manifest.xml',
        data: encodePackageXml(createManifestXml({ ...SPEC, dataFileName: 'c.xlsx', sourceFormat: 'EXCEL' })),
      },
      { name: 'c.xlsx', data: 'not read' },
    ]);
    const excelReader = await openPackage(excel);
    expect(await checkDefinition(excelReader, reference)).toEqual([]);
    await excelReader.close();
  });

  it('csvShape: no judgement when the header does not end within the bytes read', () => {
    expect(csvShape('A,B,C', false)).toBeUndefined();
    expect(csvShape('A,B,C', true)).toEqual({ columns: ['A', 'B', 'C'], hasRecords: false });
    expect(csvShape('A\tB\tC\n1\t2\t3', true)).toEqual({ columns: ['A', 'B', 'C'], hasRecords: true });
  });
});
