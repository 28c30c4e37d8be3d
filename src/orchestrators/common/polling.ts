/**
 * The one durable poll loop: wait on a durable timer, ask, judge the answer — until it is done or
 * the deadline passes. Execution statuses (imports, exports), message statuses (recurring imports)
 * and an export's package url are all polled through it. Deterministic: time from
 * `currentUtcDateTime`, waits on durable timers only.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import { nextPollDelayMs, usableHistory, type PollingSettings } from '../../shared/polling/schedule.js';
import { learnDuration, readHistory } from './history.js';

/**
 * What an answer says: `done` ends the loop with it; `pending`: not finished yet (the time is
 * remembered, see `lastPendingMs`); `noAnswer`: nothing learnt this time.
 */
export type PollVerdict = 'done' | 'pending' | 'noAnswer';

/** Where a poll loop stands, for its callbacks. */
export interface PollState {
  /** Milliseconds since `since`. */
  elapsedMs: number;
  /** Polls made so far. */
  polls: number;
}

/** Options of {@link pollUntil}. */
export interface PollUntilOptions<T> {
  /** When the awaited thing started: elapsed time and the deadline count from here. */
  since: Date;
  deadlineMs: number;
  /** Ask once before the first wait (default: wait first). */
  pollFirst?: boolean;
  /** The wait before the next poll (cut to the deadline). */
  delayMs(state: PollState): number;
  /**
   * The least wait an answer asks for before the next poll (a 429's Retry-After); the planned
   * wait is made longer to match (still cut to the deadline).
   */
  waitAtLeastMs?(answer: T): number | undefined;
  /** Asks once; its tasks are yielded through. May throw: the loop ends with that error. */
  poll(): Generator<Task, T, unknown>;
  judge(answer: T, state: PollState): PollVerdict;
  /** Called before each wait with its end. */
  onWait?(at: Date, state: PollState): void;
  /** Called with each answer (`polls` counts it). */
  onAnswer?(answer: T, state: PollState): void;
}

/** How a poll loop ended. */
export type PollUntilOutcome<T> =
  | {
      kind: 'done';
      answer: T;
      polls: number;
      /** Ms after `since` of the last `pending` answer (0: none). */
      lastPendingMs: number;
    }
  | { kind: 'timedOut'; polls: number; lastPendingMs: number };

/** Polls until an answer is judged `done` or `deadlineMs` after `since` (see the module comment). */
export function* pollUntil<T>(
  context: OrchestrationContext,
  options: PollUntilOptions<T>,
): Generator<Task, PollUntilOutcome<T>, unknown> {
  const elapsed = (): number => context.df.currentUtcDateTime.getTime() - options.since.getTime();
  let polls = 0;
  let lastPendingMs = 0;
  let atLeastMs = 0;
  for (;;) {
    if (polls > 0 || !options.pollFirst) {
      const elapsedMs = elapsed();
      if (elapsedMs >= options.deadlineMs) return { kind: 'timedOut', polls, lastPendingMs };
      const planned = Math.max(options.delayMs({ elapsedMs, polls }), atLeastMs);
      const delay = Math.min(planned, options.deadlineMs - elapsedMs);
      const at = new Date(context.df.currentUtcDateTime.getTime() + delay);
      options.onWait?.(at, { elapsedMs, polls });
      yield context.df.createTimer(at);
    }
    const answer = yield* options.poll();
    polls++;
    atLeastMs = options.waitAtLeastMs?.(answer) ?? 0;
    const state = { elapsedMs: elapsed(), polls };
    options.onAnswer?.(answer, state);
    const verdict = options.judge(answer, state);
    if (verdict === 'done') return { kind: 'done', answer, polls, lastPendingMs };
    if (verdict === 'pending') lastPendingMs = state.elapsedMs;
  }
}

/** Options of {@link pollWithHistory}. */
export interface PollWithHistoryOptions<T> extends Omit<PollUntilOptions<T>, 'delayMs' | 'pollFirst'> {
  settings: PollingSettings;
  /** Key of the duration history to plan from and to add to (`historyKey`); none: plain backoff. */
  historyKey?: string;
  /**
   * Key of the environment's history of this kind of execution (`environmentHistoryKey`): read only
   * while the project's own history is too short to plan from, and added to as well.
   */
  environmentHistoryKey?: string;
  /**
   * Size of what this execution processes (an import: its package's uncompressed data, bytes): the
   * history's durations are scaled to it, and it is learned with the duration. Unknown: unscaled.
   */
  size?: number;
  /** True when a `done` answer is a finished execution whose duration the history should learn. */
  learns(answer: T): boolean;
}

/**
 * {@link pollUntil}, waits planned by `nextPollDelayMs` from the history under `historyKey` (scaled
 * to `size`) — or, while that is too short, from the environment's under `environmentHistoryKey` —
 * both of which learn the duration (and size) of an execution that finished.
 */
export function* pollWithHistory<T>(
  context: OrchestrationContext,
  options: PollWithHistoryOptions<T>,
): Generator<Task, PollUntilOutcome<T>, unknown> {
  const { settings, historyKey, environmentHistoryKey } = options;
  const history = historyKey === undefined ? [] : yield* readHistory(context, historyKey);
  // the environment's history is read only when the project's own cannot plan the polls yet
  const environmentHistory =
    environmentHistoryKey === undefined || usableHistory(history) !== undefined
      ? []
      : yield* readHistory(context, environmentHistoryKey);
  const outcome = yield* pollUntil(context, {
    ...options,
    delayMs: ({ elapsedMs, polls }) =>
      nextPollDelayMs({
        elapsedMs,
        pollsSoFar: polls,
        settings,
        history,
        environmentHistory,
        ...(options.size !== undefined ? { size: options.size } : {}),
      }),
  });
  const learners = [historyKey, environmentHistoryKey].filter((key): key is string => key !== undefined);
  if (outcome.kind === 'done' && learners.length > 0 && options.learns(outcome.answer)) {
    learnDuration(context, learners, {
      lastUnfinishedMs: outcome.lastPendingMs,
      finishedMs: context.df.currentUtcDateTime.getTime() - options.since.getTime(),
      ...(options.size !== undefined ? { size: options.size } : {}),
    });
  }
  return outcome;
}
