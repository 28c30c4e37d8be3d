/**
 * The recurring export drain: one singleton per environment + activity. Loops dequeue+store (a
 * batch per activity call) → ack (a batch per activity call, failed acks retried on durable timers)
 * → events, until the queue answers 204 or the run's cap; `continueAsNew` every
 * {@link DRAIN_EPISODE_BATCHES} batches keeps the history small. An ack that still fails after
 * {@link ACK_ROUNDS} rounds is counted, not fatal: the message reappears after F&O's visibility
 * timeout, is found already stored and is simply acked then.
 */
import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { RECURRING_ACTIVITIES, RECURRING_EXPORT_ORCHESTRATOR } from '../activities/exportNames.js';
import { activityRetry } from './executionPolling.js';
import {
  DrainInputSchema,
  type AckInput,
  type DequeueResult,
  type DrainCounters,
  type DrainSummary,
  DRAIN_BATCH_MESSAGES,
  DRAIN_EPISODE_BATCHES,
} from './recurringInput.js';

export { DRAIN_BATCH_MESSAGES, DRAIN_EPISODE_BATCHES };

/** Rounds of acks for the messages whose ack failed (durable backoff from 1 s between rounds). */
export const ACK_ROUNDS = 4;

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

  function* ackAll(items: AckInput[]): Generator<Task, void, unknown> {
    let pending = items;
    for (let round = 0; pending.length > 0 && round < ACK_ROUNDS; round++) {
      if (round > 0) {
        yield context.df.createTimer(
          new Date(context.df.currentUtcDateTime.getTime() + 1_000 * 2 ** (round - 1)),
        );
      }
      let failed: string[];
      try {
        failed = (
          (yield context.df.callActivityWithRetry(RECURRING_ACTIVITIES.ackBatch, activityRetry(2, 1_000), {
            ...target,
            items: pending,
          })) as { failed: string[] }
        ).failed;
      } catch {
        failed = pending.map((p) => p.message.correlationId);
      }
      pending = pending.filter((p) => failed.includes(p.message.correlationId));
    }
    counters.ackFailures += pending.length;
  }

  for (let batch = 0; batch < DRAIN_EPISODE_BATCHES; batch++) {
    const room = input.maxMessages - counters.processed;
    if (room <= 0) return summary(false);
    context.df.setCustomStatus({ ...counters });
    const next = (yield context.df.callActivityWithRetry(
      RECURRING_ACTIVITIES.dequeueBatch,
      activityRetry(3, 2_000),
      {
        ...target,
        max: Math.min(DRAIN_BATCH_MESSAGES, room),
      },
    )) as { items: Exclude<DequeueResult, { kind: 'empty' }>[]; empty: boolean };
    const acks: AckInput[] = [];
    for (const item of next.items) {
      counters.processed++;
      switch (item.kind) {
        case 'stored':
        case 'alreadyStored':
          counters[item.kind]++;
          acks.push({
            ...target,
            message: item.message,
            stored: {
              container: item.container,
              path: item.path,
              bytes: item.bytes,
              redelivered: item.kind === 'alreadyStored' || item.message.lastDequeueDateTime !== undefined,
            },
          });
          break;
        case 'missing':
          counters.missing++;
          yield context.df.callActivityWithRetry(RECURRING_ACTIVITIES.fileMissing, activityRetry(3, 2_000), {
            ...target,
            message: item.message,
            fileDownloadErrorMessage: item.fileDownloadErrorMessage,
            acked: input.ackWhenFileMissing,
          });
          if (input.ackWhenFileMissing) acks.push({ ...target, message: item.message });
          break;
        case 'failed':
          counters.failed++;
          break;
      }
    }
    yield* ackAll(acks);
    if (next.empty) return summary(true);
  }
  context.df.continueAsNew({ ...input, counters });
  return undefined;
}

df.app.orchestration(RECURRING_EXPORT_ORCHESTRATOR, recurringExportDrainOrchestrator);
