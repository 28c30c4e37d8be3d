import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { caughtAs } from '../../support/caught.js';
import type { RunningEmulator } from '@dmf-functions/emulator';
import { DmfApiError, type RecurringClient } from '../../../src/shared/dmf/index.js';
import { clientsFor, customerPackage, startTestEmulator, throttledOnce } from './emulator-setup.js';

const caught = caughtAs(DmfApiError);

describe('RecurringClient against the F&O emulator', () => {
  let emu: RunningEmulator;
  let recurring: RecurringClient;
  let importId: string;
  let exportId: string;

  beforeAll(async () => {
    emu = await startTestEmulator();
    recurring = clientsFor(emu).recurring;
    importId = emu.recurring.importActivityId!;
    exportId = emu.recurring.exportActivityId!;
  });
  afterAll(async () => {
    await emu?.stop();
  });
  afterEach(async () => {
    await emu.control.clearFaults();
  });

  it('enqueues a streamed CSV file and follows it to Processed', async () => {
    const csv = 'CustomerAccount,Name\r\nREC-0001,Recurring One\r\nREC-0002,Recurring Two\r\n';
    const messageId = await recurring.enqueue(`{${importId}}`, Readable.from([Buffer.from(csv)]), {
      entity: 'Customers V3',
      company: 'USMF',
      externalIdentifier: 'customers-1.csv',
    });
    expect(messageId).toMatch(/^[0-9a-f-]{36}$/i);
    const queued = (await emu.control.queues()).find((m) => m.messageId === messageId);
    expect(queued).toMatchObject({
      externalIdentifier: 'customers-1.csv',
      company: 'USMF',
      entity: 'Customers V3',
    });
    expect(await recurring.getMessageStatus(messageId)).toBe('Enqueued');
    expect(await recurring.getExecutionIdByMessageId(messageId)).toBeUndefined();
    await emu.control.advanceClock(60_000);
    const executionId = await recurring.getExecutionIdByMessageId(messageId);
    expect(executionId).toBeDefined();
    const status = await recurring.jobStatus(importId, messageId);
    expect(status.executionId).toBe(executionId);
    expect(status.dataJobState).toBe('Processed');
    expect(status.executionDetail[0]).toMatchObject({ EntityName: 'Customers V3', TargetRecords: 2 });
    expect(await recurring.getMessageStatus(messageId)).toBe('Processed');
    const rows = await emu.control.rows('Customers V3', 'USMF');
    expect(rows.some((r) => Object.values(r).includes('REC-0002'))).toBe(true);
  });

  it('enqueues a package zip as a web stream, without entity', async () => {
    const zip = await customerPackage([['REC-0101', 'From package']]);
    const web = Readable.toWeb(Readable.from([zip])) as ReadableStream<Uint8Array>;
    const messageId = await recurring.enqueue(importId, web, { company: 'USMF' });
    await emu.control.advanceClock(60_000);
    expect(await recurring.getMessageStatus(messageId)).toBe('Processed');
  });

  it('normalizes the alternate status spellings', async () => {
    await emu.control.setOptions({ messageStatusSpelling: 'alternate' });
    try {
      const messageId = await recurring.enqueue(importId, 'CustomerAccount,Name\r\nREC-0201,#BAD#\r\n', {
        entity: 'Customers V3',
        company: 'USMF',
      });
      await emu.control.advanceClock(60_000);
      expect(await recurring.getMessageStatus(messageId)).toBe('ProcessedWithErrors');
      const notZip = await recurring.enqueue(importId, 'not a zip at all');
      await emu.control.advanceClock(60_000);
      expect(await recurring.getMessageStatus(notZip)).toBe('PreProcessingError');
    } finally {
      await emu.control.setOptions({ messageStatusSpelling: 'documented' });
    }
  });

  it('dequeues (204 → undefined), downloads with the token, acks, and the queue is empty again', async () => {
    expect(await recurring.dequeue(exportId)).toBeUndefined();
    await emu.control.seedExportMessage({
      activityId: exportId,
      fileName: 'out.csv',
      content: 'A,B\r\n1,2\r\n',
    });
    const message = await recurring.dequeue(exportId);
    expect(message).toBeDefined();
    expect(message!.isDownloadFileExist).toBe(true);
    const download = await recurring.download(message!);
    expect(await text(download.stream)).toBe('A,B\r\n1,2\r\n');
    await recurring.ack(exportId, message!);
    await emu.control.advanceClock(31 * 60_000);
    expect(await recurring.dequeue(exportId)).toBeUndefined();
  });

  it('gives back an unacked message after 30 minutes with LastDequeueDateTime set', async () => {
    const { messageId } = await emu.control.seedExportMessage({ activityId: exportId, content: 'x' });
    const first = await recurring.dequeue(exportId);
    expect(first?.correlationId.toLowerCase()).toBe(messageId.toLowerCase());
    expect(await recurring.dequeue(exportId)).toBeUndefined();
    await emu.control.advanceClock(30 * 60_000 + 1_000);
    const again = await recurring.dequeue(exportId);
    expect(again?.correlationId).toBe(first?.correlationId);
    expect(again?.lastDequeueDateTime).toBeDefined();
    await recurring.ack(exportId, again!);
  });

  it('rewrites an http://…:80 DownloadLocation to the environment origin', async () => {
    await emu.control.setOptions({ downloadLocation: 'http80' });
    try {
      await emu.control.seedExportMessage({ activityId: exportId, content: 'behind the load balancer' });
      const message = await recurring.dequeue(exportId);
      expect(message!.downloadLocation).toMatch(/^http:\/\/127\.0\.0\.1:80\//);
      expect(recurring.resolveDownloadUrl(message!.downloadLocation).startsWith(`${emu.baseUrl}/`)).toBe(
        true,
      );
      expect(await text((await recurring.download(message!)).stream)).toBe('behind the load balancer');
      await recurring.ack(exportId, message!);
    } finally {
      await emu.control.setOptions({ downloadLocation: 'https' });
    }
  });

  it('retries a replayable enqueue after 429, honouring Retry-After', async () => {
    const throttled = await throttledOnce(emu, 'enqueue', 3, ({ recurring: client }) =>
      client.enqueue(importId, Buffer.from('CustomerAccount,Name\r\nREC-0301,x\r\n'), {
        entity: 'Customers V3',
      }),
    );
    expect(throttled.statuses).toEqual([429, 200]);
    expect(throttled.gapMs).toBeGreaterThanOrEqual(3_000);
  });

  it('does not resend an enqueue after a 5xx and refuses oversized bodies with 413', async () => {
    await emu.control.setFault({ route: 'enqueue', kind: 'status', status: 500, times: 1 });
    const failed = await caught(recurring.enqueue(importId, 'CustomerAccount\r\nX\r\n'));
    expect(failed.code).toBe('DMF_HTTP_500');
    expect(failed.transient).toBe(true);
    await emu.control.setOptions({ maxEnqueueBytes: 10 });
    try {
      const tooBig = await caught(recurring.enqueue(importId, Buffer.alloc(1_000)));
      expect(tooBig.code).toBe('DMF_HTTP_413');
      expect(tooBig.transient).toBe(false);
    } finally {
      await emu.control.setOptions({ maxEnqueueBytes: 50_000_000 });
    }
  });
});
