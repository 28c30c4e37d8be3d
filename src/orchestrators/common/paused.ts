/**
 * What an orchestration does while its environment is paused: list itself `Queued` in the job index
 * (once per pause), then wait for `environmentResumed` — raised by the resume — or a recheck timer
 * (in case that event was missed), and ask again. Sub-generators (`yield*`), deterministic.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import { QUEUED_ACTIVITIES } from '../../activities/common/queued.js';
import { ENVIRONMENT_EVENTS } from '../../shared/app/names.js';
import type { PauseInfo } from '../../shared/jobs/index.js';
import { callActivity } from './call.js';

/**
 * How long a job waiting for its paused environment waits before it asks again when no resume
 * event came (a safety net: the resume wakes the waiting jobs).
 */
export const PAUSE_RECHECK_MS = 15 * 60_000;

/** Lists the job as queued for `paused` (or no longer queued: undefined); a failure is only a stale list. */
export function* recordQueued(
  context: OrchestrationContext,
  job: {
    kind: 'import' | 'export' | 'recurringImport';
    input: { requestedAt: string };
    paused: PauseInfo | undefined;
  },
): Generator<Task, void, unknown> {
  try {
    yield* callActivity(
      context,
      QUEUED_ACTIVITIES.record,
      {
        kind: job.kind,
        instanceId: context.df.instanceId,
        input: job.input,
        ...(job.paused ? { paused: job.paused } : {}),
      },
      { attempts: 2, firstMs: 1_000 },
    );
  } catch {
    // the index write never throws; an activity that still failed leaves the list a stage behind
  }
}

/** Waits until the environment is resumed (its event) or {@link PAUSE_RECHECK_MS} passed. */
export function* waitForResume(context: OrchestrationContext): Generator<Task, void, unknown> {
  const resumed = context.df.waitForExternalEvent(ENVIRONMENT_EVENTS.resumed);
  const recheck = context.df.createTimer(
    new Date(context.df.currentUtcDateTime.getTime() + PAUSE_RECHECK_MS),
  );
  const winner = (yield context.df.Task.any([resumed, recheck])) as Task;
  if (winner !== recheck) recheck.cancel();
}
