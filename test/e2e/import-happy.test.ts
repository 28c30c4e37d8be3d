import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ImportResult, Job } from '../../src/shared/jobs/index.js';
import { customersPackage, eventually, list, readText, useImportStack } from './helpers.js';

import { sendServiceBusMessages } from '@dmf-functions/devhost/servicebus';
import { buildPackage } from '@dmf-functions/emulator';

async function findJob(file: (name: string) => boolean): Promise<Job> {
  return eventually(async () => {
    const r = await s.api('/api/jobs');
    const body = (await r.json()) as { jobs: Job[] };
    return body.jobs.find((j) => j.file !== undefined && file(j.file));
  });
}

const s = useImportStack();

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
    // every status poll is in the job's poll log, oldest first, the last one seeing the final status
    expect(job.polls).toBeGreaterThan(0);
    expect(job.pollLog).toHaveLength(job.polls);
    const pollTimes = job.pollLog.map((p) => Date.parse(p.at));
    expect(pollTimes.every((t) => Number.isFinite(t))).toBe(true);
    expect(pollTimes).toEqual([...pollTimes].sort((a, b) => a - b));
    expect(job.pollLog.at(-1)?.foStatus).toBe('Succeeded');
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

  it('imports a package posted to POST /api/imports and reports it through GET /api/jobs/{id}', async () => {
    const zip = await customersPackage({ prefix: 'HTTP' });
    const response = await s.api('/api/imports?environment=local&project=Customers&fileName=posted.zip', {
      method: 'POST',
      headers: { 'content-type': 'application/zip' },
      body: zip,
    });
    expect(response.status).toBe(202);
    const accepted = (await response.json()) as { id: string; statusUrl: string; cancelUrl: string };
    expect(accepted.statusUrl).toMatch(new RegExp(`/api/jobs/${accepted.id}$`));
    expect(response.headers.get('location')).toBe(accepted.statusUrl);
    const job = await s.waitForJob(accepted.id);
    expect(job).toMatchObject({
      id: accepted.id,
      kind: 'import',
      status: 'Succeeded',
      stage: 'Done',
      errors: [],
    });
    expect(job.result?.trigger).toBe('http');
    expect(job.result?.file).toMatch(/posted\.zip$/);
    // the upload also fires the blob trigger: same blob version, same instance, one execution
    await s.stack.host!.blobTriggers.scanNow();
    const executions = await s.stack.emulator.control.executions();
    expect(executions.filter((e) => e.executionId === job.executionId)).toHaveLength(1);
  });

  it('refuses POST /api/imports without a function key and with an unknown project', async () => {
    const anonymous = await fetch(
      `${s.stack.functionsBaseUrl}/api/imports?environment=local&project=Customers`,
      {
        method: 'POST',
        body: 'x',
      },
    );
    expect(anonymous.status).toBe(401);
    const unknown = await s.api('/api/imports?environment=local&project=Nope', { method: 'POST', body: 'x' });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toContain('"Nope"');
  });

  it('imports a blob named by a Service Bus import command (JSON blob reference)', async () => {
    const zip = await customersPackage({ prefix: 'SB' });
    // a container of the caller's, listed in DMF_SOURCE_CONTAINERS (see helpers.ts)
    await s.containers.staged.getBlockBlobClient('staged/from-command.zip').upload(zip, zip.length);
    await sendServiceBusMessages(s.stack.serviceBusConnectionString, 'dmf-commands', {
      body: {
        type: 'import',
        environment: 'local',
        definitionGroupId: 'Customers',
        legalEntityId: 'USMF',
        blobPath: `${s.names.staged}/staged/from-command.zip`,
        correlationId: 'corr-42',
      },
    });
    const found = await findJob((f) => f === 'from-command.zip');
    const job = await s.waitForJob(found.id);
    expect(job.status).toBe('Succeeded');
    expect(job.result).toMatchObject({ trigger: 'serviceBus', correlationId: 'corr-42' });
    const event = await eventually(() => s.events().find((e) => e.messageId === job.id));
    expect(event.correlationId).toBe('corr-42');
  });

  it('wraps a raw CSV with the data project template', async () => {
    const template = await buildPackage({
      definitionGroupName: 'CustomerImport',
      entities: [
        { entityName: 'Customers V3', columns: ['CUSTOMERACCOUNT', 'NAME', 'CUSTOMERGROUPID'], rows: [] },
      ],
    });
    await s.containers.templates.getBlockBlobClient('customers-v3.zip').upload(template, template.length);
    const csv = 'CUSTOMERACCOUNT,NAME,CUSTOMERGROUPID\r\nCSV-1,From CSV,10\r\nCSV-2,Also CSV,20\r\n';
    const path = 'local/CustomersCsv/new-customers.csv';
    await s.containers.inbound.getBlockBlobClient(path).upload(csv, Buffer.byteLength(csv));
    await s.stack.host!.blobTriggers.scanNow();
    const found = await findJob((f) => f === 'new-customers.csv');
    const job = await s.waitForJob(found.id);
    expect(job.status).toBe('Succeeded');
    const rows = await s.stack.emulator.control.rows('Customers V3', 'USMF');
    expect(rows.map((r) => r.CUSTOMERACCOUNT ?? r.CustomerAccount)).toEqual(
      expect.arrayContaining(['CSV-1', 'CSV-2']),
    );
    // the package built from the template is not left behind
    expect(await list(s.containers.archive, `staging/${job.id}/`)).toEqual([]);
    expect(await list(s.containers.archive, `succeeded/local/CustomersCsv/${job.id}/`)).toEqual([
      `succeeded/local/CustomersCsv/${job.id}/new-customers.csv`,
    ]);
  });

  it('starts one execution when the same blob version is delivered twice', async () => {
    const zip = await customersPackage({ prefix: 'DUP' });
    const path = 'local/Customers/dup.zip';
    const uploaded = await s.containers.inbound.getBlockBlobClient(path).upload(zip, zip.length);
    const etag = uploaded.etag!.replace(/"/g, '');
    // a second delivery of that version, as a command naming the same blob
    await s.stack.host!.blobTriggers.scanNow();
    const found = await findJob((f) => f === 'dup.zip');
    const sameVersion = await s.api('/api/imports?environment=local&project=Customers', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ blobPath: `${s.names.inbound}/${path}` }),
    });
    const again = (await sameVersion.json()) as { id: string; started: boolean };
    expect(etag.length).toBeGreaterThan(0);
    const job = await s.waitForJob(found.id);
    expect(job.status).toBe('Succeeded');
    if (sameVersion.status === 202) {
      expect(again).toMatchObject({ id: found.id, started: false });
    } else {
      // the job may already have archived the blob: then the reference names nothing
      expect(sameVersion.status).toBe(400);
    }
    const executions = await s.stack.emulator.control.executions();
    expect(executions.filter((e) => e.executionId === job.executionId)).toHaveLength(1);
  });

  const realPackage = '/work/shared/fixtures/usmf_asset-major-types-01.zip';
  it.skipIf(!existsSync(realPackage))(
    'imports a real F&O package (asset major types) unchanged',
    async () => {
      const zip = readFileSync(realPackage);
      const path = 'local/AssetMajorTypes/usmf_asset-major-types-01.zip';
      await s.containers.inbound.getBlockBlobClient(path).upload(zip, zip.length);
      await s.stack.host!.blobTriggers.scanNow();
      const job = await s.waitForJob((await findJob((f) => f === 'usmf_asset-major-types-01.zip')).id);
      expect(job.status).toBe('Succeeded');
      expect(job.result).toMatchObject({ definitionGroupId: 'Asset-Major-Types', legalEntity: 'USMF' });
      const rows = await s.stack.emulator.control.rows('Fixed asset major type', 'USMF');
      expect(rows.length).toBeGreaterThan(0);
    },
  );
});
