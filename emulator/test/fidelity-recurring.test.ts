/**
 * Conformance, raw HTTP (no app code): the recurring integration API as F&O answers it.
 * Rule 3: jobstatus `DataJobStatus.DataJobState` takes F&O's DataJobState enum (RIS
 * Common/Contracts/ContractEnums.cs: Enqueued = 0 … PostProcessError = 7, PreProcessError = 8),
 * as names or numbers. Rule 4 (recurring part): dequeue can say `IsDownLoadFileExist: false` and
 * the connector answers under a language segment (`/en/api/connector/…`), both from
 * recurring-integrations.md.
 */
import { describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../index.js';
import { action, bearer, recurringActivities, useTestEmulator, valueOf } from './helpers.js';

let em: RunningEmulator, token: string, importId: string, exportId: string;
useTestEmulator((e, t) => {
  [em, token] = [e, t];
  ({ importId, exportId } = recurringActivities(e));
});
const auth = (): Record<string, string> => bearer(token);

async function enqueue(body: string, query = '?entity=Customers%20V3', prefix = ''): Promise<string> {
  const res = await fetch(`${em.baseUrl}${prefix}/api/connector/enqueue/${importId}${query}`, {
    method: 'POST',
    headers: auth(),
    body,
  });
  expect(res.status).toBe(200);
  return JSON.parse(await res.text()) as string;
}

async function jobState(messageId: string, activity = importId): Promise<unknown> {
  const res = await fetch(`${em.baseUrl}/api/connector/jobstatus/${activity}?jobId=${messageId}`, {
    headers: auth(),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { DataJobStatus: { DataJobState: unknown } }).DataJobStatus.DataJobState;
}

async function messageStatus(messageId: string): Promise<string> {
  return valueOf(await action(em, 'GetMessageStatus', { messageId }, token)) as string;
}

interface Dequeued {
  CorrelationId: string;
  PopReceipt: string;
  DownloadLocation: string;
  IsDownLoadFileExist: boolean;
  FileDownLoadErrorMessage: string | null;
}

async function dequeue(prefix = ''): Promise<Dequeued> {
  const res = await fetch(`${em.baseUrl}${prefix}/api/connector/dequeue/${exportId}`, { headers: auth() });
  expect(res.status).toBe(200);
  return (await res.json()) as Dequeued;
}

async function ack(body: Dequeued, prefix = ''): Promise<number> {
  const res = await fetch(`${em.baseUrl}${prefix}/api/connector/ack/${exportId}`, {
    method: 'POST',
    headers: { ...auth(), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await res.text();
  return res.status;
}

describe('rule 3: jobstatus DataJobState uses the DataJobState enum, not GetMessageStatus words (RIS ContractEnums.cs)', () => {
  it('an import file goes Enqueued → Dequeued → InProcess → Processed while GetMessageStatus says Preprocessing/Processing', async () => {
    const id = await enqueue('CUSTOMERACCOUNT,NAME\r\nJ-1,ok\r\n');
    expect(await jobState(id)).toBe('Enqueued');
    await em.control.advanceClock(1_000); // picked up: its execution is NotRun
    expect(await jobState(id)).toBe('Dequeued');
    await em.control.advanceClock(400); // Executing
    expect(await jobState(id)).toBe('InProcess');
    expect(['Preprocessing', 'Processing']).toContain(await messageStatus(id));
    await em.control.advanceClock(2_000);
    expect(await jobState(id)).toBe('Processed');
    expect(await messageStatus(id)).toBe('Processed');
  });

  it('errors: ProcessedWithErrors (bad rows), PreProcessError (unreadable package; GetMessageStatus: PreProcessingError), PostProcessError (canceled)', async () => {
    const bad = await enqueue('CUSTOMERACCOUNT,NAME\r\nJ-2,#BAD#\r\n');
    const unreadable = await enqueue('not a zip', '');
    await em.control.setFault({ route: 'enqueue', kind: 'outcome', outcome: 'Canceled', times: 1 });
    const canceled = await enqueue('CUSTOMERACCOUNT\r\nJ-3\r\n');
    await em.control.advanceClock(5_000);
    expect(await jobState(bad)).toBe('ProcessedWithErrors');
    expect(await jobState(unreadable)).toBe('PreProcessError');
    expect(await messageStatus(unreadable)).toBe('PreProcessingError');
    expect(await jobState(canceled)).toBe('PostProcessError');
    expect(await messageStatus(canceled)).toBe('PostProcessingFailed');
  });

  it('the numeric form (jobStatusStateFormat: number) follows the enum order: Enqueued 0, Processed 5, PreProcessError 8', async () => {
    await em.control.setOptions({ jobStatusStateFormat: 'number' });
    const ok = await enqueue('CUSTOMERACCOUNT\r\nJ-4\r\n');
    const unreadable = await enqueue('not a zip', '');
    expect(await jobState(ok)).toBe(0);
    await em.control.advanceClock(5_000);
    expect(await jobState(ok)).toBe(5);
    expect(await jobState(unreadable)).toBe(8);
  });

  it('an export message goes Enqueued → Dequeued → Downloaded → Acked', async () => {
    const { messageId } = await em.control.seedExportMessage({ activityId: exportId, content: 'x' });
    expect(await jobState(messageId, exportId)).toBe('Enqueued');
    const body = await dequeue();
    expect(await jobState(messageId, exportId)).toBe('Dequeued');
    const file = await fetch(body.DownloadLocation, { headers: auth() });
    expect(await file.text()).toBe('x');
    expect(await jobState(messageId, exportId)).toBe('Downloaded');
    expect(await ack(body)).toBe(200);
    expect(await jobState(messageId, exportId)).toBe('Acked');
    expect((await em.control.queues())[0]).toMatchObject({ dataJobState: 'Acked', status: 'Acked' });
  });
});

describe('rule 4 (recurring): a missing file and the language segment (recurring-integrations.md)', () => {
  it('"when there was no file uploaded to the blob, the dequeue API will return a response indicating as such": IsDownLoadFileExist false, download 404, ack works', async () => {
    await em.control.seedExportMessage({ activityId: exportId, content: 'lost' });
    await em.control.seedExportMessage({ activityId: exportId, content: 'kept' });
    await em.control.setFault({ route: 'dequeue', kind: 'fileMissing', times: 1 });
    const missing = await dequeue();
    expect(missing.IsDownLoadFileExist).toBe(false);
    expect(missing.FileDownLoadErrorMessage).toEqual(expect.any(String));
    const download = await fetch(missing.DownloadLocation, { headers: auth() });
    expect(download.status).toBe(404);
    await download.text();
    expect(await ack(missing)).toBe(200);
    const next = await dequeue();
    expect(next).toMatchObject({ IsDownLoadFileExist: true, FileDownLoadErrorMessage: null });
    expect(await (await fetch(next.DownloadLocation, { headers: auth() })).text()).toBe('kept');
    const calls = (await em.control.calls()).filter((c) => c.route === 'dequeue');
    expect(calls.map((c) => c.fault)).toEqual(['fileMissing', undefined]);
  });

  it('the docs\' "GET https://…/en/api/connector/dequeue/…" and "POST …/en/api/connector/ack/…" work, enqueue and jobstatus too', async () => {
    await em.control.seedExportMessage({ activityId: exportId, content: 'en' });
    const body = await dequeue('/en');
    expect(await ack(body, '/en')).toBe(200);
    const id = await enqueue('CUSTOMERACCOUNT\r\nEN-1\r\n', '?entity=Customers%20V3', '/en');
    const res = await fetch(`${em.baseUrl}/en/api/connector/jobstatus/${importId}?jobId=${id}`, {
      headers: auth(),
    });
    expect(res.status).toBe(200);
    await res.text();
    const unknown = await fetch(`${em.baseUrl}/en/api/nothing/${importId}`, { headers: auth() });
    expect(unknown.status).toBe(404);
    await unknown.text();
  });
});
