import { describe, expect, it } from 'vitest';
import { DEFAULT_POLLING, nextPollDelayMs, usableHistory } from '../../../src/shared/polling/schedule.js';

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
  it('ignores fewer than three runs and runs of very different durations', () => {
    expect(usableHistory([HOUR, HOUR])).toBeUndefined();
    expect(usableHistory([60_000, HOUR, HOUR])).toBeUndefined();
    expect(usableHistory([HOUR, 1.1 * HOUR, 0.9 * HOUR])).toHaveLength(3);
  });
});
