import { describe, expect, it } from 'vitest';
import {
  recurringExportDrainOrchestrator,
  DRAIN_EPISODE_MESSAGES,
} from '../../../src/orchestrators/recurringExportDrain.js';
import type { DequeueResult, DrainSummary } from '../../../src/orchestrators/recurringInput.js';
import { drive, type Call } from './driver.js';

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

function queue(items: DequeueResult[]) {
  return (call: Call) => {
    if (call.name === 'recurringDequeueAndStore') return { value: items.shift() ?? { kind: 'empty' } };
    return { value: null };
  };
}

describe('recurring export drain orchestration', () => {
  it('records a message without file, emits its event and leaves it un-acked by default', () => {
    const run = drive(recurringExportDrainOrchestrator, {
      input: base,
      answer: queue([{ kind: 'missing', message: ref('m1'), fileDownloadErrorMessage: 'File was purged' }]),
    });
    const names = run.calls.map((c) => c.name);
    expect(names).toEqual(['recurringDequeueAndStore', 'recurringFileMissing', 'recurringDequeueAndStore']);
    expect(run.calls[1]!.input).toMatchObject({ fileDownloadErrorMessage: 'File was purged', acked: false });
    expect(run.output).toMatchObject({ processed: 1, missing: 1, emptied: true });
  });

  it('acks a message without file when ackWhenFileMissing is set', () => {
    const run = drive(recurringExportDrainOrchestrator, {
      input: { ...base, ackWhenFileMissing: true },
      answer: queue([{ kind: 'missing', message: ref('m1'), fileDownloadErrorMessage: 'gone' }]),
    });
    expect(run.calls.map((c) => c.name)).toEqual([
      'recurringDequeueAndStore',
      'recurringFileMissing',
      'recurringAck',
      'recurringDequeueAndStore',
    ]);
    expect(run.calls[2]!.input).toMatchObject({ message: { correlationId: 'm1' } });
    expect((run.calls[2]!.input as { stored?: unknown }).stored).toBeUndefined();
  });

  it('counts an ack that failed after its retries and goes on; a failed download is not acked', () => {
    const items: DequeueResult[] = [
      { kind: 'stored', message: ref('a'), container: 'out', path: 'p/a', bytes: 3 },
      { kind: 'failed', message: ref('b'), error: 'HTTP 500' },
      { kind: 'alreadyStored', message: ref('c'), container: 'out', path: 'p/c', bytes: 3 },
    ];
    const run = drive(recurringExportDrainOrchestrator, {
      input: base,
      answer: (call) => {
        if (
          call.name === 'recurringAck' &&
          (call.input as { message: { correlationId: string } }).message.correlationId === 'a'
        )
          return { error: new Error('ack failed') };
        return queue(items)(call);
      },
    });
    const acked = run.calls
      .filter((c) => c.name === 'recurringAck')
      .map((c) => (c.input as { message: { correlationId: string } }).message.correlationId);
    expect(acked).toEqual(['a', 'c']);
    expect(run.output).toMatchObject({
      processed: 3,
      stored: 1,
      alreadyStored: 1,
      failed: 1,
      ackFailures: 1,
    });
  });

  it('continues as new after an episode and stops at the per-run cap', () => {
    const endless = (call: Call) =>
      call.name === 'recurringDequeueAndStore'
        ? {
            value: {
              kind: 'stored',
              message: ref(String(Math.random())),
              container: 'o',
              path: 'p',
              bytes: 1,
            },
          }
        : { value: null };
    const first = drive(recurringExportDrainOrchestrator, { input: base, answer: endless });
    expect(first.output).toBeUndefined();
    expect(first.continuedWith).toMatchObject({
      counters: { processed: DRAIN_EPISODE_MESSAGES, episodes: 1 },
    });
    const capped = drive(recurringExportDrainOrchestrator, {
      input: { ...base, maxMessages: 30, counters: (first.continuedWith as { counters: unknown }).counters },
      answer: endless,
    });
    expect(capped.output as DrainSummary).toMatchObject({ processed: 30, episodes: 2, emptied: false });
  });
});
