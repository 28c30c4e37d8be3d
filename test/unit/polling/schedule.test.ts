import { describe, expect, it } from 'vitest';
import {
  DEFAULT_POLLING,
  estimatedDurationMs,
  nextPollDelayMs,
  usableHistory,
} from '../../../src/shared/polling/schedule.js';

/** Simulates polling an execution that finishes after `durationMs`; returns calls and detection lag. */
function simulate(durationMs: number, history?: readonly number[]): { calls: number; lagMs: number } {
  let elapsedMs = 0;
  let calls = 0;
  for (;;) {
    elapsedMs += nextPollDelayMs({ elapsedMs, pollsSoFar: calls, settings: DEFAULT_POLLING, history });
    calls += 1;
    if (elapsedMs >= durationMs) return { calls, lagMs: elapsedMs - durationMs };
    if (calls > 10_000) throw new Error('never detected');
  }
}

const HOUR = 3_600_000;

describe('nextPollDelayMs', () => {
  it('backs off geometrically from the first interval to the cap without history', () => {
    const delays = [0, 1, 2, 3, 10].map((pollsSoFar) =>
      nextPollDelayMs({ elapsedMs: 0, pollsSoFar, settings: DEFAULT_POLLING }),
    );
    expect(delays).toEqual([15_000, 24_000, 38_400, 61_440, 300_000]);
  });

  it('detects an hour-long first run within 10 % lag and 40 calls', () => {
    const { calls, lagMs } = simulate(HOUR);
    expect(calls).toBeLessThanOrEqual(40);
    expect(lagMs / HOUR).toBeLessThanOrEqual(0.1);
  });

  it('with three similar earlier runs needs at most 12 calls and 5 % lag for an hour-long run', () => {
    const { calls, lagMs } = simulate(HOUR, [0.97 * HOUR, 1.02 * HOUR, HOUR]);
    expect(calls).toBeLessThanOrEqual(12);
    expect(lagMs / HOUR).toBeLessThanOrEqual(0.05);
  });

  it('still finds a run far slower than its history, with lag within 10 %', () => {
    const { lagMs } = simulate(3 * HOUR, [HOUR, HOUR, HOUR]);
    expect(lagMs / (3 * HOUR)).toBeLessThanOrEqual(0.1);
  });

  it('polls early first even with history, so an immediate failure is seen at once', () => {
    expect(
      nextPollDelayMs({
        elapsedMs: 0,
        pollsSoFar: 0,
        settings: DEFAULT_POLLING,
        history: [HOUR, HOUR, HOUR],
      }),
    ).toBe(15_000);
  });

  it('polls a project whose executions are shorter than the first interval when they usually end', () => {
    const history = [6_000, 5_000, 7_000];
    expect(nextPollDelayMs({ elapsedMs: 0, pollsSoFar: 0, settings: DEFAULT_POLLING, history })).toBe(4_500);
    for (const duration of [5_000, 6_000, 7_000]) {
      const { calls, lagMs } = simulate(duration, history);
      expect(lagMs).toBeLessThanOrEqual(1_000);
      expect(calls).toBeLessThanOrEqual(4);
    }
    // without history the same 6-second import waits for the first interval
    expect(simulate(6_000).lagMs).toBe(9_000);
  });
});

describe('usableHistory', () => {
  it('needs three runs and looks at the newest ten', () => {
    expect(usableHistory([HOUR, HOUR])).toBeUndefined();
    expect(usableHistory([HOUR, 1.1 * HOUR, 0.9 * HOUR])).toHaveLength(3);
    expect(usableHistory(Array.from({ length: 12 }, (_, i) => (i + 1) * 60_000))).toEqual(
      Array.from({ length: 10 }, (_, i) => (i + 1) * 60_000),
    );
  });

  it('durations that vary widely still bound the polls, with a lag no worse than backoff', () => {
    const wide = [60_000, HOUR, 0.5 * HOUR];
    for (const duration of [60_000, 0.5 * HOUR, HOUR]) {
      const learned = simulate(duration, wide);
      expect(learned.calls).toBeLessThanOrEqual(20);
      expect(learned.lagMs / duration).toBeLessThanOrEqual(0.6);
    }
  });
});

describe('estimatedDurationMs', () => {
  it('remembers the middle of the bracket F&O gave: last "not yet" to the final answer', () => {
    expect(estimatedDurationMs({ lastUnfinishedMs: 16_000, finishedMs: 18_000 })).toBe(17_000);
    // found final at the first poll: anywhere between the start and that poll
    expect(estimatedDurationMs({ lastUnfinishedMs: 0, finishedMs: 15_000 })).toBe(7_500);
  });

  it('lets a short project found late by the first poll be polled at its own pace within a few runs', () => {
    let history: number[] = [];
    const lags: number[] = [];
    for (let run = 0; run < 8; run++) {
      const duration = 6_000;
      let elapsedMs = 0;
      let lastUnfinishedMs = 0;
      for (let calls = 0; ; calls++) {
        elapsedMs += nextPollDelayMs({ elapsedMs, pollsSoFar: calls, settings: DEFAULT_POLLING, history });
        if (elapsedMs >= duration) break;
        lastUnfinishedMs = elapsedMs;
      }
      lags.push(elapsedMs - duration);
      history = [estimatedDurationMs({ lastUnfinishedMs, finishedMs: elapsedMs }), ...history];
    }
    expect(lags.slice(0, 3)).toEqual([9_000, 9_000, 9_000]);
    for (const lag of lags.slice(4)) expect(lag).toBeLessThanOrEqual(1_000);
  });
});
