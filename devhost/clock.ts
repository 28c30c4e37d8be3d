/** Time source and timer service of the host; injectable so tests can run hour-long timers instantly. */
export interface HostClock {
  /** Current time, epoch milliseconds. */
  now(): number;
  /**
   * Calls `callback` once when the clock reaches `at` (epoch ms); returns a cancel function.
   * `wakesIdleHost` marks durable timers a virtual clock may jump to when the host is idle.
   */
  setTimer(at: number, callback: () => void, options?: { wakesIdleHost?: boolean }): () => void;
  /** The host calls this whenever it has no work in flight; `isIdle` re-checks that later. */
  onIdle?(isIdle: () => boolean): void;
}

const MAX_TIMEOUT_MS = 2_147_483_647;

/** Wall-clock time with `setTimeout` (long delays re-armed in chunks). */
export function createSystemClock(): HostClock {
  return {
    now: () => Date.now(),
    setTimer(at, callback) {
      let handle: NodeJS.Timeout | undefined;
      let cancelled = false;
      const arm = (): void => {
        const delay = at - Date.now();
        if (delay <= 0) {
          handle = setTimeout(() => !cancelled && callback(), 0);
        } else {
          handle = setTimeout(arm, Math.min(delay, MAX_TIMEOUT_MS));
        }
      };
      arm();
      return () => {
        cancelled = true;
        if (handle) clearTimeout(handle);
      };
    },
  };
}

/** Options for {@link createVirtualClock}. */
export interface VirtualClockOptions {
  /** Start time (epoch ms or Date). Default: the real current time. */
  start?: number | Date;
  /**
   * When true, whenever the host is idle the clock jumps to the next durable timer and fires it,
   * so orchestrations with long timers complete without waiting. Default true.
   */
  autoAdvance?: boolean;
}

/** A clock that only moves when told to (or, with autoAdvance, when the host is idle). */
export interface VirtualClock extends HostClock {
  /** Moves time forward by `ms`, firing every timer that falls due, in time order. */
  advance(ms: number): void;
  /** Moves time to `at` (never backwards), firing due timers. */
  advanceTo(at: number | Date): void;
  /** Number of armed timers. */
  pendingTimers(): number;
}

interface VirtualTimer {
  at: number;
  seq: number;
  wakes: boolean;
  callback: () => void;
}

/** Creates a {@link VirtualClock}. */
export function createVirtualClock(options: VirtualClockOptions = {}): VirtualClock {
  let current = options.start === undefined ? Date.now() : new Date(options.start).getTime();
  const autoAdvance = options.autoAdvance ?? true;
  let timers: VirtualTimer[] = [];
  let seq = 0;
  let idleScheduled = false;

  const fireDue = (): void => {
    for (;;) {
      const due = timers.filter((t) => t.at <= current).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) return;
      timers = timers.filter((t) => t !== due);
      due.callback();
    }
  };
  const clock: VirtualClock = {
    now: () => current,
    setTimer(at, callback, opts) {
      const timer: VirtualTimer = { at, seq: seq++, wakes: opts?.wakesIdleHost ?? false, callback };
      timers.push(timer);
      if (at <= current) queueMicrotask(fireDue);
      return () => {
        timers = timers.filter((t) => t !== timer);
      };
    },
    advance(ms) {
      clock.advanceTo(current + ms);
    },
    advanceTo(at) {
      const target = new Date(at).getTime();
      if (target > current) current = target;
      fireDue();
    },
    pendingTimers: () => timers.length,
    onIdle(isIdle) {
      if (!autoAdvance || idleScheduled) return;
      idleScheduled = true;
      // Let I/O callbacks that are already queued (HTTP requests, events) run first.
      setTimeout(() => {
        idleScheduled = false;
        if (!isIdle()) return;
        const next = timers.filter((t) => t.wakes).sort((a, b) => a.at - b.at)[0];
        if (next) clock.advanceTo(Math.max(next.at, current));
      }, 5);
    },
  };
  return clock;
}

/** Options for {@link createFastForwardClock}. */
export interface FastForwardClockOptions {
  /** Real milliseconds the host must stay idle before the clock skips ahead. Default 5. */
  idleDelayMs?: number;
}

/** A clock that runs at real speed and skips the idle stretches (see {@link createFastForwardClock}). */
export interface FastForwardClock extends HostClock {
  onIdle(isIdle: () => boolean): void;
  /** Milliseconds skipped so far (clock time − wall time). */
  skippedMs(): number;
  /** Number of armed timers. */
  pendingTimers(): number;
}

/**
 * Wall-clock time plus the idle stretches it skipped: work takes as long as it really takes, but when
 * the host has nothing in flight the clock jumps to the next durable timer instead of waiting for it.
 * Benchmarks use it (shared with the F&O emulator) to measure hours of durable waits in minutes while
 * keeping every real overhead — activity calls, storage, HTTP — at its true length.
 */
export function createFastForwardClock(options: FastForwardClockOptions = {}): FastForwardClock {
  const idleDelayMs = options.idleDelayMs ?? 5;
  let offset = 0;
  let timers: VirtualTimer[] = [];
  let seq = 0;
  let armed: { at: number; handle: NodeJS.Timeout } | undefined;
  let idleScheduled = false;
  const now = (): number => Date.now() + offset;

  const fireDue = (): void => {
    for (;;) {
      const current = now();
      const due = timers.filter((t) => t.at <= current).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      timers = timers.filter((t) => t !== due);
      due.callback();
    }
    arm();
  };
  // One real timeout, for the earliest timer; re-armed whenever the set or the offset changes.
  const arm = (): void => {
    const earliest = timers.reduce<number | undefined>(
      (min, t) => (min === undefined || t.at < min ? t.at : min),
      undefined,
    );
    if (armed && armed.at === earliest) return;
    if (armed) clearTimeout(armed.handle);
    armed = undefined;
    if (earliest === undefined) return;
    const delay = Math.min(Math.max(0, earliest - now()), MAX_TIMEOUT_MS);
    armed = {
      at: earliest,
      handle: setTimeout(() => {
        armed = undefined;
        fireDue();
      }, delay),
    };
  };
  return {
    now,
    setTimer(at, callback, opts) {
      const timer: VirtualTimer = { at, seq: seq++, wakes: opts?.wakesIdleHost ?? false, callback };
      timers.push(timer);
      arm();
      return () => {
        timers = timers.filter((t) => t !== timer);
        arm();
      };
    },
    onIdle(isIdle) {
      if (idleScheduled) return;
      idleScheduled = true;
      setTimeout(() => {
        idleScheduled = false;
        if (!isIdle()) return;
        const next = timers.filter((t) => t.wakes).sort((a, b) => a.at - b.at)[0];
        if (!next) return;
        const gap = next.at - now();
        if (gap > 0) offset += gap;
        if (armed) clearTimeout(armed.handle);
        armed = undefined;
        fireDue();
      }, idleDelayMs);
    },
    skippedMs: () => offset,
    pendingTimers: () => timers.length,
  };
}
