/**
 * When to ask F&O for an execution's status next.
 *
 * Geometric backoff alone cannot give both few calls and a small detection lag: with ratio r the
 * lag is bounded only by (r−1)·t. So once a data project has a few earlier executions, the plan
 * polls sparsely until shortly before the shortest of them would have finished, then densely —
 * each wait a small fraction of the time so far — until a little after the longest, then backs
 * off again. The more the earlier durations vary, the larger that fraction, so the number of
 * polls stays bounded either way.
 */

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

/** What the scheduler knows when it picks the next poll. */
export interface PollPlanInput {
  /** Milliseconds since the execution was started. */
  elapsedMs: number;
  /** Polls made so far for this execution. */
  pollsSoFar: number;
  settings: PollingSettings;
  /** Durations (ms) of earlier finished executions of the same data project, newest first. */
  history?: readonly number[];
}

/** Earlier executions needed before the plan trusts them. */
export const MIN_HISTORY = 3;
/** Earlier durations the plan looks at (newest first). */
const HISTORY_WINDOW = 10;
/** Dense polling starts at this fraction of the shortest earlier duration. */
const DENSE_START_FRACTION = 0.9;
/** Dense polling ends (and backoff resumes) at this multiple of the longest earlier duration. */
const DENSE_END_FACTOR = 1.1;
/** In the dense window each wait is at most this fraction of the time so far (lag ≤ 4 %)… */
const DENSE_STEP_FRACTION = 0.04;
/** …unless the window is so wide that covering it would take more polls than this. */
const DENSE_MAX_POLLS = 10;
/** No two polls closer than this. */
const MIN_DELAY_MS = 1000;
/** Before the dense window, waits grow by this factor (few calls while nothing is expected). */
const SPARSE_FACTOR = 4;

/** The earlier durations the plan may learn from (newest {@link HISTORY_WINDOW}), or undefined when too few. */
export function usableHistory(history: readonly number[] | undefined): readonly number[] | undefined {
  const recent = (history ?? []).filter((d) => Number.isFinite(d) && d > 0).slice(0, HISTORY_WINDOW);
  return recent.length < MIN_HISTORY ? undefined : recent;
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

function geometricDelayMs(pollsSoFar: number, settings: PollingSettings): number {
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
  const history = usableHistory(input.history);
  if (!history) return geometricDelayMs(pollsSoFar, settings);

  const shortest = Math.min(...history);
  const longest = Math.max(...history);
  const denseStart = DENSE_START_FRACTION * shortest;
  const denseEnd = DENSE_END_FACTOR * longest;
  // The first poll stays early (an execution that fails at once should be seen at once), and
  // earlier still for a project whose executions take less than the first interval: waiting the
  // full first interval for a 5-second import would triple its time in the slot.
  if (pollsSoFar === 0) return Math.max(MIN_DELAY_MS, Math.round(Math.min(firstMs, denseStart)));
  if (elapsedMs < denseStart) {
    return Math.max(
      MIN_DELAY_MS,
      Math.round(Math.min(elapsedMs * (SPARSE_FACTOR - 1), denseStart - elapsedMs)),
    );
  }
  // Waits proportional to the time so far bound the lag to a fraction of the run; a wide window
  // (durations that vary a lot) gets a larger fraction, so the polls in it stay few.
  const fraction = Math.max(DENSE_STEP_FRACTION, (denseEnd / denseStart) ** (1 / DENSE_MAX_POLLS) - 1);
  if (elapsedMs <= denseEnd) return Math.round(Math.min(maxMs, Math.max(MIN_DELAY_MS, elapsedMs * fraction)));
  // Slower than ever before: back off again, but keep the lag within 10 % of the time so far.
  return Math.round(Math.min(maxMs, Math.max(MIN_DELAY_MS, elapsedMs * 0.1)));
}
