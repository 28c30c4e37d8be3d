import { describe, expect, it } from 'vitest';
import { DEFAULT_IMPORT_ACTIVITY_ID } from '@dmf-functions/emulator';
import type { RecurringImportResult, RecurringJob } from '../../src/shared/jobs/index.js';
import {
  customersPackage,
  eventually,
  FAST_POLLING,
  readText,
  useImportStack,
  recurringConfig,
} from './helpers.js';

const activityId = DEFAULT_IMPORT_ACTIVITY_ID;

async function enqueue(path: string, body: Buffer | string): Promise<RecurringImportResult> {
  const response = await s.api(`/api/recurring/imports?path=${encodeURIComponent(path)}`, {
    method: 'POST',
    body,
  });
  expect(response.status).toBe(202);
  const { id } = (await response.json()) as { id: string };
  return eventually(async () => {
    const r = await s.api(`/api/recurring/imports/${id}`);
    const job = (await r.json()) as { runtimeStatus: string; result?: RecurringImportResult };
    return job.runtimeStatus === 'Completed' ? job.result : undefined;
  }, 60_000);
}

const s = useImportStack({
  dmfConfig: recurringConfig({
    id: activityId,
    direction: 'import',
    company: 'USMF',
    polling: FAST_POLLING,
    maxEnqueueBytes: 20_000,
  }),
  emulator: { recurringPickupDelayMs: 50 },
});

describe('recurring import (enqueue)', () => {
  it('enqueues a package, follows it to Processed, archives it and publishes the event', async () => {
    const zip = await customersPackage({ prefix: 'ENQ', rows: 3 });
    const result = await enqueue(`local/${activityId}/enq.zip`, zip);
    expect(result).toMatchObject({
      status: 'Succeeded',
      messageStatus: 'Processed',
      company: 'USMF',
      file: 'enq.zip',
      errors: [],
    });
    const rows = await s.stack.emulator.control.rows('Customers V3', 'USMF');
    expect(rows.map((r) => r.CUSTOMERACCOUNT ?? r.CustomerAccount)).toEqual(
      expect.arrayContaining(['ENQ-0', 'ENQ-2']),
    );
    const queued = (await s.stack.emulator.control.queues()).find(
      (q) => q.messageId.toLowerCase() === result.messageId?.toLowerCase(),
    );
    expect(queued?.externalIdentifier).toBe('enq.zip');
    expect(result.archivedTo).toContain(`succeeded/recurring/local/${activityId}/${result.id}/enq.zip`);
    const [, ...resultPath] = result.resultBlob!.split('/');
    expect(JSON.parse(await readText(s.containers.results, resultPath.join('/')))).toMatchObject({
      id: result.id,
    });
    const event = await eventually(() => s.events().find((e) => e.messageId === result.id));
    expect((event.body as { type: string }).type).toBe('com.dmf-functions.recurring.import.completed');
    // the activity remembers how long F&O took to process the message and the bytes it was given
    // (its next polls learn from them)
    const remembered = await eventually(
      async () =>
        (
          JSON.parse(
            (await s.stack.host!.durable.readEntity('importHistory', `local:recurring:${activityId}`))
              ?.state ?? '[]',
          ) as { ms: number; size?: number }[]
        )[0],
    );
    expect(remembered.ms).toBeGreaterThan(0);
    expect(remembered.size).toBe(result.bytes);
    // the job API lists the enqueue as a job of its own kind, with its final status
    const listed = (await (await s.api('/api/jobs')).json()) as { jobs: RecurringJob[] };
    expect(listed.jobs.find((j) => j.id === result.id)).toMatchObject({
      kind: 'recurringImport',
      status: 'Succeeded',
      stage: 'Done',
      environment: 'local',
      project: activityId,
      legalEntity: 'USMF',
      file: 'enq.zip',
      foStatus: 'Processed',
    });
  });

  it('enqueues a file dropped in the recurring-inbound container (blob trigger)', async () => {
    const zip = await customersPackage({ prefix: 'DROP', rows: 2 });
    await s.containers.recurringInbound
      .getBlockBlobClient(`local/${activityId}/drop.zip`)
      .upload(zip, zip.length);
    await s.stack.host!.blobTriggers.scanNow();
    const queued = await eventually(
      async () => (await s.stack.emulator.control.queues()).find((q) => q.externalIdentifier === 'drop.zip'),
      60_000,
    );
    expect(queued).toBeDefined();
    const event = await eventually(
      () =>
        s
          .events()
          .find(
            (e) =>
              (e.body as { type?: string; data?: { file?: string } }).type ===
                'com.dmf-functions.recurring.import.completed' &&
              (e.body as { data?: { file?: string } }).data?.file === 'drop.zip',
          ),
      60_000,
    );
    expect(event).toBeDefined();
    const rows = await s.stack.emulator.control.rows('Customers V3', 'USMF');
    expect(rows.map((r) => r.CUSTOMERACCOUNT ?? r.CustomerAccount)).toEqual(
      expect.arrayContaining(['DROP-0', 'DROP-1']),
    );
  });

  it('ProcessedWithErrors: execution id, execution errors and the staging error file are fetched', async () => {
    const csv = 'CUSTOMERACCOUNT,NAME,CUSTOMERGROUPID\r\nPWE-1,Good,10\r\nPWE-2,Broken #BAD#,10\r\n';
    const result = await enqueue(`local/${activityId}/Customers V3/pwe.csv`, csv);
    // the good row was imported: the execution PartiallySucceeded, and so does the job
    expect(result.status).toBe('PartiallySucceeded');
    expect(result.messageStatus).toBe('ProcessedWithErrors');
    expect(result.entity).toBe('Customers V3');
    expect(result.executionId).toBeTruthy();
    expect(result.errors.map((e) => e.code)).toEqual(
      expect.arrayContaining(['MESSAGE_PROCESSEDWITHERRORS', 'DMF_EXECUTION_ERROR']),
    );
    expect(result.errors.some((e) => e.message.includes('#BAD#'))).toBe(true);
    expect(result.errorFiles.map((f) => f.kind)).toEqual(
      expect.arrayContaining(['executionErrors', 'staging']),
    );
    const staging = result.errorFiles.find((f) => f.kind === 'staging')!;
    expect(await readText(s.containers.results, staging.path)).toContain('PWE-2');
    const event = await eventually(() => s.events().find((e) => e.messageId === result.id));
    expect((event.body as { type: string }).type).toBe('com.dmf-functions.recurring.import.completed');
    const job = (await (await s.api(`/api/jobs/${result.id}`)).json()) as RecurringJob;
    expect(job).toMatchObject({
      kind: 'recurringImport',
      status: 'PartiallySucceeded',
      executionId: result.executionId,
    });
    expect(job.errors.map((e) => e.code)).toContain('MESSAGE_PROCESSEDWITHERRORS');
  });

  it('refuses a file over the enqueue limit with a reason pointing to the package API', async () => {
    const enqueuesBefore = (await s.stack.emulator.control.calls()).filter(
      (c) => c.route === 'enqueue',
    ).length;
    const result = await enqueue(`local/${activityId}/big.csv`, 'x'.repeat(25_000));
    expect(result.status).toBe('Rejected');
    expect(result.errors[0]?.code).toBe('ENQUEUE_TOO_LARGE');
    expect(result.errors[0]?.message).toMatch(/25000 bytes.*at most 20000.*\/api\/imports/s);
    const enqueuesAfter = (await s.stack.emulator.control.calls()).filter(
      (c) => c.route === 'enqueue',
    ).length;
    expect(enqueuesAfter).toBe(enqueuesBefore);
  });

  it('refuses a path naming no import activity', async () => {
    const response = await s.api(
      `/api/recurring/imports?path=${encodeURIComponent('local/not-a-guid/x.csv')}`,
      {
        method: 'POST',
        body: 'a,b',
      },
    );
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('RECURRING_PATH_INVALID');
  });
});
