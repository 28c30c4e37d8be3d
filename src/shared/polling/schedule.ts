/**
 * When to ask F&O for an execution's status next.
 *
 * Geometric backoff alone cannot give both few calls and a small detection lag: with ratio r the
 * lag is bounded only by (r−1)·t. So once a data project has a few earlier executions of similar
 * duration, the plan polls sparsely until shortly before the shortest of them would finish and
 * then densely, at a fixed fraction of their typical duration, until the status is final.
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
/** Earlier durations may differ by at most this factor (max/min) to count as similar. */
const SIMILARITY_SPREAD = 1.5;
/** Dense polling starts at this fraction of the shortest earlier duration. */
const DENSE_START_FRACTION = 0.9;
/** Dense polling waits this fraction of the typical duration between two polls (lag ≤ 4 %). */
const DENSE_STEP_FRACTION = 0.04;
/** Before the dense window, waits grow by this factor (few calls while nothing is expected). */
const SPARSE_FACTOR = 4;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The earlier durations the plan may learn from, or undefined when they are too few or too different. */
export function usableHistory(history: readonly number[] | undefined): readonly number[] | undefined {
  const recent = (history ?? []).filter((d) => Number.isFinite(d) && d > 0).slice(0, 10);
  if (recent.length < MIN_HISTORY) return undefined;
  const min = Math.min(...recent);
  const max = Math.max(...recent);
  return max / min <= SIMILARITY_SPREAD ? recent : undefined;
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

  const denseStart = DENSE_START_FRACTION * Math.min(...history);
  // The first poll stays early (an execution that fails at once should be seen at once), and
  // earlier still for a project whose executions take less than the first interval: waiting the
  // full first interval for a 5-second import would triple its time in the slot.
  if (pollsSoFar === 0) return Math.max(1000, Math.round(Math.min(firstMs, denseStart)));
  const denseStep = Math.max(1000, DENSE_STEP_FRACTION * median(history));
  const latestExpected = Math.max(...history) * 1.1;
  if (elapsedMs < denseStart) {
    return Math.max(1000, Math.round(Math.min(elapsedMs * (SPARSE_FACTOR - 1), denseStart - elapsedMs)));
  }
  if (elapsedMs <= latestExpected) return Math.round(Math.min(denseStep, maxMs));
  // Slower than ever before: back off again, but keep the lag within 10 % of the time so far.
  return Math.round(Math.min(maxMs, Math.max(denseStep, elapsedMs * 0.1)));
}
