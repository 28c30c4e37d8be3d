/**
 * When to ask F&O for an execution's status next.
 *
 * Geometric backoff alone cannot give both few calls and a small detection lag: with ratio r the
 * lag is bounded only by (r−1)·t. So once a data project has a few earlier executions, the plan
 * expects this one to take what they took — scaled to this package's size when the sizes are
 * known (a small package after large ones is expected to be quick) — and polls sparsely until
 * shortly before the low percentile of those expectations, densely (each wait a small fraction of
 * the time so far) until a little after the high one, then backs off again. The sparse waits are
 * capped, so a run far shorter than expected is still seen in bounded time; the more the
 * expectations vary, the larger the dense fraction, so the number of polls stays bounded either way.
 *
 * Before a project has that many, the plan follows the first-run backoff, and adds a few polls where
 * a weaker prior expects the end: the project's own one or two earlier executions, or else what the
 * environment's other data projects took (same kind of execution, scaled to size the same way). A
 * prior that is wrong costs a bounded number of calls: until the prior's window the plan polls when
 * the backoff would, and once a run outlasts the window it polls on the backoff's times again with a
 * longer floor, which pays for the window's polls (an hour-long run stays within a first run's
 * calls: see bench/import/polling.ts).
 */

import { median } from '../util.js';

/** Polling settings of a data project (all durations in seconds). */
export interface PollingSettings {
  /** First wait after the start. Default 15 s. */
  firstIntervalSeconds: number;
  /** Growth of the wait between two polls without history. Default 1.6. */
  backoffFactor: number;
  /** Longest wait between two polls. Default 300 s. */
  maxIntervalSeconds: number;
}

/** Defaults used when a data project sets no polling block. */
export const DEFAULT_POLLING: PollingSettings = {
  firstIntervalSeconds: 15,
  backoffFactor: 1.6,
  maxIntervalSeconds: 300,
};

/** An earlier execution: its estimated duration and, when known, the size of what it processed. */
export interface DurationSample {
  /** Estimated duration (ms). */
  ms: number;
  /** Size of the execution's data (an import: the package's uncompressed data files, in bytes). */
  size?: number;
}

/** What the scheduler knows when it picks the next poll. */
export interface PollPlanInput {
  /** Milliseconds since the execution was started. */
  elapsedMs: number;
  /** Polls made so far for this execution. */
  pollsSoFar: number;
  settings: PollingSettings;
  /**
   * Earlier finished executions of the same data project, newest first: samples, or plain durations
   * (ms) as histories recorded before sizes were kept hold them.
   */
  history?: readonly (number | DurationSample)[];
  /**
   * The environment's recent finished executions of the same kind (all its data projects), newest
   * first: the prior while `history` holds fewer than {@link MIN_HISTORY} executions.
   */
  environmentHistory?: readonly (number | DurationSample)[];
  /** Size of this execution's data, in the unit of the samples' `size` (unknown: not scaled). */
  size?: number;
}

/** Earlier executions needed before the plan trusts them. */
export const MIN_HISTORY = 3;
/** Earlier durations the plan looks at (newest first). */
const HISTORY_WINDOW = 10;
/** The dense window spans these percentiles of the expected durations… */
const LOW_PERCENTILE = 0.1;
const HIGH_PERCENTILE = 0.9;
/** …from this fraction of the low one… */
const DENSE_START_FRACTION = 0.85;
/** …to this multiple of the high one; then backoff resumes. */
const DENSE_END_FACTOR = 1.15;
/** In the dense window each wait is this fraction of the time so far (lag ≤ 9 %)… */
const DENSE_STEP_FRACTION = 0.09;
/**
 * …unless the window is so wide (durations that vary wildly) that covering it would take more than
 * this many polls: then the fraction grows so that it takes this many.
 */
const DENSE_MAX_POLLS = 20;
/** No two polls closer than this. */
const MIN_DELAY_MS = 1000;
/** Before the dense window, waits grow by this factor (few calls while nothing is expected)… */
const SPARSE_FACTOR = 6;
/**
 * …but none is longer than this fraction of the window's start: a run that ends well before it was
 * expected to (a package far smaller than it looks) is still seen within a bounded time.
 */
const SPARSE_CAP_FRACTION = 0.35;
/** Size pairs whose sizes differ at least by this factor teach how duration grows with size. */
const SLOPE_SIZE_RATIO = 1.5;
/**
 * A size outside the sizes seen before widens the window by e^(this × ln(how far outside)): the
 * further the plan extrapolates, the less it trusts its estimate.
 */
const EXTRAPOLATION_WIDENING = 0.1;
/** After the dense window, waits are at most this fraction of the time so far (lag ≤ 9 %). */
const LATE_STEP_FRACTION = 0.09;
/**
 * Without history, backoff waits are at most {@link LATE_STEP_FRACTION} of the time so far once
 * that is longer than this: a first run of more than about 11 minutes is seen within 9 %.
 */
const FIRST_RUN_STEP_FLOOR_MS = 60_000;
/**
 * A weak prior (one or two own executions, or the environment's) is trusted within this factor of
 * its durations either way; the environment's other projects, less alike, within the larger one.
 */
const OWN_PRIOR_WIDENING = 1.5;
const ENVIRONMENT_PRIOR_WIDENING = 2;
/** Polls a weak prior's window may add to the first-run backoff (each wait a fixed fraction). */
const PRIOR_MAX_POLLS = 8;
/**
 * Once a run outlasts a weak prior's window, the first-run backoff's floor is this multiple of
 * {@link FIRST_RUN_STEP_FLOOR_MS}: the window's polls are paid back before the 9 % phase begins.
 */
const MISSED_PRIOR_FLOOR_FACTOR = 2.5;

function sampleOf(entry: number | DurationSample): DurationSample {
  return typeof entry === 'number' ? { ms: entry } : entry;
}

/**
 * The earlier executions the plan may learn from (newest {@link HISTORY_WINDOW}), or undefined when
 * fewer than `minSamples` (default {@link MIN_HISTORY}).
 */
export function usableHistory(
  history: readonly (number | DurationSample)[] | undefined,
  minSamples = MIN_HISTORY,
): readonly DurationSample[] | undefined {
  const recent = (history ?? [])
    .map(sampleOf)
    .filter((d) => Number.isFinite(d.ms) && d.ms > 0)
    .slice(0, HISTORY_WINDOW);
  return recent.length < Math.max(1, minSamples) ? undefined : recent;
}

/** The `p` percentile (0–1) of `values`, interpolated between neighbours. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const at = Math.min(1, Math.max(0, p)) * (sorted.length - 1);
  const low = Math.floor(at);
  const high = Math.ceil(at);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (at - low);
}

/**
 * How duration grows with size, from samples with sizes: `ms ≈ fixedMs + perUnit × size`. The slope
 * is the median of the slopes between samples of clearly different sizes (Theil–Sen: one odd run
 * does not tilt it); with too few such pairs, durations are taken as proportional to size.
 */
export function sizeModel(samples: readonly Required<DurationSample>[]): {
  fixedMs: number;
  perUnit: number;
} {
  const slopes: number[] = [];
  for (let i = 0; i < samples.length; i++) {
    for (let j = i + 1; j < samples.length; j++) {
      const a = samples[i]!;
      const b = samples[j]!;
      if (Math.max(a.size, b.size) >= SLOPE_SIZE_RATIO * Math.min(a.size, b.size)) {
        slopes.push((b.ms - a.ms) / (b.size - a.size));
      }
    }
  }
  if (slopes.length < MIN_HISTORY) return { fixedMs: 0, perUnit: median(samples.map((s) => s.ms / s.size)) };
  const perUnit = Math.max(0, median(slopes));
  const shortest = Math.min(...samples.map((s) => s.ms));
  const fixedMs = Math.min(shortest, Math.max(0, median(samples.map((s) => s.ms - perUnit * s.size))));
  return { fixedMs, perUnit };
}

/**
 * What the earlier executions say this one will take: one expected duration per usable sample
 * (scaled to `size` by {@link sizeModel} when this execution's size and at least `minSamples`
 * samples' sizes are known), and how far `size` lies outside the sizes seen (1: inside). Undefined
 * when the history holds fewer than `minSamples` (default {@link MIN_HISTORY}).
 */
export function expectedDurations(
  history: readonly (number | DurationSample)[] | undefined,
  size: number | undefined,
  minSamples = MIN_HISTORY,
): { durations: number[]; outside: number } | undefined {
  const samples = usableHistory(history, minSamples);
  if (!samples) return undefined;
  const sized = samples.filter((s): s is Required<DurationSample> => s.size !== undefined && s.size > 0);
  if (size === undefined || !(size > 0) || sized.length < minSamples) {
    return { durations: samples.map((s) => s.ms), outside: 1 };
  }
  const model = sizeModel(sized);
  const at = (units: number): number => model.fixedMs + model.perUnit * units;
  const expected = at(size);
  // each sample keeps its own deviation from the model: the spread of the history stays in the plan
  const durations = sized.map((s) => Math.max(1, (expected * s.ms) / Math.max(1, at(s.size))));
  const sizes = sized.map((s) => s.size);
  const outside = Math.max(1, size / Math.max(...sizes), Math.min(...sizes) / size);
  return { durations, outside };
}

/**
 * The duration to remember for a finished execution. F&O does not say when an execution ended, only
 * that it had not at one poll and had at the next: the midpoint of that bracket is the estimate.
 * (The final poll's time alone would overstate short runs found by a late first poll, and the plan
 * would learn their true length only slowly.)
 */
export function estimatedDurationMs(input: { lastUnfinishedMs: number; finishedMs: number }): number {
  const low = Math.max(0, Math.min(input.lastUnfinishedMs, input.finishedMs));
  return Math.max(1, Math.round((low + input.finishedMs) / 2));
}

/**
 * The plain backoff: `firstIntervalSeconds × backoffFactor^pollsSoFar`, capped at
 * `maxIntervalSeconds` — for waits that are not an execution's run (an export's package url, a
 * failed start's confirmation).
 */
export function backoffDelayMs(pollsSoFar: number, settings: PollingSettings): number {
  const seconds = settings.firstIntervalSeconds * settings.backoffFactor ** pollsSoFar;
  return Math.round(Math.min(seconds, settings.maxIntervalSeconds) * 1000);
}

/**
 * Milliseconds to wait before the next status poll. Deterministic (no randomness, no clock), so an
 * orchestrator can call it during replay.
 */
export function nextPollDelayMs(input: PollPlanInput): number {
  const { elapsedMs, pollsSoFar, settings } = input;
  const firstMs = settings.firstIntervalSeconds * 1000;
  const maxMs = settings.maxIntervalSeconds * 1000;
  const expected = expectedDurations(input.history, input.size);
  if (!expected) {
    const prior = weakPrior(input);
    if (prior) return weakPriorDelayMs(elapsedMs, settings, prior);
    return firstRunWaitMs(pollsSoFar, elapsedMs, settings, FIRST_RUN_STEP_FLOOR_MS);
  }

  const dense = expectedWindow(expected, 1);
  const denseStart = dense.startMs;
  const denseEnd = dense.endMs;
  // The first poll stays early (an execution that fails at once should be seen at once), and
  // earlier still for a project whose executions take less than the first interval: waiting the
  // full first interval for a 5-second import would triple its time in the slot.
  if (pollsSoFar === 0) return Math.max(MIN_DELAY_MS, Math.round(Math.min(firstMs, denseStart)));
  if (elapsedMs < denseStart) {
    return Math.max(
      MIN_DELAY_MS,
      Math.round(
        Math.min(elapsedMs * (SPARSE_FACTOR - 1), denseStart - elapsedMs, SPARSE_CAP_FRACTION * denseStart),
      ),
    );
  }
  // Waits proportional to the time so far bound the lag to a fraction of the run; a wide window
  // (durations that vary a lot) gets a larger fraction, so the polls in it stay few.
  const fraction = stepFraction(dense, DENSE_MAX_POLLS);
  if (elapsedMs <= denseEnd) return Math.round(Math.min(maxMs, Math.max(MIN_DELAY_MS, elapsedMs * fraction)));
  // Slower than ever before: back off again, but keep the lag within 9 % of the time so far.
  return Math.round(Math.min(maxMs, Math.max(MIN_DELAY_MS, elapsedMs * LATE_STEP_FRACTION)));
}

/** Where the end of an execution is expected (ms after the start): the plan polls densely there. */
interface ExpectedWindow {
  startMs: number;
  endMs: number;
}

/**
 * The window of `expected`: from a little before its low percentile to a little after its high one,
 * widened `widening` times either way, and more when the size lies outside the sizes seen.
 */
function expectedWindow(
  expected: { durations: readonly number[]; outside: number },
  widening: number,
): ExpectedWindow {
  const widen = widening * Math.exp(EXTRAPOLATION_WIDENING * Math.log(expected.outside));
  return {
    startMs: (DENSE_START_FRACTION * percentile(expected.durations, LOW_PERCENTILE)) / widen,
    endMs: DENSE_END_FACTOR * percentile(expected.durations, HIGH_PERCENTILE) * widen,
  };
}

/**
 * In a window, each wait is this fraction of the time so far: {@link DENSE_STEP_FRACTION}, or more
 * when the window is so wide that covering it would take more than `maxPolls` polls.
 */
function stepFraction(window: ExpectedWindow, maxPolls: number): number {
  return Math.max(DENSE_STEP_FRACTION, (window.endMs / window.startMs) ** (1 / maxPolls) - 1);
}

/**
 * The first-run backoff's wait after `polls` polls, `elapsedMs` into the run: `firstIntervalSeconds`
 * × `backoffFactor`^polls, but at most `floorMs` or {@link LATE_STEP_FRACTION} of the time so far,
 * whichever is longer (and `maxIntervalSeconds`).
 */
function firstRunWaitMs(
  polls: number,
  elapsedMs: number,
  settings: PollingSettings,
  floorMs: number,
): number {
  return Math.min(
    backoffDelayMs(polls, settings),
    Math.max(floorMs, Math.round(elapsedMs * LATE_STEP_FRACTION)),
  );
}

/**
 * The weak prior of an execution whose project has fewer than {@link MIN_HISTORY} executions: its
 * own one or two, else the environment's (see the module comment). Undefined: nothing to go on.
 */
function weakPrior(input: PollPlanInput): ExpectedWindow | undefined {
  const own = expectedDurations(input.history, input.size, 1);
  const expected = own ?? expectedDurations(input.environmentHistory, input.size, 1);
  if (!expected) return undefined;
  return expectedWindow(expected, own ? OWN_PRIOR_WIDENING : ENVIRONMENT_PRIOR_WIDENING);
}

/**
 * The wait from `elapsedMs` to the first-run backoff's next poll: the backoff's own poll times
 * ({@link firstRunWaitMs} apart), so that the polls a weak prior adds between them do not move them.
 */
function toNextFirstRunPollMs(elapsedMs: number, settings: PollingSettings, floorMs: number): number {
  let at = 0;
  for (let polls = 0; at <= elapsedMs; polls++) {
    // (each step at least MIN_DELAY_MS: a tiny firstIntervalSeconds cannot stall the loop)
    at += Math.max(MIN_DELAY_MS, firstRunWaitMs(polls, at, settings, floorMs));
  }
  return at - elapsedMs;
}

/**
 * A weak prior's plan: the first-run backoff's polls until the prior's window, up to
 * {@link PRIOR_MAX_POLLS} polls spread over the window instead (none further apart than the
 * backoff's once those stop growing), then the backoff's polls again, its floor
 * {@link MISSED_PRIOR_FLOOR_FACTOR} times longer: so a prior that was wrong costs an hour-long
 * execution no more calls than a first run.
 */
function weakPriorDelayMs(elapsedMs: number, settings: PollingSettings, prior: ExpectedWindow): number {
  const at = (ms: number): number => Math.round(Math.max(MIN_DELAY_MS, ms));
  if (elapsedMs < prior.startMs) {
    return at(
      Math.min(toNextFirstRunPollMs(elapsedMs, settings, FIRST_RUN_STEP_FLOOR_MS), prior.startMs - elapsedMs),
    );
  }
  if (elapsedMs <= prior.endMs) {
    const fraction = stepFraction(prior, PRIOR_MAX_POLLS);
    // no wait longer than the backoff's once its waits stop growing (a window reaching past a minute)
    const backoffLimit = Math.max(FIRST_RUN_STEP_FLOOR_MS, elapsedMs * LATE_STEP_FRACTION);
    return at(Math.min(settings.maxIntervalSeconds * 1000, backoffLimit, elapsedMs * fraction));
  }
  return at(toNextFirstRunPollMs(elapsedMs, settings, MISSED_PRIOR_FLOOR_FACTOR * FIRST_RUN_STEP_FLOOR_MS));
}
