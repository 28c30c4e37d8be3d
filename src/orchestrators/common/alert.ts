/**
 * The `jobAlert` orchestration: sends a job's alert to each configured webhook that wants it, each
 * delivery retried on durable timers (5 attempts, 5 s doubling: about 75 s in all, past Teams'
 * per-second throttling and a short outage). It runs beside the job, which has already ended: a
 * webhook that stays down costs a warning, never the job. Deterministic: only `context.df.*`.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import { ALERT_ACTIVITIES, JobAlertInputSchema } from '../../activities/common/alerts.js';
import { errorMessage } from '../../shared/util.js';
import { callActivity, type Retry } from './call.js';

/** Attempts of one delivery and the first wait between two (doubling). */
export const ALERT_RETRY: Retry = { attempts: 5, firstMs: 5_000 };

/** What the orchestration returns: per alert, whether it was delivered and, if not, why. */
export type JobAlertOutcome = { alert: string; delivered: boolean; status?: number; error?: string }[];

/** The orchestrator function. */
export function* jobAlertOrchestrator(
  context: OrchestrationContext,
): Generator<Task, JobAlertOutcome, unknown> {
  const input = JobAlertInputSchema.parse(context.df.getInput());
  const outcome: JobAlertOutcome = [];
  for (const alert of input.alerts) {
    try {
      const delivery = yield* callActivity(
        context,
        ALERT_ACTIVITIES.deliver,
        { alert, notice: input.notice },
        ALERT_RETRY,
      );
      outcome.push({ alert, ...delivery });
    } catch (error) {
      outcome.push({ alert, delivered: false, error: errorMessage(error) });
    }
  }
  return outcome;
}
