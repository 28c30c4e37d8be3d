/**
 * Conformance, raw HTTP (no app code), rule 6: priority-based (resource-based) throttling.
 * service-protection-api-limits.md: throttled requests get "429 Too Many Requests" with a
 * Retry-After interval and, for the resource utilization threshold, the message "This request
 * could not be processed at this time due to system experiencing high resource utilization.";
 * priority-based-throttling.md: the resource-based limits throttle integrations while the
 * environment is busy, which can last minutes. The `throttle` fault sustains that for a span of
 * emulator time.
 */
import { describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../index.js';
import { action, getToken, innerMessage, useTestEmulator } from './helpers.js';

const BUSY =
  'This request could not be processed at this time due to system experiencing high resource utilization.';

let em: RunningEmulator, token: string;
useTestEmulator((e, t) => ([em, token] = [e, t]));

const status = (): ReturnType<typeof action> =>
  action(em, 'GetExecutionSummaryStatus', { executionId: 'any' }, token);

describe('rule 6: sustained 429 + Retry-After (service protection API limits, priority-based throttling)', () => {
  it('a 10-minute storm on GetExecutionSummaryStatus: 429, Retry-After and the documented message on every call, other actions served, normal after 10 minutes of emulator time', async () => {
    const fault = await em.control.setFault({
      route: '*',
      kind: 'throttle',
      forMs: 10 * 60_000,
      retryAfterSeconds: 30,
      actions: ['GetExecutionSummaryStatus'],
    });
    expect(fault.until).toBe(
      new Date(Date.parse((await em.control.clock()).now) + 10 * 60_000).toISOString(),
    );
    for (const minutes of [0, 3, 9]) {
      if (minutes > 0) await em.control.advanceClock(3 * 60_000 + (minutes === 9 ? 3 * 60_000 : 0));
      const r = await status();
      expect(r.status).toBe(429);
      expect(r.headers.get('retry-after')).toBe('30');
      expect(innerMessage(r.body)).toBe(BUSY);
    }
    const other = await action(em, 'GetAzureWriteUrl', { uniqueFileName: 'busy.zip' }, token);
    expect(other.status).toBe(200);
    await em.control.advanceClock(60_000 + 1);
    const after = await status();
    expect(after.status).toBe(400); // served again: "Execution details were not found…"
    const calls = (await em.control.calls()).filter((c) => c.route === 'GetExecutionSummaryStatus');
    expect(calls.map((c) => `${c.status} ${c.fault ?? ''}`)).toEqual([
      '429 throttle',
      '429 throttle',
      '429 throttle',
      '400 ',
    ]);
    expect((await em.control.faults())[0]).toMatchObject({ hits: 3 });
  });

  it('without retryAfterSeconds, Retry-After is the time left in the window; a route-bound throttle leaves others alone; the token endpoint is never F&O-throttled', async () => {
    await em.control.setFault({ route: 'ImportFromPackage', kind: 'throttle', forMs: 90_000 });
    await em.control.setFault({ route: '*', kind: 'throttle', forMs: 90_000, actions: ['dequeue'] });
    // A write url never uploaded to: served calls answer 400 quickly (the blob does not exist).
    const write = await action(em, 'GetAzureWriteUrl', { uniqueFileName: 'never-uploaded.zip' }, token);
    const { BlobUrl } = JSON.parse((write.body as { value: string }).value) as { BlobUrl: string };
    const body = {
      packageUrl: BlobUrl,
      definitionGroupId: 'CustomerImport',
      executionId: '',
      execute: true,
      overwrite: true,
      legalEntityId: 'USMF',
    };
    const first = await action(em, 'ImportFromPackage', body, token);
    expect([first.status, first.headers.get('retry-after')]).toEqual([429, '90']);
    await em.control.advanceClock(60_000);
    const second = await action(em, 'ImportFromPackage', body, token);
    expect([second.status, second.headers.get('retry-after')]).toEqual([429, '30']);
    const dequeue = await fetch(
      `${em.baseUrl}/api/connector/dequeue/${em.recurring.exportActivityId ?? ''}`,
      {
        headers: { authorization: `Bearer ${token}` },
      },
    );
    expect(dequeue.status).toBe(429);
    await dequeue.text();
    expect((await status()).status).toBe(400);
    expect(await getToken(em)).toEqual(expect.any(String));
    await em.control.advanceClock(30_000);
    const served = await action(em, 'ImportFromPackage', body, token);
    expect(served.status).toBe(400); // no such package: served, not throttled
  });

  it('a 429 status fault uses the same documented message', async () => {
    await em.control.setFault({ route: 'GetAzureWriteUrl', kind: 'status', status: 429, times: 1 });
    const r = await action(em, 'GetAzureWriteUrl', { uniqueFileName: 'x.zip' }, token);
    expect(r.status).toBe(429);
    expect(innerMessage(r.body)).toBe(BUSY);
  });
});
