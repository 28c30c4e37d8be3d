/**
 * The recurring export drain: one singleton per environment + activity. Loops dequeue+store (a
 * batch per activity call) → ack (a batch per activity call, failed acks retried on durable timers)
 * → events, until the queue answers 204 or the run's cap; `continueAsNew` every
 * {@link DRAIN_EPISODE_BATCHES} batches keeps the history small. A run that handled messages is
 * listed in the job index before each `continueAsNew` and at its end (`recurringRecordRun`). An ack that still fails after
 * {@link ACK_ROUNDS} rounds is counted, not fatal: the message reappears after F&O's visibility
 * timeout, is found already stored and is simply acked then.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import type { AckInput } from '../../activities/recurring/drain.js';
import { RECURRING_ACTIVITIES } from '../../activities/recurring/index.js';
import { DrainInputSchema, type DrainCounters, type DrainSummary } from '../../shared/jobs/index.js';
import { callActivity } from '../common/call.js';

/** Messages dequeued (and stored) per activity call. */
export const DRAIN_BATCH_MESSAGES = 10;
/** Batches per drain episode before `continueAsNew`. */
export const DRAIN_EPISODE_BATCHES = 5;

/** Rounds of acks for the messages whose ack failed (durable backoff from 1 s between rounds). */
export const ACK_ROUNDS = 4;

/** The orchestrator function. */
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

  /** Lists the run in the job index when it handled messages (empty runs are not listed). */
  function* record(summary?: DrainSummary): Generator<Task, void, unknown> {
    if (counters.processed === 0) return;
    yield* callActivity(
      context,
      RECURRING_ACTIVITIES.recordRun,
      { instanceId: context.df.instanceId, run: { ...input, counters }, ...(summary ? { summary } : {}) },
      { attempts: 2, firstMs: 1_000 },
    );
  }
  function* finish(emptied: boolean): Generator<Task, DrainSummary, unknown> {
    const summary: DrainSummary = {
      ...counters,
      ...target,
      scheduledFor: input.scheduledFor,
      emptied,
      finishedAt: context.df.currentUtcDateTime.toISOString(),
    };
    yield* record(summary);
    return summary;
  }

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
        ({ failed } = yield* callActivity(
          context,
          RECURRING_ACTIVITIES.ackBatch,
          { ...target, items: pending },
          { attempts: 2, firstMs: 1_000 },
        ));
      } catch {
        failed = pending.map((p) => p.message.correlationId);
      }
      pending = pending.filter((p) => failed.includes(p.message.correlationId));
    }
    counters.ackFailures += pending.length;
  }

  for (let batch = 0; batch < DRAIN_EPISODE_BATCHES; batch++) {
    const room = input.maxMessages - counters.processed;
    if (room <= 0) return yield* finish(false);
    context.df.setCustomStatus({ ...counters });
    const next = yield* callActivity(
      context,
      RECURRING_ACTIVITIES.dequeueBatch,
      { ...target, max: Math.min(DRAIN_BATCH_MESSAGES, room) },
      { attempts: 3, firstMs: 2_000 },
    );
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
          yield* callActivity(
            context,
            RECURRING_ACTIVITIES.fileMissing,
            {
              ...target,
              message: item.message,
              fileDownloadErrorMessage: item.fileDownloadErrorMessage,
              acked: input.ackWhenFileMissing,
            },
            { attempts: 3, firstMs: 2_000 },
          );
          if (input.ackWhenFileMissing) acks.push({ ...target, message: item.message });
          break;
        case 'failed':
          counters.failed++;
          break;
      }
    }
    yield* ackAll(acks);
    if (next.empty) return yield* finish(true);
  }
  yield* record();
  context.df.continueAsNew({ ...input, counters });
  return undefined;
}
