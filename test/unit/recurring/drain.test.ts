import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AckInput, StoredMessage } from '../../../src/activities/recurring/drain.js';
import {
  DRAIN_BATCH_MESSAGES,
  DRAIN_EPISODE_BATCHES,
} from '../../../src/orchestrators/recurring/exportDrain.js';
import { ORCHESTRATORS } from '../../../src/shared/app/names.js';
import type { DrainSummary } from '../../../src/shared/jobs/index.js';
import { startReplayHost, type Call, type ReplayHost } from '../../support/replay.js';

// the real orchestrator under durable-functions' replay on the local host; activities answered here
let replay: ReplayHost;
beforeAll(async () => {
  replay = await startReplayHost();
});
afterAll(async () => {
  await replay?.stop();
});
const drain = (options: Parameters<ReplayHost['run']>[1]) =>
  replay.run(ORCHESTRATORS.recurringExportDrain, options);

const base = {
  environment: 'prod',
  activityId: '6f1f1b52-4a1c-4f0e-9c43-2f0a8c7d9e10',
  maxMessages: 100,
  ackWhenFileMissing: false,
  scheduledFor: '2026-01-01T00:00:00.000Z',
};
const ref = (id: string) => ({
  correlationId: id,
  raw: { CorrelationId: id, PopReceipt: 'p', DownloadLocation: 'x' },
});
type Item = StoredMessage;
const acksOf = (call: Call): string[] =>
  (call.input as { items: AckInput[] }).items.map((i) => i.message.correlationId);

/** Answers dequeue batches from `items` (empty once they run out); every ack succeeds unless `failAck` says so. */
function queue(items: Item[], failAck: (id: string, round: number) => boolean = () => false) {
  let round = 0;
  return (call: Call) => {
    if (call.name === 'recurringDequeueBatch') {
      const max = (call.input as { max: number }).max;
      const taken = items.splice(0, max);
      return { value: { items: taken, empty: taken.length < max } };
    }
    if (call.name === 'recurringAckBatch') {
      round++;
      return { value: { failed: acksOf(call).filter((id) => failAck(id, round)) } };
    }
    return { value: null };
  };
}

describe('recurring export drain orchestration', () => {
  it('records a message without file, emits its event and leaves it un-acked by default', async () => {
    const run = await drain({
      input: base,
      answer: queue([{ kind: 'missing', message: ref('m1'), fileDownloadErrorMessage: 'File was purged' }]),
    });
    // a run that handled a message is listed in the job index at its end (recordRun)
    expect(run.activityCalls.map((c) => c.name)).toEqual([
      'recurringDequeueBatch',
      'recurringFileMissing',
      'recurringRecordRun',
    ]);
    expect(run.activityCalls[1]!.input).toMatchObject({
      fileDownloadErrorMessage: 'File was purged',
      acked: false,
    });
    expect(run.activityCalls[2]!.input).toMatchObject({
      run: { environment: 'prod', counters: { processed: 1, missing: 1 } },
      summary: { processed: 1, missing: 1, emptied: true },
    });
    expect(run.output).toMatchObject({ processed: 1, missing: 1, emptied: true });
  });

  it('acks a message without file when ackWhenFileMissing is set (no "received" event for it)', async () => {
    const run = await drain({
      input: { ...base, ackWhenFileMissing: true },
      answer: queue([{ kind: 'missing', message: ref('m1'), fileDownloadErrorMessage: 'gone' }]),
    });
    expect(run.activityCalls.map((c) => c.name)).toEqual([
      'recurringDequeueBatch',
      'recurringFileMissing',
      'recurringAckBatch',
      'recurringRecordRun',
    ]);
    const item = (run.activityCalls[2]!.input as { items: AckInput[] }).items[0]!;
    expect(item.message.correlationId).toBe('m1');
    expect(item.stored).toBeUndefined();
  });

  it('retries failed acks on durable timers, counts the ones that never succeed; a failed download is not acked', async () => {
    const items: Item[] = [
      { kind: 'stored', message: ref('a'), container: 'out', path: 'p/a', bytes: 3 },
      { kind: 'failed', message: ref('b'), error: 'HTTP 500' },
      { kind: 'alreadyStored', message: ref('c'), container: 'out', path: 'p/c', bytes: 3 },
      { kind: 'stored', message: ref('d'), container: 'out', path: 'p/d', bytes: 3 },
    ];
    // a never succeeds; d fails in the first round only
    const run = await drain({
      input: base,
      answer: queue(items, (id, round) => id === 'a' || (id === 'd' && round === 1)),
    });
    const ackCalls = run.activityCalls.filter((c) => c.name === 'recurringAckBatch').map(acksOf);
    expect(ackCalls).toEqual([['a', 'c', 'd'], ['a', 'd'], ['a'], ['a']]);
    expect(run.calls.filter((c) => c.kind === 'timer')).toHaveLength(3);
    expect(run.output).toMatchObject({
      processed: 4,
      stored: 2,
      alreadyStored: 1,
      failed: 1,
      ackFailures: 1,
    });
  });

  it('acks and announces a batch while the next one is dequeued; a failed ack call loses nothing', async () => {
    const n = DRAIN_BATCH_MESSAGES * 2 + 5;
    const items: Item[] = Array.from({ length: n }, (_, i) => ({
      kind: 'stored',
      message: ref(`m${i}`),
      container: 'out',
      path: `p/m${i}`,
      bytes: 1,
    }));
    const first = items.slice(0, DRAIN_BATCH_MESSAGES).map((i) => i.message.correlationId);
    const second = items
      .slice(DRAIN_BATCH_MESSAGES, 2 * DRAIN_BATCH_MESSAGES)
      .map((i) => i.message.correlationId);
    const third = items.slice(2 * DRAIN_BATCH_MESSAGES).map((i) => i.message.correlationId);
    let ackCalls = 0;
    const answer = queue(items);
    const run = await drain({
      input: base,
      answer: (call) => {
        // the first ack call fails in both its attempts
        if (call.name === 'recurringAckBatch' && ++ackCalls <= 2) return { error: new Error('ack down') };
        return answer(call);
      },
    });
    const names = run.activityCalls.map((c) =>
      c.name === 'recurringDequeueBatch' ? 'D' : c.name === 'recurringAckBatch' ? 'A' : c.name,
    );
    // batch 1's acks go out beside batch 2's dequeue (twice: the call fails), batch 2's beside batch 3's
    expect(names).toEqual(['D', 'D', 'A', 'A', 'D', 'A', 'A', 'recurringRecordRun']);
    const acked = run.activityCalls.filter((c) => c.name === 'recurringAckBatch').map(acksOf);
    expect(acked).toEqual([first, first, [...first, ...second], third]);
    expect(run.output).toMatchObject({ processed: n, stored: n, ackFailures: 0, emptied: true });
  });

  it('continues as new after an episode and stops at the per-run cap', async () => {
    let n = 0;
    const endless = (call: Call) => {
      if (call.name === 'recurringDequeueBatch') {
        const max = (call.input as { max: number }).max;
        const taken = Array.from({ length: max }, () => ({
          kind: 'stored',
          message: ref(String(n++)),
          container: 'o',
          path: 'p',
          bytes: 1,
        }));
        return { value: { items: taken, empty: false } };
      }
      return { value: { failed: [] } };
    };
    const perEpisode = DRAIN_BATCH_MESSAGES * DRAIN_EPISODE_BATCHES;
    const run = await drain({ input: { ...base, maxMessages: perEpisode + 5 }, answer: endless });
    expect(run.output as DrainSummary).toMatchObject({
      processed: perEpisode + 5,
      stored: perEpisode + 5,
      episodes: 2,
      emptied: false,
    });
    // the second generation's history holds only its own batch: the first one's was left behind
    const dequeues = run.calls.filter((c) => c.name === 'recurringDequeueBatch');
    expect(dequeues).toHaveLength(1);
    expect((dequeues[0]!.input as { max: number }).max).toBe(5);
    expect(run.activityCalls.filter((c) => c.name === 'recurringDequeueBatch')).toHaveLength(
      DRAIN_EPISODE_BATCHES + 1,
    );
  });
});
