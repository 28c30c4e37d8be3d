/**
 * Batch and chain paths: which blob belongs to which batch, and hostile batch ids and file names
 * refused by the app's path rules (a batch's folder names its job and its archive).
 */
import { readFileSync } from 'node:fs';
import { ContainerClient } from '@azure/storage-blob';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig, type AppConfig } from '../../../src/shared/config/index.js';
import { InputError } from '../../../src/shared/errors.js';
import { batchArchiveBlobPath, resolveBatchPath, segmentProblem } from '../../../src/shared/storage/index.js';

function config(mutate: (c: Record<string, unknown>) => void = () => undefined): AppConfig {
  const json = JSON.parse(readFileSync('samples/dmf.config.json', 'utf8')) as Record<string, unknown>;
  mutate(json);
  return loadConfig(
    {
      DMF_CONFIG: JSON.stringify(json),
      LOCAL_FNO_CLIENT_SECRET: 'x',
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      ServiceBusConnection: 'Endpoint=sb://localhost/;SharedAccessKeyName=a;SharedAccessKey=b',
    },
    {},
  );
}
const sample = config();

describe('resolveBatchPath', () => {
  it('places a file of the sample batch project and of the sample chain', () => {
    expect(resolveBatchPath(sample, 'local/OrdersBatch/b-1/orders-header.csv')).toMatchObject({
      kind: 'batch',
      batchId: 'b-1',
      folder: 'local/OrdersBatch/b-1',
      fileName: 'orders-header.csv',
      legalEntity: 'USMF',
      project: { name: 'OrdersBatch', batch: { trigger: '_ready', complete: 'trigger', timeoutMinutes: 60 } },
    });
    expect(resolveBatchPath(sample, 'local/_chains/Orders/c-1/_ready')).toMatchObject({
      kind: 'chain',
      batchId: 'c-1',
      folder: 'local/_chains/Orders/c-1',
      chain: { name: 'Orders', projects: ['OrderHeaders', 'OrderLines'], onPartialSuccess: 'stop' },
    });
  });

  it('leaves single-file paths to the single-file convention', () => {
    expect(resolveBatchPath(sample, 'local/Customers/customers.zip')).toBeUndefined();
    expect(resolveBatchPath(sample, 'local/Customers/USMF/customers.zip')).toBeUndefined();
    expect(resolveBatchPath(sample, 'elsewhere/OrdersBatch/b-1/x.csv')).toBeUndefined();
    expect(resolveBatchPath(sample, 'local/Nope/b-1/x.csv')).toBeUndefined();
  });

  it('says why a batch path breaks the layout', () => {
    expect(() => resolveBatchPath(sample, 'local/OrdersBatch/orders-header.csv')).toThrow(
      /has 3 path segments, expected 4\. Drop the files of a batch as \{environment\}\/OrdersBatch\/\{batchId\}\/\{file\}/,
    );
    expect(() => resolveBatchPath(sample, 'local/OrdersBatch/b-1/sub/x.csv')).toThrow(/expected 4/);
    expect(() => resolveBatchPath(sample, 'local/_chains/Nope/c-1/x.csv')).toThrow(
      /names chain "Nope", which is not a chain of environment "local" \(configured: Orders\)/,
    );
    expect(() => resolveBatchPath(sample, 'local/OrdersBatch/b\u202e1/x.csv')).toThrow(
      /cannot be a batch id: the batch id .* bidirectional-text control/,
    );
    expect(() => resolveBatchPath(sample, 'local/OrdersBatch/a%2e%2e/x.csv')).toThrow(/batch id/);
  });

  it('follows a configured pattern with the legal entity in the path', () => {
    const withCompany = config((c) => {
      const projects = c.dataProjects as Record<string, unknown>[];
      const orders = projects.find((p) => p.name === 'OrdersBatch')!;
      orders.batch = { path: '{legalEntity}/in/{batchId}/{file}' };
    });
    expect(resolveBatchPath(withCompany, 'local/OrdersBatch/DEMF/in/b-7/orders-lines.csv')).toMatchObject({
      kind: 'batch',
      legalEntity: 'DEMF',
      batchId: 'b-7',
      folder: 'local/OrdersBatch/DEMF/in/b-7',
    });
    expect(() => resolveBatchPath(withCompany, 'local/OrdersBatch/DEMF/out/b-7/x.csv')).toThrow(
      /has "out" where "in" belongs/,
    );
    expect(() => resolveBatchPath(withCompany, 'local/OrdersBatch/TOOLONG/in/b-7/x.csv')).toThrow(
      /not a legal entity/,
    );
  });

  it('whatever a caller drops, a batch path is refused or its folder and archive address exactly themselves', () => {
    const container = new ContainerClient('https://acct.blob.core.windows.net/dmf-inbound');
    const hostile = fc.oneof(
      fc.constantFrom(
        '',
        '.',
        '..',
        '%2e%2e',
        'a\u200bb',
        'x\u202egpj',
        'trailing.',
        ' lead',
        'x'.repeat(256),
      ),
      fc.string({ unit: 'binary', maxLength: 30 }),
      fc.stringMatching(/^[A-Za-z0-9 ._-]{1,20}$/),
    );
    fc.assert(
      fc.property(hostile, hostile, (batchId, file) => {
        let resolved;
        try {
          resolved = resolveBatchPath(sample, `local/OrdersBatch/${batchId}/${file}`);
        } catch (error) {
          expect(error).toBeInstanceOf(InputError);
          return;
        }
        // a slash in the id or name makes another layout: refused above, or not a batch
        if (!resolved) return;
        for (const path of [
          `${resolved.folder}/${resolved.fileName}`,
          batchArchiveBlobPath('failed', resolved.folder, 'imp-1', resolved.fileName),
        ]) {
          const url = new URL(container.getBlobClient(path).url);
          expect(decodeURIComponent(url.pathname.slice('/dmf-inbound/'.length))).toBe(path);
          for (const s of path.split('/')) expect(segmentProblem(s)).toBeUndefined();
        }
      }),
      { numRuns: 300 },
    );
  });
});
