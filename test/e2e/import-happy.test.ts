import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ImportResult, Job } from '../../src/shared/jobs/index.js';
import {
  customersPackage,
  eventually,
  list,
  readText,
  startImportStack,
  type ImportStack,
} from './helpers.js';

let s: ImportStack;

beforeAll(async () => {
  s = await startImportStack(inject('azuriteConnectionString'));
});
afterAll(async () => {
  await s?.stop();
});

describe('import pipeline, happy paths', () => {
  it('imports a package dropped in the inbound container: result JSON, archive, event', async () => {
    const zip = await customersPackage({ prefix: 'BLOB' });
    const path = 'local/Customers/USMF/customers.zip';
    await s.containers.inbound.getBlockBlobClient(path).upload(zip, zip.length);
    await s.stack.host!.blobTriggers.scanNow();
    const listed = await eventually(async () => {
      const r = await s.api('/api/jobs');
      const body = (await r.json()) as { jobs: Job[] };
      return body.jobs.find((j) => j.file === 'customers.zip');
    });
    const job = await s.waitForJob(listed.id);
    expect(job.status).toBe('Succeeded');
    expect(job.executionId).toMatch(/^dmffn-imp-/);
    const result = job.result!;
    expect(result.status).toBe('Succeeded');
    expect(result.legalEntity).toBe('USMF');
    const [resultContainer, ...resultPath] = result.resultBlob!.split('/');
    expect(resultContainer).toBe(s.names.results);
    const stored = JSON.parse(await readText(s.containers.results, resultPath.join('/'))) as ImportResult;
    expect(stored.executionId).toBe(job.executionId);
    expect(await s.containers.inbound.getBlobClient(path).exists()).toBe(false);
    expect(await list(s.containers.archive, 'succeeded/local/Customers/USMF/')).toEqual([
      `succeeded/local/Customers/USMF/${job.id}/customers.zip`,
    ]);
    const rows = await s.stack.emulator.control.rows('Customers V3', 'USMF');
    expect(rows.map((r) => r.CUSTOMERACCOUNT ?? r.CustomerAccount)).toEqual(
      expect.arrayContaining(['BLOB-0', 'BLOB-2']),
    );
    const event = await eventually(() => s.events().find((e) => e.messageId === job.id));
    expect((event.body as { type: string }).type).toBe('com.dmf-functions.import.completed');
  });
});
