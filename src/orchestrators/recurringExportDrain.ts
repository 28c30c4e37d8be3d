/**
 * The recurring export drain: one singleton per environment + activity. Loops dequeue+store → ack
 * → event until the queue answers 204 or the run's cap; `continueAsNew` every
 * {@link DRAIN_EPISODE_MESSAGES} messages keeps the history small. A failed ack (after the activity
 * retries) is counted, not fatal: the message reappears after F&O's visibility timeout, is found
 * already stored and is simply acked then.
 */
import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { RECURRING_ACTIVITIES, RECURRING_EXPORT_ORCHESTRATOR } from '../activities/exportNames.js';
import { activityRetry } from './exportPolling.js';
import {
  DrainInputSchema,
  type AckInput,
  type DequeueResult,
  type DrainCounters,
  type DrainSummary,
} from './recurringInput.js';

/** Messages handled per orchestration episode before `continueAsNew`. */
export const DRAIN_EPISODE_MESSAGES = 25;
/** Ack attempts (activity retries, durable backoff from 1 s). */
export const ACK_ATTEMPTS = 4;

/** The orchestrator function (exported for tests; registered below). */
export function* recurringExportDrainOrchestrator(
  context: OrchestrationContext,
): Generator<Task, DrainSummary | undefined, unknown> {
  const input = DrainInputSchema.parse(context.df.getInput());
  const counters: DrainCounters = input.counters ?? {
    processed: 0,
    stored: 0,
    alreadyStored: 0,
    missing: 0,
    failed: 0,
    ackFailures: 0,
    episodes: 0,
  };
  counters.episodes++;
  const target = { environment: input.environment, activityId: input.activityId };
  const summary = (emptied: boolean): DrainSummary => ({
    ...counters,
    ...target,
    scheduledFor: input.scheduledFor,
    emptied,
    finishedAt: context.df.currentUtcDateTime.toISOString(),
  });
  function* ack(request: AckInput): Generator<Task, void, unknown> {
    try {
      yield context.df.callActivityWithRetry(
        RECURRING_ACTIVITIES.ack,
        activityRetry(ACK_ATTEMPTS, 1_000),
        request,
      );
    } catch {
      counters.ackFailures++;
    }
  }
  for (let inEpisode = 0; inEpisode < DRAIN_EPISODE_MESSAGES; inEpisode++) {
    if (counters.processed >= input.maxMessages) return summary(false);
    context.df.setCustomStatus({ ...counters });
    const next = (yield context.df.callActivityWithRetry(
      RECURRING_ACTIVITIES.dequeueAndStore,
      activityRetry(3, 2_000),
      target,
    )) as DequeueResult;
    if (next.kind === 'empty') return summary(true);
    counters.processed++;
    switch (next.kind) {
      case 'stored':
      case 'alreadyStored':
        counters[next.kind]++;
        yield* ack({
          ...target,
          message: next.message,
          stored: {
            container: next.container,
            path: next.path,
            bytes: next.bytes,
            redelivered: next.kind === 'alreadyStored' || next.message.lastDequeueDateTime !== undefined,
          },
        });
        break;
      case 'missing':
        counters.missing++;
        yield context.df.callActivityWithRetry(RECURRING_ACTIVITIES.fileMissing, activityRetry(3, 2_000), {
          ...target,
          message: next.message,
          fileDownloadErrorMessage: next.fileDownloadErrorMessage,
          acked: input.ackWhenFileMissing,
        });
        if (input.ackWhenFileMissing) yield* ack({ ...target, message: next.message });
        break;
      case 'failed':
        counters.failed++;
        break;
    }
  }
  context.df.continueAsNew({ ...input, counters });
  return undefined;
}

df.app.orchestration(RECURRING_EXPORT_ORCHESTRATOR, recurringExportDrainOrchestrator);
