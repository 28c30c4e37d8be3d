/**
 * The durable purge (src/functions/common/purgeHistory.ts) under the local host, through the real durable
 * client and the host's purge API: it deletes exactly the finished instances created before
 * `now - days`, keeps running ones, and 0 days keeps everything. (The plain function and
 * DMF_PURGE_AFTER_DAYS: test/unit/app/purge-history.test.ts; the timer's registration:
 * test/infra/cross-check.test.ts.) The app code is imported by the host only (fixtures/purge-app),
 * never by this file, so `@azure/functions` registers with the host.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunningHost, VirtualClock } from '@dmf-functions/devhost';
import { useTestHost } from '@dmf-functions/devhost/testing';

const appRoot = join(import.meta.dirname, 'fixtures', 'purge-app');
const DAY = 86_400_000;

describe('the purge under the local host, through the real durable client', () => {
  let host: RunningHost;
  let clock: VirtualClock;
  const startedAt = Date.parse('2031-01-01T00:00:00Z');

  const call = async (method: string, path: string): Promise<{ status: number; body: unknown }> => {
    const res = await fetch(`${host.baseUrl}/api/fixture/${path}`, { method });
    const text = await res.text();
    return {
      status: res.status,
      body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text,
    };
  };

  useTestHost({ appRoot, start: startedAt }, (h, c) => ([host, clock] = [h, c]));

  it('deletes the history of finished instances only, and only those older than the days', async () => {
    expect((await call('POST', 'start/finishesAtOnce/old-done')).status).toBe(202);
    expect((await call('POST', 'start/waitsForGo/old-running')).status).toBe(202);
    expect((await host.durable.waitForCompletion('old-done', 20_000)).runtimeStatus).toBe('Completed');
    const later = new Date(clock.now() + 10 * DAY);
    clock.advanceTo(later.getTime());
    expect((await call('POST', 'start/finishesAtOnce/new-done')).status).toBe(202);
    expect((await host.durable.waitForCompletion('new-done', 20_000)).runtimeStatus).toBe('Completed');

    // 31 days after the first two: only old-done is finished and old enough.
    const now = new Date(startedAt + 31 * DAY).toISOString();
    expect((await call('POST', `purge?days=0&now=${now}`)).body).toEqual({ purged: 0 });
    expect((await call('GET', 'status/old-done')).status).toBe(200);
    expect((await call('POST', `purge?days=30&now=${now}`)).body).toEqual({
      purged: 1,
      createdBefore: new Date(startedAt + DAY).toISOString(),
    });
    expect((await call('GET', 'status/old-done')).status).toBe(404);
    expect((await call('GET', 'status/old-running')).body).toEqual({ runtimeStatus: 'Running' });
    expect((await call('GET', 'status/new-done')).body).toEqual({ runtimeStatus: 'Completed' });
    // A second run finds nothing more to purge.
    expect((await call('POST', `purge?days=30&now=${now}`)).body).toEqual({
      purged: 0,
      createdBefore: new Date(startedAt + DAY).toISOString(),
    });
  });
});
