/** Contracts of the recurring integration orchestrations (JSON-safe; inputs parsed with zod). */
import { z } from 'zod';
import type { CopiedErrorFile, JobError } from '../shared/jobs/index.js';

/** Messages dequeued (and stored) per activity call of a recurring export drain. */
export const DRAIN_BATCH_MESSAGES = 10;
/** Batches per drain episode before `continueAsNew`. */
export const DRAIN_EPISODE_BATCHES = 5;

/** Input of the recurring export drain (carried across `continueAsNew`). */
export const DrainInputSchema = z.strictObject({
  environment: z.string().min(1),
  activityId: z.string().min(1),
  /** Most messages handled by this run (the activity's `maxMessagesPerRun`). */
  maxMessages: z.number().int().min(1),
  ackWhenFileMissing: z.boolean(),
  /** The schedule occurrence (or request time) this run is for. */
  scheduledFor: z.string(),
  /** Counters so far (earlier episodes of this run). */
  counters: z
    .strictObject({
      processed: z.number().int(),
      stored: z.number().int(),
      alreadyStored: z.number().int(),
      missing: z.number().int(),
      failed: z.number().int(),
      ackFailures: z.number().int(),
      episodes: z.number().int(),
    })
    .optional(),
});
/** See {@link DrainInputSchema}. */
export type DrainInput = z.infer<typeof DrainInputSchema>;
/** Counters of a drain run. */
export type DrainCounters = NonNullable<DrainInput['counters']>;

/** What a drain run returns (its output). */
export interface DrainSummary extends DrainCounters {
  environment: string;
  activityId: string;
  scheduledFor: string;
  /** True when the queue answered 204 (empty); false when the per-run cap stopped the run. */
  emptied: boolean;
  finishedAt: string;
}

/** Input of the dequeue-and-store activity. */
export interface DequeueInput {
  environment: string;
  activityId: string;
}

/** The ack body (the dequeue answer as received) and what the activities need to know of a message. */
export interface DequeuedRef {
  correlationId: string;
  lastDequeueDateTime?: string;
  /** The dequeue answer exactly as received (sent back as the ack body; holds no secret). */
  raw: Record<string, unknown>;
}

/** Output of the dequeue-and-store activity. */
export type DequeueResult =
  | { kind: 'empty' }
  | { kind: 'stored' | 'alreadyStored'; message: DequeuedRef; container: string; path: string; bytes: number }
  | { kind: 'missing'; message: DequeuedRef; fileDownloadErrorMessage: string }
  | { kind: 'failed'; message: DequeuedRef; error: string };

/** Input of the ack activity. */
export interface AckInput {
  environment: string;
  activityId: string;
  message: DequeuedRef;
  /** Event to publish once acked (none for an acked missing file: its event was already sent). */
  stored?: { container: string; path: string; bytes: number; redelivered: boolean };
}

/** Input of the recurring import orchestration. */
export const RecurringImportInputSchema = z.strictObject({
  container: z.string().min(1),
  /** `{environment}/{activityId}/[{company}/][{entity}/]{file}`. */
  path: z.string().min(1),
  etag: z.string().optional(),
  fileName: z.string().min(1),
  environment: z.string().min(1),
  activityId: z.string().min(1),
  entity: z.string().optional(),
  company: z.string().optional(),
  maxEnqueueBytes: z.number().int(),
  /** Polling of GetMessageStatus (seconds). */
  polling: z.strictObject({
    firstIntervalSeconds: z.number(),
    backoffFactor: z.number(),
    maxIntervalSeconds: z.number(),
    deadlineHours: z.number(),
  }),
  requestedAt: z.string(),
});
/** See {@link RecurringImportInputSchema}. */
export type RecurringImportInput = z.infer<typeof RecurringImportInputSchema>;

/** Outcomes of a recurring import. */
export type RecurringImportOutcome = 'Succeeded' | 'Failed' | 'TimedOut' | 'Rejected';

/** Result JSON of a recurring import (results container, orchestration output, event data). */
export interface RecurringImportResult {
  id: string;
  kind: 'recurringImport';
  status: RecurringImportOutcome;
  environment: string;
  activityId: string;
  file: string;
  source: string;
  entity?: string;
  company?: string;
  messageId?: string;
  /** Last GetMessageStatus answer. */
  messageStatus?: string;
  executionId?: string;
  bytes?: number;
  polls: number;
  timings: { requestedAt: string; enqueuedAt?: string; finishedAt: string };
  errors: JobError[];
  errorFiles: CopiedErrorFile[];
  resultBlob?: string;
  archivedTo?: string;
}

/** Output of the enqueue activity. */
export type EnqueueResult =
  | { kind: 'enqueued'; messageId: string; bytes: number }
  | { kind: 'refused'; code: string; reason: string; bytes: number };
