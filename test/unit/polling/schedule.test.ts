import { describe, expect, it } from 'vitest';
import {
  DEFAULT_POLLING,
  estimatedDurationMs,
  expectedDurations,
  nextPollDelayMs,
  sizeModel,
  usableHistory,
  type DurationSample,
} from '../../../src/shared/polling/schedule.js';

/** Simulates polling an execution that finishes after `durationMs`; returns calls and detection lag. */
function simulate(
  durationMs: number,
  history?: readonly (number | DurationSample)[],
  size?: number,
  environmentHistory?: readonly (number | DurationSample)[],
): { calls: number; lagMs: number } {
  let elapsedMs = 0;
  let calls = 0;
  for (;;) {
    elapsedMs += nextPollDelayMs({
      elapsedMs,
      pollsSoFar: calls,
      settings: DEFAULT_POLLING,
      history,
      ...(environmentHistory !== undefined ? { environmentHistory } : {}),
      ...(size !== undefined ? { size } : {}),
    });
    calls += 1;
    if (elapsedMs >= durationMs) return { calls, lagMs: elapsedMs - durationMs };
    if (calls > 10_000) throw new Error('never detected');
  }
}

const HOUR = 3_600_000;

describe('nextPollDelayMs', () => {
  it('backs off geometrically from the first interval without history, then keeps waits within 9 % of the time so far', () => {
    const delays = [0, 1, 2, 3, 10].map((pollsSoFar) =>
      nextPollDelayMs({ elapsedMs: 0, pollsSoFar, settings: DEFAULT_POLLING }),
    );
    // early on a wait is at most a minute (9 % of the time so far, when that is longer)
    expect(delays).toEqual([15_000, 24_000, 38_400, 60_000, 60_000]);
    expect(nextPollDelayMs({ elapsedMs: 3_000_000, pollsSoFar: 10, settings: DEFAULT_POLLING })).toBe(
      270_000,
    );
    expect(nextPollDelayMs({ elapsedMs: 9_000_000, pollsSoFar: 30, settings: DEFAULT_POLLING })).toBe(
      300_000,
    );
  });

  it('detects an hour-long first run within 10 % lag and 40 calls', () => {
    const { calls, lagMs } = simulate(HOUR);
    expect(calls).toBeLessThanOrEqual(40);
    expect(lagMs / HOUR).toBeLessThanOrEqual(0.1);
  });

  it('with three similar earlier runs needs at most 12 calls and 9 % lag for an hour-long run', () => {
    const { calls, lagMs } = simulate(HOUR, [0.97 * HOUR, 1.02 * HOUR, HOUR]);
    expect(calls).toBeLessThanOrEqual(12);
    expect(lagMs / HOUR).toBeLessThanOrEqual(0.09);
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
    expect(nextPollDelayMs({ elapsedMs: 0, pollsSoFar: 0, settings: DEFAULT_POLLING, history })).toBeLessThan(
      5_000,
    );
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
  it('needs three runs and looks at the newest ten, bare durations of earlier versions included', () => {
    expect(usableHistory([HOUR, HOUR])).toBeUndefined();
    expect(usableHistory([HOUR, { ms: 1.1 * HOUR, size: 5 }, 0.9 * HOUR])).toEqual([
      { ms: HOUR },
      { ms: 1.1 * HOUR, size: 5 },
      { ms: 0.9 * HOUR },
    ]);
    expect(usableHistory(Array.from({ length: 12 }, (_, i) => (i + 1) * 60_000))).toEqual(
      Array.from({ length: 10 }, (_, i) => ({ ms: (i + 1) * 60_000 })),
    );
  });

  it('durations that vary widely still bound the polls and the lag', () => {
    const wide = [60_000, HOUR, 0.5 * HOUR];
    for (const duration of [60_000, 0.5 * HOUR, HOUR]) {
      const learned = simulate(duration, wide);
      expect(learned.calls).toBeLessThanOrEqual(28);
      // the one-minute run is an outlier below the 10th percentile: found in the sparse phase
      expect(learned.lagMs / duration).toBeLessThanOrEqual(duration === 60_000 ? 0.6 : 0.1);
    }
  });
});

describe('size-aware plans', () => {
  const MB = 1_000_000;
  // three hour-long runs of 100 MB packages
  const large = [
    { ms: HOUR, size: 100 * MB },
    { ms: 1.1 * HOUR, size: 105 * MB },
    { ms: 0.95 * HOUR, size: 98 * MB },
  ];

  it('expects a small package after large ones to be quick, and finds it with a small lag', () => {
    const expected = expectedDurations(large, 25 * MB)!;
    for (const d of expected.durations) expect(d).toBeLessThan(0.35 * HOUR);
    for (const [minutes, mb] of [
      [15, 25],
      [20, 100 / 3],
    ] as const) {
      const run = minutes * 60_000;
      const { calls, lagMs } = simulate(run, large, mb * MB);
      expect(lagMs / run).toBeLessThanOrEqual(0.1);
      expect(calls).toBeLessThanOrEqual(14);
    }
    // without the size, the plan waits for an hour-long run: the 20-minute one is seen far later
    expect(simulate(20 * 60_000, large).lagMs / (20 * 60_000)).toBeGreaterThan(0.3);
  });

  it('expects a large package after small ones to take longer', () => {
    const small = large.map((s) => ({ ms: s.ms / 4, size: s.size / 4 }));
    const { calls, lagMs } = simulate(HOUR, small, 100 * MB);
    expect(lagMs / HOUR).toBeLessThanOrEqual(0.1);
    expect(calls).toBeLessThanOrEqual(14);
  });

  it('learns a fixed part and a part that grows with size from runs of clearly different sizes', () => {
    const samples = [10, 20, 40, 80].map((mb) => ({ ms: 60_000 + mb * 1_000, size: mb * MB }));
    const model = sizeModel(samples);
    expect(model.fixedMs).toBeCloseTo(60_000, -2);
    expect(model.perUnit * MB).toBeCloseTo(1_000, 0);
    // runs of about one size say nothing about the slope: durations are taken as proportional
    expect(sizeModel(large).fixedMs).toBe(0);
  });

  it('does not scale without the size of the run or without three sized samples', () => {
    expect(expectedDurations(large, undefined)!.durations).toEqual(large.map((s) => s.ms));
    expect(expectedDurations([HOUR, HOUR, { ms: HOUR, size: 1 }], 5)!.durations).toEqual([HOUR, HOUR, HOUR]);
  });

  it('caps the sparse waits: a run far shorter than expected is still seen within a bounded lag', () => {
    // expected an hour (no size known), it took ten minutes
    const { lagMs } = simulate(10 * 60_000, [HOUR, HOUR, HOUR]);
    expect(lagMs).toBeLessThanOrEqual(0.35 * 0.85 * HOUR);
  });
});

describe('weak priors (fewer than three runs of its own)', () => {
  const HOUR = 3_600_000;

  it("polls a new project where the environment's other projects ended, instead of the plain backoff", () => {
    const neighbours = [6_000, 15_000, 30_000];
    // a 50-second import: the plain backoff sees it at 77 s; the environment's window, much sooner
    expect(simulate(50_000).lagMs).toBe(27_400);
    const borrowed = simulate(50_000, [], undefined, neighbours);
    expect(borrowed.lagMs).toBeLessThanOrEqual(13_500);
    expect(borrowed.calls).toBeLessThanOrEqual(9);
  });

  it('prefers its own one or two runs to the environment', () => {
    // without history: seen at 257 s (lag 28 %); with the environment's 5-second runs, no sooner
    expect(simulate(200_000).lagMs).toBe(57_400);
    const own = simulate(200_000, [200_000], undefined, [5_000, 5_000, 5_000]);
    expect(own.lagMs / 200_000).toBeLessThanOrEqual(0.15);
    expect(own.calls).toBeLessThanOrEqual(12);
  });

  it('never costs an hour-long run more than a first run may (40 calls, 10 % lag), however wrong the prior', () => {
    const worst = { calls: 0, lag: 0 };
    for (let step = 0; step <= 30; step++) {
      const prior = 1_000 * 10 ** (step / 5); // 1 s … 11.6 days
      const priors: [own: number[], environment: number[]][] = [
        [[prior], []],
        [[prior, 5 * prior], []],
        [[], [prior, 5 * prior, 2 * prior]],
      ];
      for (const [own, environment] of priors) {
        for (let k = 0; k <= 20; k++) {
          const duration = HOUR * (0.7 + (0.6 * k) / 20);
          const { calls, lagMs } = simulate(duration, own, undefined, environment);
          worst.calls = Math.max(worst.calls, calls);
          worst.lag = Math.max(worst.lag, lagMs / duration);
        }
      }
    }
    expect(worst.calls).toBeLessThanOrEqual(40);
    expect(worst.lag).toBeLessThanOrEqual(0.1);
  });

  it('plans with a first interval far below a second (the backoff it follows still advances)', () => {
    const settings = { ...DEFAULT_POLLING, firstIntervalSeconds: 0.0001, backoffFactor: 1 };
    const delay = nextPollDelayMs({ elapsedMs: 90_000, pollsSoFar: 3, settings, history: [5_000] });
    expect(delay).toBeGreaterThanOrEqual(1_000);
  });

  it('scales the prior to the size of the run when the samples have sizes', () => {
    const neighbours = [1, 2, 3].map((k) => ({ ms: 10_000 * k, size: 1_000 * k }));
    // a package ten times larger than the neighbours': about 100 s expected, seen within 15 %
    const run = simulate(100_000, [], 10_000, neighbours);
    expect(run.lagMs / 100_000).toBeLessThanOrEqual(0.15);
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
    // the first run has nothing to go on; from the second on, its one or two earlier runs are a prior
    expect(lags[0]).toBe(9_000);
    for (const lag of lags.slice(1)) expect(lag).toBeLessThanOrEqual(1_000);
  });
});
