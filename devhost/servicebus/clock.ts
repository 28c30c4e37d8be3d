/**
 * Time source of the broker. Lock expiry, scheduled delivery and message expiry all go through it,
 * so tests can move time forward instead of waiting.
 */

/** A pending timer that can be cancelled. */
export interface BrokerTimer {
  /** Cancels the timer; harmless when it already fired. */
  cancel(): void;
}

/** Clock used by the broker for "now" and for timers. */
export interface BrokerClock {
  /** Current time in epoch milliseconds. */
  now(): number;
  /** Calls `callback` once, `delayMs` milliseconds from now (by this clock). */
  setTimer(callback: () => void, delayMs: number): BrokerTimer;
}

// setTimeout overflows above 2^31-1 ms (~24.8 days) and then fires at once; re-arm in steps instead.
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** The real clock: `Date.now()` and unref'd `setTimeout`, so timers never keep a process alive. */
export const systemClock: BrokerClock = {
  now: () => Date.now(),
  setTimer(callback, delayMs) {
    const due = Date.now() + Math.max(0, delayMs);
    let handle: NodeJS.Timeout | undefined;
    const arm = (): void => {
      const remaining = due - Date.now();
      if (remaining <= 0) {
        handle = undefined;
        callback();
        return;
      }
      handle = setTimeout(arm, Math.min(remaining, MAX_TIMEOUT_MS));
      handle.unref();
    };
    handle = setTimeout(arm, Math.min(Math.max(0, delayMs), MAX_TIMEOUT_MS));
    handle.unref();
    return {
      cancel() {
        if (handle !== undefined) clearTimeout(handle);
        handle = undefined;
      },
    };
  },
};

interface ManualTimerEntry {
  due: number;
  order: number;
  callback: () => void;
  cancelled: boolean;
}

/**
 * A clock that only moves when told to. `advance()` fires every timer that became due, in due-time
 * order, and sets `now()` to each timer's due time while it runs.
 */
export class ManualClock implements BrokerClock {
  private current: number;
  private order = 0;
  private timers: ManualTimerEntry[] = [];

  /** @param startMs - Initial time in epoch milliseconds; default the real current time. */
  constructor(startMs: number = Date.now()) {
    this.current = startMs;
  }

  /** Current virtual time in epoch milliseconds. */
  now(): number {
    return this.current;
  }

  /** Registers a timer due `delayMs` after the current virtual time. */
  setTimer(callback: () => void, delayMs: number): BrokerTimer {
    const entry: ManualTimerEntry = {
      due: this.current + Math.max(0, delayMs),
      order: this.order++,
      callback,
      cancelled: false,
    };
    this.timers.push(entry);
    return {
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  /** Moves time forward by `ms` milliseconds, firing due timers (including ones they create). */
  advance(ms: number): void {
    const target = this.current + Math.max(0, ms);
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      const next = this.timers
        .filter((t) => t.due <= target)
        .sort((a, b) => a.due - b.due || a.order - b.order)[0];
      if (next === undefined) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.current = Math.max(this.current, next.due);
      next.callback();
    }
    this.current = target;
  }
}
