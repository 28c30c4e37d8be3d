/**
 * Lists a job waiting for its paused environment as `Queued` in the job index (with the pause), or
 * back as waiting once the pause is over. Called by an orchestration only when the pause starts or
 * ends while it waits, never on the path of a job whose environment is not paused.
 */
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import { defineActivity, ownValue } from '../../shared/app/activity.js';
import { readEnvironmentGate, type PauseState } from '../../shared/app/environments.js';
import { executionIdFor, type PauseInfo } from '../../shared/jobs/index.js';
import { recordJob } from '../../shared/storage/index.js';

/**
 * The answer of an activity that would have asked F&O for work while the environment is paused
 * (`POST /api/environments/{env}/pause`): nothing was sent; the orchestration waits for the resume
 * and asks again.
 */
export interface Paused extends PauseState {
  kind: 'paused';
}

/** The {@link Paused} answer when the environment's gate is closed, else undefined. */
export async function pausedGate(client: DurableClient, environment: string): Promise<Paused | undefined> {
  const gate = await readEnvironmentGate(client, environment);
  return gate.paused ? { kind: 'paused', ...gate.paused } : undefined;
}

/** The stage a job waits in, per kind: where its orchestration stands while it is held back. */
const WAITING_STAGE = {
  import: 'WaitingForSlot',
  export: 'Starting',
  recurringImport: 'Enqueueing',
} as const;

/** Input of {@link recordQueuedActivity}. */
export const RecordQueuedInputSchema = z.strictObject({
  kind: z.enum(['import', 'export', 'recurringImport']),
  instanceId: z.string(),
  /** The orchestration's input (what the job JSON derives environment, project and file from). */
  input: ownValue<{ requestedAt: string }>('the orchestration input'),
  /** The pause it waits for; absent when the pause is over (the job waits for its turn again). */
  paused: ownValue<PauseInfo>('the pause').optional(),
});

/** Records the queued (or no longer queued) job in the job index. Never fails (see `recordJob`). */
export const recordQueuedActivity = defineActivity({
  name: 'jobRecordQueued',
  input: RecordQueuedInputSchema,
  log: ({ instanceId }) => ({ instanceId }),
  handler: async ({ kind, instanceId, input, paused }, { runtime, logger }): Promise<void> => {
    await recordJob(runtime.jobIndex, logger, kind, {
      instanceId,
      runtimeStatus: 'Running',
      input,
      customStatus: {
        stage: WAITING_STAGE[kind],
        ...(kind === 'recurringImport' ? {} : { executionId: executionIdFor(instanceId), polls: 0 }),
        ...(kind === 'export' ? { urlPolls: 0 } : {}),
        ...(paused ? { paused } : {}),
      },
      createdTime: input.requestedAt,
      lastUpdatedTime: new Date(),
    });
  },
});

/** The queue activities. */
export const QUEUED_ACTIVITIES = { record: recordQueuedActivity };
