import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createVirtualClock, startHost } from '../index.js';
import type { RunningHost, VirtualClock } from '../index.js';
import { useTestHost } from '../testing.js';

const appRoot = join(import.meta.dirname, 'fixtures', 'durable-app');

interface Probe {
  pre: number;
  post: number;
  activityCalls: Record<string, number>;
  shifty?: boolean;
}
const probe = (): Probe => (globalThis as unknown as { __devhostProbe: Probe }).__devhostProbe;

let host: RunningHost;
let clock: VirtualClock;
const startedAt = Date.parse('2030-01-01T00:00:00Z');

async function start(
  name: string,
  input?: unknown,
  id?: string,
): Promise<{ status: number; body: Record<string, string> }> {
  const res = await fetch(`${host.baseUrl}/api/orchestrators/${name}${id ? `/${id}` : ''}`, {
    method: 'POST',
    headers: { 'x-functions-key': host.functionsKey },
    body: input === undefined ? '' : JSON.stringify(input),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

async function run(
  name: string,
  input?: unknown,
): Promise<{ id: string; status: Awaited<ReturnType<RunningHost['durable']['waitForCompletion']>> }> {
  const { status, body } = await start(name, input);
  expect(status).toBe(202);
  const id = body.id as string;
  const final = await host.durable.waitForCompletion(id, 20_000);
  if (process.env.DEVHOST_DEBUG) console.log(JSON.stringify(final));
  return { id, status: final };
}

/** Runs `test` against a host of its own on a manual clock (it moves only when told), then stops it. */
async function withManualHost(
  test: (h: RunningHost, clock: ReturnType<typeof createVirtualClock>) => Promise<void>,
): Promise<void> {
  const manualClock = createVirtualClock({ start: startedAt, autoAdvance: false });
  const dir = mkdtempSync(join(tmpdir(), 'devhost-manual-'));
  const h = await startHost({
    appRoot,
    dataDir: dir,
    clock: manualClock,
    logger: (l, c, f, m) => {
      if (process.env.DEVHOST_DEBUG) console.log(l, c, f, m);
    },
    startTriggers: false,
  });
  try {
    await test(h, manualClock);
  } finally {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

useTestHost({ appRoot, start: startedAt }, (h, c) => ([host, clock] = [h, c]));

describe('durable engine under the local host (virtual clock)', () => {
  it('runs activities in sequence, reports custom status, and answers the status links of createCheckStatusResponse', async () => {
    const { status, body } = await start('sequence', { prefix: 'a' });
    expect(status).toBe(202);
    expect(body.statusQueryGetUri).toContain(
      `${host.baseUrl}/runtime/webhooks/durabletask/instances/${body.id}`,
    );
    const final = await host.durable.waitForCompletion(body.id as string);
    expect(final.runtimeStatus).toBe('Completed');
    expect(final.output).toEqual([{ echoed: 'a-0' }, { echoed: 'a-1' }, { echoed: 'a-2' }]);
    expect(final.customStatus).toEqual({ step: 'done' });
    const viaLink = await fetch(body.statusQueryGetUri as string);
    expect(viaLink.status).toBe(200);
    expect(await viaLink.json()).toMatchObject({
      runtimeStatus: 'Completed',
      name: 'sequence',
      input: { prefix: 'a' },
    });
    const withoutKey = await fetch((body.statusQueryGetUri as string).replace(/code=[^&]+/, 'code=wrong'));
    expect(withoutKey.status).toBe(401);
  });

  it('retries a failing activity with RetryOptions until it succeeds, waiting the backoff on the host clock', async () => {
    const before = clock.now();
    const { status } = await run('retrying', { key: 'succeeds', failures: 2, attempts: 4 });
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toBe('ok after 3');
    expect(probe().activityCalls['flaky:succeeds']).toBe(3);
    // 1 s after the first failure, 2 s after the second (backoff coefficient 2).
    expect(clock.now() - before).toBeGreaterThanOrEqual(3000);
  });

  it('surfaces the last failure to the orchestrator once the attempts are exhausted', async () => {
    const { status } = await run('retrying', { key: 'exhausted', failures: 99, attempts: 3 });
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual({ failed: "Activity function 'flaky' failed: flaky failure 3 " });
    expect(probe().activityCalls['flaky:exhausted']).toBe(3);
  });

  it('fires an hour-long durable timer instantly on the virtual clock', async () => {
    const { status } = await run('timerThenActivity', { hours: 1 });
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual({ waitedMs: 3600_000, doubled: 42 });
  });

  it('splits a 10-day timer into pieces and still fires it at the right time', async () => {
    const { status } = await run('longTimer');
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toBe(10 * 24 * 3600_000);
  });

  it('fans out and in', async () => {
    const { status } = await run('fanOut', 10);
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toBe(110);
  });

  it('runs sub-orchestrations (generated and explicit instance ids)', async () => {
    const { id, status } = await run('parent');
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual([11, 21]);
    expect((await host.durable.getStatus(`${id}-explicit`))?.runtimeStatus).toBe('Completed');
  });

  it('surfaces a failed sub-orchestration to the parent as an exception it can catch', async () => {
    const { status } = await run('parentOfFailing');
    expect(status.runtimeStatus).toBe('Completed');
    expect(String(status.output)).toMatch(
      /^Sub-orchestration 'failing' .* failed: Orchestrator function 'failing' failed: orchestrator broke/,
    );
  });

  it('continues as new until done, with a fresh history each time', async () => {
    const { status } = await run('counterLoop');
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual({ n: 3, seen: [0, 2, 4] });
  });

  it('reports an orchestrator exception as Failed with the message', async () => {
    const { status } = await run('failing');
    expect(status.runtimeStatus).toBe('Failed');
    expect(String(status.output)).toContain("Orchestrator function 'failing' failed: orchestrator broke");
  });

  it('fails an instance whose replay no longer matches its history, saying so', async () => {
    const { status } = await run('shifty');
    expect(status.runtimeStatus).toBe('Failed');
    expect(String(status.output)).toMatch(/Non-deterministic workflow detected/);
  });

  it('calls and signals entities and reads their state through the client', async () => {
    const { status } = await run('useCounter', 'k1');
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toBe(5);
    await fetch(`${host.baseUrl}/api/client/entity/k1`, { method: 'POST' });
    await expect
      .poll(
        async () =>
          await (await fetch(`${host.baseUrl}/api/client/readEntity/k1`, { method: 'POST' })).json(),
        { timeout: 10_000 },
      )
      .toMatchObject({ entityExists: true, entityState: 10 });
  });
});

describe('durable client API', () => {
  it('delivers external events, rejects duplicate starts with 409, then lists, terminates and purges', async () => {
    // A manual clock here: the 24 h timeout timer must not fire while the test raises the event.
    const id = 'approval-1';
    await withManualHost(async (h, manualClock) => {
      const headers = { 'x-functions-key': h.functionsKey };
      const first = await fetch(`${h.baseUrl}/api/orchestrators/approval/${id}`, { method: 'POST', headers });
      expect(first.status).toBe(202);
      const dup = await fetch(`${h.baseUrl}/api/orchestrators/approval/${id}`, { method: 'POST', headers });
      expect(dup.status).toBe(409);
      await expect
        .poll(async () => (await h.durable.getStatus(id))?.runtimeStatus, { timeout: 10_000 })
        .toBe('Running');
      const listed = (await (
        await fetch(`${h.baseUrl}/api/client/list/Running`, { method: 'POST' })
      ).json()) as { instanceId: string }[];
      expect(listed.map((s) => s.instanceId)).toContain(id);
      expect(
        (
          await fetch(`${h.baseUrl}/api/client/raise/${id}`, {
            method: 'POST',
            body: JSON.stringify({ by: 'ann' }),
          })
        ).status,
      ).toBe(202);
      const done = await h.durable.waitForCompletion(id);
      expect(done.output).toEqual({ approved: { by: 'ann' } });
      const status = (await (
        await fetch(`${h.baseUrl}/api/client/status/${id}`, { method: 'POST' })
      ).json()) as Record<string, unknown>;
      expect(status).toMatchObject({
        instanceId: id,
        runtimeStatus: 'Completed',
        output: { approved: { by: 'ann' } },
      });

      // A completed id may be started again; terminate and purge that run.
      expect(
        (await fetch(`${h.baseUrl}/api/orchestrators/approval/${id}`, { method: 'POST', headers })).status,
      ).toBe(202);
      await expect
        .poll(async () => (await h.durable.getStatus(id))?.runtimeStatus, { timeout: 10_000 })
        .toBe('Running');
      expect((await fetch(`${h.baseUrl}/api/client/terminate/${id}`, { method: 'POST' })).status).toBe(202);
      expect((await h.durable.getStatus(id))?.runtimeStatus).toBe('Terminated');
      const purged = (await (
        await fetch(`${h.baseUrl}/api/client/purge/${id}`, { method: 'POST' })
      ).json()) as { instancesDeleted: number };
      expect(purged.instancesDeleted).toBe(1);
      expect(await h.durable.getStatus(id)).toBeUndefined();

      // The timeout path: advancing the manual clock past 24 h fires the timer.
      await fetch(`${h.baseUrl}/api/orchestrators/approval/timeout-1`, { method: 'POST', headers });
      await expect.poll(() => manualClock.pendingTimers(), { timeout: 10_000 }).toBeGreaterThan(0);
      manualClock.advance(24 * 3600_000);
      expect((await h.durable.waitForCompletion('timeout-1')).output).toEqual({
        approved: false,
        timedOut: true,
      });
    });
  });

  it('drops a timer the orchestrator cancelled, so it never fires or holds the clock', async () => {
    await withManualHost(async (h, manualClock) => {
      const id = await h.durable.startNew('approvalThenWork');
      await expect.poll(() => manualClock.pendingTimers(), { timeout: 10_000 }).toBe(1);
      expect(await h.durable.raiseEvent(id, 'approve', 'true')).toBe('ok');
      await expect.poll(() => manualClock.pendingTimers(), { timeout: 10_000 }).toBe(0);
      expect(await h.durable.raiseEvent(id, 'finish', '"done"')).toBe('ok');
      expect((await h.durable.waitForCompletion(id)).output).toBe('done');
    });
  });

  it('buffers an external event raised before the orchestrator waits for it', async () => {
    await withManualHost(async (h) => {
      const id = await h.durable.startNew('approvalThenWork');
      expect(await h.durable.raiseEvent(id, 'finish', '"early"')).toBe('ok');
      expect(await h.durable.raiseEvent(id, 'approve', 'true')).toBe('ok');
      expect((await h.durable.waitForCompletion(id)).output).toBe('early');
    });
  });
});
