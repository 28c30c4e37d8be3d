/**
 * The recurring export drain: one singleton per environment + activity. Each step dequeues and
 * stores a batch (one activity call, several dequeues in flight) **while** the previous batch is
 * acked and announced (another activity call, at the same time), until the queue answers 204 or the
 * run's cap; `continueAsNew` every {@link DRAIN_EPISODE_BATCHES} batches keeps the history small.
 * Acks that fail are sent again with the next step's acks, and after the last batch in rounds on
 * durable timers; a message whose ack failed {@link ACK_ROUNDS} times is counted, not fatal: it
 * reappears after F&O's visibility timeout, is found already stored and is simply acked then. A run
 * that handled messages is listed in the job index before each `continueAsNew` and at its end
 * (`recurringRecordRun`).
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import type { AckInput, dequeueBatch } from '../../activities/recurring/drain.js';
import { RECURRING_ACTIVITIES } from '../../activities/recurring/index.js';
import { DrainInputSchema, type DrainCounters, type DrainSummary } from '../../shared/jobs/index.js';
import { callActivity, scheduleActivity, settleAll, type Settled } from '../common/call.js';

/** What a dequeue call answers. */
type DequeueAnswer = Awaited<ReturnType<typeof dequeueBatch>>;

/** Messages dequeued (and stored) per activity call. */
export const DRAIN_BATCH_MESSAGES = 40;
/** Batches per drain episode before `continueAsNew`. */
export const DRAIN_EPISODE_BATCHES = 5;

/** Ack attempts of a message (the last ones on durable timers, from 1 s, doubling). */
export const ACK_ROUNDS = 4;

const ACK_RETRY = { attempts: 2, firstMs: 1_000 };
/** Leaves out what the activities default themselves (keeps the inputs of older runs as they were). */
const concurrencyOf = (n: number | undefined): { concurrency?: number } =>
  n === undefined ? {} : { concurrency: n };
const DEQUEUE_RETRY = { attempts: 3, firstMs: 2_000 };

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

  // acks waiting to be sent, and the attempts each message has had
  let pending: AckInput[] = [];
  const attempts = new Map<string, number>();
  /** Keeps the messages of an ack call that failed (all of them when the call itself failed). */
  function afterAcks(sent: AckInput[], failed: readonly string[] | undefined): void {
    const again = failed === undefined ? sent : sent.filter((p) => failed.includes(p.message.correlationId));
    for (const item of again) {
      const id = item.message.correlationId;
      const n = (attempts.get(id) ?? 0) + 1;
      attempts.set(id, n);
      if (n >= ACK_ROUNDS) counters.ackFailures++;
      else pending.push(item);
    }
    for (const item of sent) if (!again.includes(item)) attempts.delete(item.message.correlationId);
  }
  /** Sends the acks still pending, in rounds on durable timers (1 s, 2 s, 4 s between them). */
  function* flushAcks(): Generator<Task, void, unknown> {
    for (let round = 0; pending.length > 0; round++) {
      if (round > 0) {
        yield context.df.createTimer(
          new Date(context.df.currentUtcDateTime.getTime() + 1_000 * 2 ** (round - 1)),
        );
      }
      const sent = pending;
      pending = [];
      const [acked] = yield* settleAll(context, [
        scheduleActivity(
          context,
          RECURRING_ACTIVITIES.ackBatch,
          { ...target, items: sent, ...concurrencyOf(input.dequeueConcurrency) },
          ACK_RETRY,
        ),
      ]);
      afterAcks(sent, acked.ok ? acked.value.failed : undefined);
    }
  }

  for (let batch = 0; batch < DRAIN_EPISODE_BATCHES; batch++) {
    const room = input.maxMessages - counters.processed;
    if (room <= 0) {
      yield* flushAcks();
      return yield* finish(false);
    }
    context.df.setCustomStatus({ ...counters });
    const dequeue = scheduleActivity(
      context,
      RECURRING_ACTIVITIES.dequeueBatch,
      {
        ...target,
        max: Math.min(DRAIN_BATCH_MESSAGES, room),
        ...concurrencyOf(input.dequeueConcurrency),
      },
      DEQUEUE_RETRY,
    );
    // the previous batch is acked and announced while this one is dequeued and stored
    const sent = pending;
    pending = [];
    let dequeued: Settled<DequeueAnswer>;
    if (sent.length > 0) {
      const ack = scheduleActivity(
        context,
        RECURRING_ACTIVITIES.ackBatch,
        { ...target, items: sent, ...concurrencyOf(input.dequeueConcurrency) },
        ACK_RETRY,
      );
      let acked: Settled<{ failed: string[] }>;
      [dequeued, acked] = yield* settleAll(context, [dequeue, ack] as const);
      afterAcks(sent, acked.ok ? acked.value.failed : undefined);
    } else {
      [dequeued] = yield* settleAll(context, [dequeue] as const);
    }
    if (!dequeued.ok) {
      // the stored messages are acked before the run fails (F&O would offer them again otherwise)
      yield* flushAcks();
      throw dequeued.error instanceof Error ? dequeued.error : new Error(String(dequeued.error));
    }
    const next = dequeued.value;
    for (const item of next.items) {
      counters.processed++;
      switch (item.kind) {
        case 'stored':
        case 'alreadyStored':
          counters[item.kind]++;
          pending.push({
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
          if (input.ackWhenFileMissing) pending.push({ ...target, message: item.message });
          break;
        case 'failed':
          counters.failed++;
          break;
      }
    }
    if (next.empty) {
      yield* flushAcks();
      return yield* finish(true);
    }
  }
  yield* flushAcks();
  yield* record();
  context.df.continueAsNew({ ...input, counters });
  return undefined;
}
