import { describe, expect, it } from 'vitest';
import { createFastForwardClock } from '../index.js';

const HOUR = 3_600_000;

/** Resolves when a timer of `clock` set `ms` ahead fires (a sentinel on real time). */
function after(clock: ReturnType<typeof createFastForwardClock>, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(clock.now() + ms, resolve));
}

describe('fast-forward clock', () => {
  it('runs at wall-clock speed while the host is busy', async () => {
    const clock = createFastForwardClock();
    const wallBefore = Date.now();
    const before = clock.now();
    await after(clock, 40);
    expect(Date.now() - wallBefore).toBeGreaterThanOrEqual(35);
    expect(clock.now() - before).toBeGreaterThanOrEqual(40);
    expect(clock.skippedMs()).toBe(0);
  });

  it('jumps to the next durable timer once the host is idle, and only then', async () => {
    const clock = createFastForwardClock({ idleDelayMs: 1 });
    const at = clock.now() + HOUR;
    let firedAt: number | undefined;
    const fired = new Promise<void>((resolve) =>
      clock.setTimer(
        at,
        () => {
          firedAt = clock.now();
          resolve();
        },
        { wakesIdleHost: true },
      ),
    );
    // busy host: no jump
    clock.onIdle(() => false);
    await after(clock, 30);
    expect(firedAt).toBeUndefined();
    expect(clock.skippedMs()).toBe(0);
    // idle host: the hour passes at once, and time keeps running from there
    clock.onIdle(() => true);
    await fired;
    expect(firedAt).toBeGreaterThanOrEqual(at);
    expect(clock.skippedMs()).toBeGreaterThan(HOUR - 1_000);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('never jumps to timers that do not wake an idle host, nor to cancelled ones', async () => {
    const clock = createFastForwardClock({ idleDelayMs: 1 });
    let fired = 0;
    clock.setTimer(clock.now() + HOUR, () => fired++);
    const cancel = clock.setTimer(clock.now() + HOUR, () => fired++, { wakesIdleHost: true });
    cancel();
    clock.onIdle(() => true);
    await after(clock, 30);
    expect(fired).toBe(0);
    expect(clock.skippedMs()).toBe(0);
    expect(clock.pendingTimers()).toBe(1);
  });

  it('fires timers in time order, earlier ones included, when it jumps past several', async () => {
    const clock = createFastForwardClock({ idleDelayMs: 1 });
    const order: string[] = [];
    const start = clock.now();
    const last = new Promise<void>((resolve) =>
      clock.setTimer(
        start + 2 * HOUR,
        () => {
          order.push('wake');
          resolve();
        },
        { wakesIdleHost: true },
      ),
    );
    clock.setTimer(start + HOUR, () => order.push('earlier, not waking'));
    clock.onIdle(() => true);
    await last;
    expect(order).toEqual(['earlier, not waking', 'wake']);
  });
});
