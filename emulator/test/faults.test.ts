import { request } from 'node:https';
import { describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../index.js';
import {
  action,
  customersPackage,
  executionErrors,
  importPackage,
  stagingErrorFileUrl,
  summary,
  uploadPackage,
  useTestEmulator,
  valueOf,
} from './helpers.js';

const writeUrl = (): ReturnType<typeof action> =>
  action(em, 'GetAzureWriteUrl', { uniqueFileName: 'f.zip' }, token);

let em: RunningEmulator, token: string;
useTestEmulator((e, t) => ([em, token] = [e, t]));
const CSV = 'CUSTOMERACCOUNT,NAME\r\nF-1,a\r\nF-2,b\r\n';

describe('faults', () => {
  it('429 with Retry-After, for the next N calls, counted, then normal again', async () => {
    const fault = await em.control.setFault({
      route: 'GetAzureWriteUrl',
      kind: 'status',
      status: 429,
      retryAfterSeconds: 7,
      times: 2,
    });
    expect(fault).toMatchObject({ hits: 0, remaining: 2 });
    for (let i = 0; i < 2; i++) {
      const r = await writeUrl();
      expect(r.status).toBe(429);
      expect(r.headers.get('retry-after')).toBe('7');
      // service-protection-api-limits.md, "Resource utilization threshold".
      expect(r.text).toContain('due to system experiencing high resource utilization');
      expect(r.body).toMatchObject({ error: { code: '', message: 'An error has occurred.' } });
    }
    expect((await writeUrl()).status).toBe(200);
    expect((await em.control.faults())[0]).toMatchObject({ hits: 2, remaining: 0 });
    const calls = (await em.control.calls()).filter((c) => c.route === 'GetAzureWriteUrl');
    expect(calls.map((c) => c.status)).toEqual([429, 429, 200]);
    expect(calls[0]?.fault).toBe('status 429');
  });

  it.each([500, 502, 503])('HTTP %i until cleared, only on its route', async (code) => {
    await em.control.setFault({ route: 'GetExecutionSummaryStatus', kind: 'status', status: code });
    expect((await action(em, 'GetExecutionSummaryStatus', { executionId: 'x' }, token)).status).toBe(code);
    expect((await action(em, 'GetExecutionSummaryStatus', { executionId: 'x' }, token)).status).toBe(code);
    expect((await writeUrl()).status).toBe(200);
    await em.control.clearFaults();
    expect((await action(em, 'GetExecutionSummaryStatus', { executionId: 'x' }, token)).status).toBe(400);
  });

  it('added latency delays the answer', async () => {
    await em.control.setFault({ route: 'GetAzureWriteUrl', kind: 'latency', ms: 300, times: 1 });
    const t0 = Date.now();
    expect((await writeUrl()).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    const call = (await em.control.calls()).find((c) => c.route === 'GetAzureWriteUrl');
    expect(call?.fault).toBe('latency');
    expect(call?.durationMs).toBeGreaterThanOrEqual(280);
  });

  it('connection reset destroys the socket, and the emulator keeps serving', async () => {
    await em.control.setFault({ route: 'GetAzureWriteUrl', kind: 'reset', times: 1 });
    const url = new URL(
      `${em.baseUrl}/data/DataManagementDefinitionGroups/Microsoft.Dynamics.DataEntities.GetAzureWriteUrl`,
    );
    const error = await new Promise<Error | undefined>((resolve) => {
      const req = request(
        url,
        {
          method: 'POST',
          ca: em.caCertPem,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(undefined));
        },
      );
      req.on('error', resolve);
      req.end('{"uniqueFileName":"r.zip"}');
    });
    expect(error?.message).toMatch(/socket hang up|ECONNRESET/);
    expect((await writeUrl()).status).toBe(200);
  });

  it('dropResponse: ImportFromPackage is processed, then the socket is destroyed unanswered', async () => {
    const packageUrl = await uploadPackage(em, token, await customersPackage(CSV));
    await em.control.setFault({ route: 'ImportFromPackage', kind: 'dropResponse', times: 1 });
    const body = JSON.stringify({
      packageUrl,
      definitionGroupId: 'CustomerImport',
      executionId: 'dropped-answer-1',
      execute: true,
      overwrite: true,
      legalEntityId: 'USMF',
    });
    const outcome = await new Promise<{ error?: Error; status?: number }>((resolve) => {
      const req = request(
        `${em.baseUrl}/data/DataManagementDefinitionGroups/Microsoft.Dynamics.DataEntities.ImportFromPackage`,
        {
          method: 'POST',
          ca: em.caCertPem,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode }));
        },
      );
      req.on('error', (error) => resolve({ error }));
      req.end(body);
    });
    expect(outcome.status).toBeUndefined();
    expect(outcome.error?.message).toMatch(/socket hang up|ECONNRESET/);
    // The execution exists: a client that simply retries the start with the same id is refused.
    expect((await em.control.executions()).map((e) => e.executionId)).toEqual(['dropped-answer-1']);
    expect(await summary(em, token, 'dropped-answer-1')).toBe('NotRun');
    const retry = await action(em, 'ImportFromPackage', JSON.parse(body), token);
    expect(retry.status).toBe(400);
    expect(retry.text).toContain('already in use');
    await em.control.advanceClock(2_000);
    expect(await summary(em, token, 'dropped-answer-1')).toBe('Succeeded');
    expect((await em.control.faults())[0]).toMatchObject({ hits: 1, remaining: 0 });
    const calls = (await em.control.calls()).filter((c) => c.route === 'ImportFromPackage');
    expect(calls.map((c) => [c.status, c.fault, c.executionId])).toEqual([
      [200, 'dropResponse', 'dropped-answer-1'],
      [400, undefined, 'dropped-answer-1'],
    ]);
  });

  it('dropResponse on the token route: the token is issued, the client sees no answer', async () => {
    await em.control.setFault({ route: 'token', kind: 'dropResponse', times: 1 });
    const form = {
      grant_type: 'client_credentials',
      client_id: em.credentials.clientId,
      client_secret: em.credentials.clientSecret ?? '',
      scope: em.credentials.scope,
    };
    await expect(fetch(em.tokenUrl, { method: 'POST', body: new URLSearchParams(form) })).rejects.toThrow();
    // (beforeEach got a token too: look at the last token call only)
    const tokenCalls = (await em.control.calls()).filter((c) => c.route === 'token');
    expect(tokenCalls.slice(-1).map((c) => [c.status, c.fault])).toEqual([[200, 'dropResponse']]);
    const again = await fetch(em.tokenUrl, { method: 'POST', body: new URLSearchParams(form) });
    expect(again.status).toBe(200);
    await again.text();
  });

  it('dropResponse on enqueue: the message is queued although the client saw no answer', async () => {
    const activity = em.recurring.importActivityId ?? '';
    await em.control.setFault({ route: 'enqueue', kind: 'dropResponse', times: 1 });
    const error = await new Promise<Error | undefined>((resolve) => {
      const req = request(
        `${em.baseUrl}/api/connector/enqueue/${activity}?entity=Customers%20V3&company=USMF`,
        { method: 'POST', ca: em.caCertPem, headers: { authorization: `Bearer ${token}` } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(undefined));
        },
      );
      req.on('error', resolve);
      req.end(CSV);
    });
    expect(error?.message).toMatch(/socket hang up|ECONNRESET/);
    expect((await em.control.queues()).map((q) => q.activityId)).toEqual([activity]);
  });

  it.each(['Failed', 'Canceled', 'PartiallySucceeded'] as const)(
    'an execution can be forced to end %s',
    async (outcome) => {
      await em.control.setFault({ route: 'ImportFromPackage', kind: 'outcome', outcome, times: 1 });
      const id = await importPackage(em, token, await customersPackage(CSV));
      await em.control.advanceClock(2_000);
      expect(await summary(em, token, id)).toBe(outcome);
      const errors = await executionErrors(em, token, id);
      expect(errors.length).toBeGreaterThan(0);
      const rows = await em.control.rows('Customers V3', 'USMF');
      expect(rows.length).toBe(outcome === 'PartiallySucceeded' ? 1 : 0);
      const stagingUrl = await stagingErrorFileUrl(em, token, id);
      if (outcome === 'PartiallySucceeded') {
        // The rejected row is the same in GetExecutionErrors and in the staging error file.
        const lines = (await (await fetch(stagingUrl)).text()).trim().split('\r\n');
        expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(errors.map((e) => e.RecordId));
        expect(lines[1]).toContain('F-2');
      } else {
        expect(stagingUrl).toBe('');
      }
    },
  );

  it('earlier SAS expiry makes the write url unusable at once', async () => {
    await em.control.setFault({ route: 'GetAzureWriteUrl', kind: 'sasExpiry', seconds: -60, times: 1 });
    const { BlobUrl } = JSON.parse(valueOf(await writeUrl()) as string) as { BlobUrl: string };
    const put = await fetch(BlobUrl, {
      method: 'PUT',
      headers: { 'x-ms-blob-type': 'BlockBlob' },
      body: 'x',
    });
    expect(put.status).toBe(403);
    await put.text();
  });

  it('the token route can fail too', async () => {
    await em.control.setFault({
      route: 'token',
      kind: 'status',
      status: 503,
      retryAfterSeconds: 2,
      times: 1,
    });
    const r = await fetch(em.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('2');
    await r.text();
  });

  it('refuses an invalid fault spec with 400', async () => {
    await expect(em.control.setFault({ route: 'x', kind: 'status', status: 200 })).rejects.toThrow(/400/);
  });
});

describe('control API input', () => {
  it('answers 400 for malformed bodies and unknown routes, and keeps serving', async () => {
    const post = (path: string, body: string): Promise<Response> =>
      fetch(`${em.controlUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    for (const [path, body] of [
      ['/faults', '{oops'],
      ['/clock/advance', '{"ms":-1}'],
      ['/options', '{"notFoundWindowMs":"soon"}'],
      ['/options', '{"noSuchSwitch":1}'],
      ['/rows', '{}'],
      [`/recurring/${em.recurring.importActivityId ?? ''}/messages`, '{}'],
    ] as const) {
      const res = await post(path, body);
      expect(res.status, `${path} ${body}`).toBe(400);
      expect(((await res.json()) as { error: string }).error).toEqual(expect.any(String) as unknown);
    }
    const unknown = await fetch(`${em.controlUrl}/nope`);
    expect(unknown.status).toBe(404);
    await unknown.text();
    expect((await em.control.clock()).mode).toBe('manual');
  });
});
