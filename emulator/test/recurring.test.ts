import { describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../index.js';
import {
  action,
  bearer,
  customersPackage,
  recurringActivities,
  useTestEmulator,
  valueOf,
} from './helpers.js';

let em: RunningEmulator, token: string, importId: string, exportId: string;
useTestEmulator((e, t) => {
  [em, token] = [e, t];
  ({ importId, exportId } = recurringActivities(e));
});
const auth = (): Record<string, string> => bearer(token);

async function enqueue(
  body: Buffer | string,
  query = '',
  headers: Record<string, string> = {},
  activity = importId,
): Promise<Response> {
  return fetch(`${em.baseUrl}/api/connector/enqueue/${activity}${query}`, {
    method: 'POST',
    headers: { ...auth(), ...headers },
    body,
  });
}

async function messageStatus(messageId: string): Promise<string> {
  return valueOf(await action(em, 'GetMessageStatus', { messageId }, token)) as string;
}

async function dequeue(): Promise<Response> {
  return fetch(`${em.baseUrl}/api/connector/dequeue/${exportId}`, { headers: auth() });
}

interface DequeueBody {
  CorrelationId: string;
  PopReceipt: string;
  DownloadLocation: string;
  IsDownLoadFileExist: boolean;
  FileDownLoadErrorMessage: string | null;
  LastDequeueDateTime: string | null;
}

/** Posts an ack (a dequeue answer, or any body as text) for the export activity. */
async function ack(body: object | string): Promise<Response> {
  return fetch(`${em.baseUrl}/api/connector/ack/${exportId}`, {
    method: 'POST',
    headers: { ...auth(), 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** The three fields of a dequeue answer an ack needs. */
const ackOf = (d: DequeueBody): object => ({
  CorrelationId: d.CorrelationId,
  PopReceipt: d.PopReceipt,
  DownloadLocation: d.DownloadLocation,
});

describe('recurring import', () => {
  it('enqueue answers a quoted message id; the message moves through the states and really imports', async () => {
    const res = await enqueue(
      'CUSTOMERACCOUNT,NAME\r\nREC-1,One\r\nREC-2,Two\r\n',
      '?entity=Customers%20V3&company=USMF',
      { 'x-ms-dyn-externalidentifier': 'customers-2026.csv' },
      `{${importId.toUpperCase()}}`,
    );
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^"[0-9a-f-]{36}"$/);
    const messageId = text.slice(1, -1);
    expect(await messageStatus(messageId)).toBe('Enqueued');
    expect(valueOf(await action(em, 'GetExecutionIdByMessageId', { _messageId: messageId }, token))).toBe(
      '00000000-0000-0000-0000-000000000000',
    );
    await em.control.advanceClock(1_000);
    expect(await messageStatus(messageId)).toBe('Dequeued');
    const executionId = valueOf(
      await action(em, 'GetExecutionIdByMessageId', { _messageId: messageId }, token),
    ) as string;
    expect(executionId).not.toBe('00000000-0000-0000-0000-000000000000');
    await em.control.advanceClock(300);
    expect(await messageStatus(messageId)).toBe('Preprocessing');
    await em.control.advanceClock(1_000);
    expect(await messageStatus(messageId)).toBe('Processing');
    await em.control.advanceClock(1_000);
    expect(await messageStatus(messageId)).toBe('Processed');
    expect(valueOf(await action(em, 'GetExecutionSummaryStatus', { executionId }, token))).toBe('Succeeded');
    const rows = await em.control.rows('Customers V3', 'USMF');
    expect(rows.map((r) => r.CUSTOMERACCOUNT).sort()).toEqual(['REC-1', 'REC-2']);

    const job = await fetch(`${em.baseUrl}/api/connector/jobstatus/${importId}?jobId=${messageId}`, {
      headers: auth(),
    });
    const detail = (await job.json()) as {
      DataJobStatus: Record<string, unknown>;
      ExecutionDetail: Record<string, unknown>[];
    };
    expect(detail.DataJobStatus).toMatchObject({
      DataProject: 'CustomerImport',
      ExternalIdentifier: 'customers-2026.csv',
      ExecutionIdentifier: executionId,
      DataJobState: 'Processed',
    });
    expect(detail.ExecutionDetail[0]).toMatchObject({
      EntityName: 'Customers V3',
      Company: 'USMF',
      StagingRecords: 2,
      TargetRecords: 2,
    });
  });

  it('a package job (no entity) with bad rows ends ProcessedWithErrors; an unreadable package ends PreProcessingError', async () => {
    const pkg = await customersPackage('CUSTOMERACCOUNT,NAME\r\nP-1,ok\r\nP-2,#BAD#\r\n');
    const ok = (await (await enqueue(pkg)).json()) as string;
    const broken = (await (await enqueue('not a zip')).json()) as string;
    await em.control.advanceClock(5_000);
    expect(await messageStatus(ok)).toBe('ProcessedWithErrors');
    expect(await messageStatus(broken)).toBe('PreProcessingError');
  });

  it('the alternate spelling switch emits PreProcessing', async () => {
    await em.control.setOptions({ messageStatusSpelling: 'alternate' });
    const id = (await (await enqueue('CUSTOMERACCOUNT\r\nA\r\n', '?entity=Customers%20V3')).json()) as string;
    await em.control.advanceClock(1_300);
    expect(await messageStatus(id)).toBe('PreProcessing');
  });

  it('answers 413 above the enqueue size limit and keeps serving', async () => {
    await em.control.setOptions({ maxEnqueueBytes: 100 });
    const res = await enqueue(Buffer.alloc(1_000, 65), '?entity=Customers%20V3');
    expect(res.status).toBe(413);
    await res.text();
    expect((await enqueue('CUSTOMERACCOUNT\r\nA\r\n', '?entity=Customers%20V3')).status).toBe(200);
  });

  it('an unknown activity gets an error envelope', async () => {
    const res = await enqueue('x', '', {}, '11111111-2222-3333-4444-555555555555');
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { innererror: { message: string } } };
    expect(body.error.innererror.message).toContain('11111111');
  });
});

describe('recurring export', () => {
  it('dequeue answers 204 when empty, the exact JSON otherwise; download needs the token; ack removes the message', async () => {
    const empty = await dequeue();
    expect(empty.status).toBe(204);
    expect(await empty.text()).toBe('');
    const { messageId } = await em.control.seedExportMessage({
      activityId: exportId,
      fileName: 'out.csv',
      content: 'A,B\r\n1,2\r\n',
    });
    const res = await dequeue();
    expect(res.status).toBe(200);
    const body = (await res.json()) as DequeueBody;
    expect(Object.keys(body)).toEqual([
      'CorrelationId',
      'PopReceipt',
      'DownloadLocation',
      'IsDownLoadFileExist',
      'FileDownLoadErrorMessage',
      'LastDequeueDateTime',
    ]);
    expect(body.CorrelationId).toBe(messageId);
    expect(body.IsDownLoadFileExist).toBe(true);
    expect(body.LastDequeueDateTime).toBeNull();
    expect(body.DownloadLocation).toMatch(
      new RegExp(`^${em.baseUrl}/api/connector/download/${exportId}\\?correlation-id=${messageId}&blob=`),
    );
    expect((await fetch(body.DownloadLocation)).status).toBe(401);
    const file = await fetch(body.DownloadLocation, { headers: auth() });
    expect(await file.text()).toBe('A,B\r\n1,2\r\n');
    expect(await messageStatus(messageId)).toBe('Dequeued');
    expect((await dequeue()).status).toBe(204);
    expect((await ack(body)).status).toBe(200);
    expect(await messageStatus(messageId)).toBe('Acked');
    await em.control.advanceClock(31 * 60_000);
    expect((await dequeue()).status).toBe(204);
  });

  it('an un-acked message reappears after the visibility timeout with LastDequeueDateTime; a partial ack body works', async () => {
    await em.control.setOptions({ visibilityTimeoutMs: 60_000 });
    await em.control.seedExportMessage({ activityId: exportId, content: 'x' });
    const first = (await (await dequeue()).json()) as DequeueBody;
    await em.control.advanceClock(59_000);
    expect((await dequeue()).status).toBe(204);
    await em.control.advanceClock(1_000);
    const again = await dequeue();
    expect(again.status).toBe(200);
    const second = (await again.json()) as DequeueBody;
    expect(second.CorrelationId).toBe(first.CorrelationId);
    expect(second.PopReceipt).not.toBe(first.PopReceipt);
    expect(second.LastDequeueDateTime).not.toBeNull();
    const stale = await ack(ackOf(first));
    expect(stale.status).toBe(400);
    const acked = await ack(ackOf(second));
    expect(acked.status).toBe(200);
    await em.control.advanceClock(120_000);
    expect((await dequeue()).status).toBe(204);
  });

  it('the http80 switch emits http://…:80 DownloadLocations; the rewritten https url is served', async () => {
    await em.control.setOptions({ downloadLocation: 'http80' });
    await em.control.seedExportMessage({ activityId: exportId, content: 'behind the load balancer' });
    const body = (await (await dequeue()).json()) as DequeueBody;
    const emitted = new URL(body.DownloadLocation);
    expect(body.DownloadLocation.startsWith('http://127.0.0.1:80/api/connector/download/')).toBe(true);
    // The documented client rewrite: keep path and query, take scheme, host and port from the base url.
    const rewritten = new URL(`${emitted.pathname}${emitted.search}`, em.baseUrl);
    const file = await fetch(rewritten, { headers: auth() });
    expect(await file.text()).toBe('behind the load balancer');
  });

  it('malformed acks, wrong methods and unknown download ids get error envelopes; the emulator keeps serving', async () => {
    for (const body of [
      '{not json',
      '[]',
      '{"CorrelationId":"x"}',
      '{"CorrelationId":"x","PopReceipt":"y"}',
    ]) {
      const res = await ack(body);
      expect(res.status, body).toBe(400);
      const parsed = (await res.json()) as { error: { message: string } };
      expect(parsed.error.message).toBe('An error has occurred.');
    }
    const wrongMethod = await fetch(`${em.baseUrl}/api/connector/dequeue/${exportId}`, {
      method: 'POST',
      headers: auth(),
    });
    expect(wrongMethod.status).toBe(405);
    await wrongMethod.text();
    const missing = await fetch(
      `${em.baseUrl}/api/connector/download/${exportId}?correlation-id=nope&blob=nope`,
      {
        headers: auth(),
      },
    );
    expect(missing.status).toBe(404);
    await missing.text();
    expect((await dequeue()).status).toBe(204);
  });

  it('ack answering 500 (fault) leaves the message un-acked; a retried ack succeeds', async () => {
    await em.control.seedExportMessage({ activityId: exportId, content: 'x' });
    const body = (await (await dequeue()).json()) as DequeueBody;
    await em.control.setFault({ route: 'ack', kind: 'status', status: 500, times: 1 });
    expect((await ack(body)).status).toBe(500);
    expect((await em.control.queues())[0]?.acked).toBe(false);
    expect((await ack(body)).status).toBe(200);
    expect((await em.control.queues())[0]?.acked).toBe(true);
  });
});
