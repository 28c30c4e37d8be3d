import type { DurableClient } from 'durable-functions';
import { describe, expect, it } from 'vitest';
import { freedHolders } from '../../../src/activities/imports/slot.js';
import type { Runtime } from '../../../src/shared/app/runtime.js';
import { DmfApiError, DmfErrorCode } from '../../../src/shared/dmf/index.js';
import type { Logger } from '../../../src/shared/log/index.js';
import {
  acquire,
  emptySlot,
  enqueue,
  pause,
  remove,
  resume,
} from '../../../src/orchestrators/imports/slot.js';

const t = (s: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

describe('environment slot', () => {
  it('paused: grants nothing, keeps arrivals in order; the resume grants the head of the queue', () => {
    const state = emptySlot();
    expect(acquire(state, { instanceId: 'h', capacity: 1, now: t(1) })).toMatchObject({ granted: true });
    const paused = pause(state, { since: t(2), by: 'ops', reason: 'maintenance' });
    // a second pause keeps the first
    expect(pause(state, { since: t(3), by: 'other' })).toEqual(paused);
    for (const [id, s] of [
      ['a', 4],
      ['b', 5],
    ] as const)
      enqueue(state, { instanceId: id, now: t(s), since: t(s) });
    expect(acquire(state, { instanceId: 'b', capacity: 1, now: t(6) })).toMatchObject({
      granted: false,
      position: 2,
      paused: { since: t(2), by: 'ops', reason: 'maintenance' },
    });
    // the holder leaves while paused: its place is not given away
    expect(remove(state, { instanceIds: ['h'], now: t(7) })).toEqual([]);
    expect(acquire(state, { instanceId: 'a', capacity: 1, now: t(8) })).toMatchObject({
      granted: false,
      position: 1,
    });
    // the holder itself keeps the slot while paused (F&O runs its execution)
    const held = emptySlot();
    acquire(held, { instanceId: 'x', capacity: 1, now: t(1) });
    pause(held, { since: t(2), by: 'ops' });
    expect(acquire(held, { instanceId: 'x', capacity: 1, now: t(3) })).toMatchObject({ granted: true });
    // resumed: the head is granted, in arrival order
    expect(resume(state, { now: t(9) })).toEqual(['a']);
    expect(state.paused).toBeUndefined();
    expect(acquire(state, { instanceId: 'b', capacity: 1, now: t(10) })).toMatchObject({
      granted: false,
      position: 1,
    });
    expect(remove(state, { instanceIds: ['a'], now: t(11) })).toEqual(['b']);
  });

  it('grants up to the capacity and queues the rest in arrival order', () => {
    const state = emptySlot();
    for (const [id, s] of [
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ] as const)
      enqueue(state, { instanceId: id, now: t(s), since: t(s) });
    // c is prepared first, but a and b arrived earlier
    expect(acquire(state, { instanceId: 'c', capacity: 1, now: t(4) })).toMatchObject({
      granted: false,
      position: 3,
    });
    expect(acquire(state, { instanceId: 'a', capacity: 1, now: t(5) })).toMatchObject({ granted: true });
    expect(acquire(state, { instanceId: 'b', capacity: 1, now: t(6) })).toMatchObject({
      granted: false,
      position: 1,
      watch: ['a'],
    });
    expect(remove(state, { instanceIds: ['a'], now: t(7) })).toEqual(['b']);
    expect(remove(state, { instanceIds: ['b'], now: t(8) })).toEqual(['c']);
    expect(state.holders.map((h) => h.instanceId)).toEqual(['c']);
  });

  it('a waiter watches the holders and only the waiter directly ahead of it', () => {
    const state = emptySlot();
    for (const id of ['h', 'w1', 'w2', 'w3']) acquire(state, { instanceId: id, capacity: 1, now: t(1) });
    expect(acquire(state, { instanceId: 'w1', capacity: 1, now: t(2) }).watch).toEqual(['h']);
    expect(acquire(state, { instanceId: 'w3', capacity: 1, now: t(2) })).toMatchObject({
      position: 3,
      watch: ['h', 'w2'],
    });
  });

  it('a granted import learns which waiter is now first in line, to wake it', () => {
    const state = emptySlot();
    for (const id of ['h', 'w1', 'w2']) acquire(state, { instanceId: id, capacity: 1, now: t(1) });
    expect(acquire(state, { instanceId: 'h', capacity: 1, now: t(2) }).next).toBe('w1');
    expect(remove(state, { instanceIds: ['h'], now: t(3) })).toEqual(['w1']);
    // w1, granted by the release, asks again: it holds the slot, and w2 is first in line now
    expect(acquire(state, { instanceId: 'w1', capacity: 1, now: t(4) })).toMatchObject({
      granted: true,
      next: 'w2',
    });
    expect(acquire(state, { instanceId: 'w2', capacity: 1, now: t(5) })).toMatchObject({
      granted: false,
      position: 1,
    });
    remove(state, { instanceIds: ['w1'], now: t(6) });
    expect(acquire(state, { instanceId: 'w2', capacity: 1, now: t(7) }).next).toBeUndefined();
  });

  it('orders by arrival time even when the enqueue calls come out of order', () => {
    const state = emptySlot();
    enqueue(state, { instanceId: 'late', now: t(10), since: t(5) });
    enqueue(state, { instanceId: 'early', now: t(11), since: t(1) });
    expect(state.waiters.map((w) => w.instanceId)).toEqual(['early', 'late']);
  });

  it('an unready head blocks later imports (first come, first served)', () => {
    const state = emptySlot();
    enqueue(state, { instanceId: 'first', now: t(1) });
    enqueue(state, { instanceId: 'second', now: t(2) });
    expect(acquire(state, { instanceId: 'second', capacity: 1, now: t(3) }).granted).toBe(false);
    const first = acquire(state, { instanceId: 'first', capacity: 1, now: t(4) });
    expect(first.granted).toBe(true);
  });

  it('evicting a crashed holder grants the next ready waiter; acquiring twice is idempotent', () => {
    const state = emptySlot();
    acquire(state, { instanceId: 'dead', capacity: 1, now: t(1) });
    acquire(state, { instanceId: 'next', capacity: 1, now: t(2) });
    expect(remove(state, { instanceIds: ['dead'], now: t(3) })).toEqual(['next']);
    expect(acquire(state, { instanceId: 'next', capacity: 1, now: t(4) })).toMatchObject({
      granted: true,
      notify: [],
    });
    enqueue(state, { instanceId: 'next', now: t(5) });
    expect(state.waiters).toEqual([]);
  });

  it('a capacity of 2 runs two at once and tells the caller whom else it granted', () => {
    const state = emptySlot();
    acquire(state, { instanceId: 'a', capacity: 1, now: t(1) });
    acquire(state, { instanceId: 'b', capacity: 1, now: t(2) });
    const c = acquire(state, { instanceId: 'c', capacity: 2, now: t(3) });
    expect(c).toMatchObject({ granted: false, notify: ['b'], position: 1 });
    expect(state.holders.map((h) => h.instanceId)).toEqual(['a', 'b']);
  });
});

describe('freed holders (who has let go of the slot)', () => {
  const logger = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;
  /** A durable client knowing `running` as running instances, and F&O answering `fo` per execution. */
  function fakes(running: string[], fo: Record<string, string | Error>) {
    const client = {
      getStatus: async (id: string) => ({ runtimeStatus: running.includes(id) ? 'Running' : 'Completed' }),
    } as unknown as DurableClient;
    const packages = {
      getExecutionSummaryStatus: async (executionId: string) => {
        const answer = fo[executionId];
        if (answer instanceof Error) throw answer;
        if (answer === undefined || answer === 'notFound')
          throw new DmfApiError('not found', {
            code: DmfErrorCode.ExecutionNotFound,
            action: 'x',
            status: 400,
          });
        return answer;
      },
    };
    const runtime = { clients: () => ({ packages }) } as unknown as Runtime;
    return { client, runtime };
  }
  const holder = (instanceId: string, since = t(0)) => ({ instanceId, since, graceMs: 60_000 });

  it('frees a holder that ended only once F&O is done with its execution (or never had it)', async () => {
    const { client, runtime } = fakes(['alive'], {
      'dmffn-ended-running': 'Executing',
      'dmffn-ended-final': 'Succeeded',
      'dmffn-ended-unknown-young': 'notFound',
      'dmffn-ended-unknown-old': 'notFound',
      'dmffn-ended-unreachable': new DmfApiError('503', { code: 'DMF_HTTP_503', action: 'x', status: 503 }),
    });
    const freed = await freedHolders(
      runtime,
      client,
      {
        instanceIds: [
          'alive',
          'ended-running',
          'ended-final',
          'ended-unknown-young',
          'ended-unknown-old',
          'ended-unreachable',
          'gone-waiter',
        ],
        environment: 'prod',
        now: t(90),
        holders: [
          holder('alive'),
          holder('ended-running'),
          holder('ended-final'),
          holder('ended-unknown-young', t(60)),
          holder('ended-unknown-old'),
          holder('ended-unreachable'),
        ],
      },
      logger,
    );
    expect(freed).toEqual(['ended-final', 'ended-unknown-old', 'gone-waiter']);
  });

  it('input of older orchestrations (ids only): whether they run decides, as before', async () => {
    const { client, runtime } = fakes(['alive'], {});
    expect(await freedHolders(runtime, client, { instanceIds: ['alive', 'ended'] }, logger)).toEqual([
      'ended',
    ]);
  });
});
