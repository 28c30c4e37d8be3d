/**
 * The blob layout against hostile segments (issue 12.1): one function forms every blob path, and
 * whatever a caller sends, a path is either refused with a reason or addresses exactly that blob in
 * that container (`a/../../dmf-results/evil` used to land in dmf-results, through the SDK's url).
 */
import { ContainerClient } from '@azure/storage-blob';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/shared/errors.js';
import {
  archiveBlobPath,
  blobPath,
  checkFileName,
  checkLegalEntity,
  enqueuedMarkerPath,
  errorFileBlobPath,
  exportFolder,
  exportPackageBlobPath,
  inboundPath,
  rejectionBlobPath,
  resolveInboundPath,
  resultBlobPath,
  safeFileName,
  segmentProblem,
  stagingBlobPath,
  unpackedEntryBlobPath,
} from '../../../src/shared/storage/index.js';

const container = new ContainerClient('https://acct.blob.core.windows.net/dmf-inbound');

/** The path as the SDK sends it: it must stay in the container and decode to the same name. */
function addressesExactly(path: string): void {
  const url = new URL(container.getBlobClient(path).url);
  expect(url.pathname.startsWith('/dmf-inbound/')).toBe(true);
  expect(decodeURIComponent(url.pathname.slice('/dmf-inbound/'.length))).toBe(path);
  const segments = path.split('/');
  expect(segments.length).toBeLessThanOrEqual(254);
  expect(path.length).toBeLessThanOrEqual(1024);
  for (const s of segments) expect(segmentProblem(s)).toBeUndefined();
}

/** Runs `form`; a refusal must be an InputError, an answer a path that addresses exactly itself. */
function formedOrRefused(form: () => string): 'formed' | 'refused' {
  let path: string;
  try {
    path = form();
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return 'refused';
  }
  addressesExactly(path);
  return 'formed';
}

const HOSTILE = [
  '',
  '.',
  '..',
  '../..',
  '../../../dmf-results/evil',
  'a/../b',
  '..\\..\\x',
  '%2e%2e',
  'x\u202egpj.exe',
  'a\u200bb',
  'tab\there',
  'nul\u0000byte',
  'trailing.',
  ' lead',
  'é'.repeat(200),
  'x'.repeat(256),
  'ok.zip',
  'USMF',
  'a?b#c',
  '\ud800',
  'line\u2028sep',
  'nbsp\u00a0x',
];
const segment = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...HOSTILE) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 300 }) },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9 ._-]{1,20}$/) },
);

describe('blobPath and the layout helpers under hostile segments', () => {
  it('every helper either refuses (InputError) or forms a path that addresses exactly that blob', () => {
    fc.assert(
      fc.property(segment, segment, segment, segment, (a, b, c, d) => {
        formedOrRefused(() => blobPath(a, b, c));
        formedOrRefused(() => inboundPath({ environment: a, project: b, legalEntity: c, fileName: d }));
        formedOrRefused(() => inboundPath({ environment: 'local', project: 'Customers', fileName: d }));
        formedOrRefused(() => resultBlobPath(`${a}/${b}`, 'imp-1'));
        formedOrRefused(() => archiveBlobPath('failed', `${a}/${b}/${d}`, 'imp-1'));
        formedOrRefused(() => exportFolder(a, b, '2025-01-02T00:00:00Z'));
        formedOrRefused(() => exportPackageBlobPath('local/p/2025/01/02', d));
        formedOrRefused(() => enqueuedMarkerPath(a, b, 'rim-1'));
        // names the app makes safe (F&O's error files, zip entries, rejected subjects) are always formed
        expect(formedOrRefused(() => errorFileBlobPath('local/p/f.zip', 'imp-1', d))).toBe('formed');
        expect(formedOrRefused(() => stagingBlobPath('imp-1', d))).toBe('formed');
        expect(formedOrRefused(() => unpackedEntryBlobPath('local/p/2025/01/02', `${c}.zip`, d))).toBe(
          'formed',
        );
        expect(formedOrRefused(() => rejectionBlobPath(`${a}/${b}/${c}/${d}`, `cmd-${d}`))).toBe('formed');
      }),
      { numRuns: 400 },
    );
  });

  it('a caller legal entity is an F&O company id (1-4 letters or digits), nothing else', () => {
    fc.assert(
      fc.property(segment, (value) => {
        const accepted = formedOrRefused(() => checkLegalEntity(value)) === 'formed';
        expect(accepted).toBe(/^[A-Za-z0-9]{1,4}$/.test(value));
      }),
      { numRuns: 400 },
    );
  });

  it('safeFileName always yields one usable segment', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (value) => {
        expect(segmentProblem(safeFileName(value))).toBeUndefined();
      }),
    );
  });

  it('the escape of the adversarial run is refused, with a readable reason', () => {
    expect(() =>
      inboundPath({
        environment: 'local',
        project: 'Customers',
        legalEntity: '../../../dmf-results/evil',
        fileName: 'x.zip',
      }),
    ).toThrow(/not a legal entity: F&O company ids are 1-4 letters or digits/);
    expect(() => blobPath('a/../../dmf-results/evil')).toThrow(/segment 2 is "\.\."/);
  });

  it('an environment or project of more than one segment is refused (dmf drop takes them from a command line)', () => {
    // "a/b" passed every segment check once joined, and shifted the layout: the project became "a",
    // "b" the legal entity segment
    expect(() => inboundPath({ environment: 'local', project: 'Customers/USMF', fileName: 'x.zip' })).toThrow(
      /project "Customers\/USMF" cannot be a path segment: it contains a slash/,
    );
    expect(() => inboundPath({ environment: '..', project: 'Customers', fileName: 'x.zip' })).toThrow(
      /environment "\.\." cannot be a path segment/,
    );
    expect(inboundPath({ environment: 'local', project: 'Asset-Major-Types', fileName: 'a.zip' })).toBe(
      'local/Asset-Major-Types/a.zip',
    );
  });

  it('file names: bidi overrides, invisible characters and surprising characters are refused, not rewritten', () => {
    expect(() => checkFileName('invoice\u202egpj.zip')).toThrow(/bidirectional-text control U\+202E/);
    expect(() => checkFileName('a\u200bb.zip')).toThrow(/invisible character U\+200B/);
    expect(() => checkFileName('a:b.zip')).toThrow(/contains ":"/);
    expect(() => checkFileName(' x.zip')).toThrow(/starts or ends with a space/);
    for (const ok of [
      'customers.zip',
      'Kunden März (2).csv',
      'données_été-2025.xml',
      "O'Brien & Co [v2].zip",
    ]) {
      expect(checkFileName(ok)).toBe(ok);
    }
  });
});

describe('resolveInboundPath gives the right reason', () => {
  const config = {
    environments: [{ name: 'local' }],
    dataProjects: [
      { name: 'Customers', definitionGroupId: 'CustomerImport', environment: 'local', direction: 'import' },
    ],
  } as unknown as Parameters<typeof resolveInboundPath>[0];

  it('a name over 255 bytes is "too long", not "has 3 path segments" (issue 12.8)', () => {
    const name = `${'x'.repeat(300)}.zip`;
    expect(() => resolveInboundPath(config, `local/Customers/${name}`)).toThrow(
      /is 304 bytes long \(UTF-8\); at most 255 are allowed/,
    );
  });

  it('refuses RTL overrides in dropped names and legal entities that are not company ids', () => {
    expect(() => resolveInboundPath(config, 'local/Customers/x\u202egpj.zip')).toThrow(
      /bidirectional-text control/,
    );
    expect(() => resolveInboundPath(config, 'local/Customers/TOOLONG/x.zip')).toThrow(/not a legal entity/);
    expect(resolveInboundPath(config, 'local/Customers/DEMF/x.zip').legalEntity).toBe('DEMF');
  });
});
