/**
 * Timer: purges the Durable Functions history of finished jobs older than DMF_PURGE_AFTER_DAYS, so
 * the instance and history tables stop growing. A job's result stays in the results container
 * (`result.json`, error files), so its outcome stays readable after the purge, and it stays in the
 * jobs list (the job index) until DMF_JOB_INDEX_DAYS, when this timer deletes its index rows too.
 */
import { app, type InvocationContext, type Timer } from '@azure/functions';
import * as df from 'durable-functions';
import { getRuntime, invocationLogger } from '../../shared/app/runtime.js';
import type { JobIndex } from '../../shared/storage/index.js';

/** Name of the timer function. */
export const PURGE_HISTORY_FUNCTION = 'purgeHistoryTimer';
/** When it runs (NCRONTAB, UTC): daily at 02:30, away from the hour when schedules tend to fire. */
export const PURGE_HISTORY_CRON = '0 30 2 * * *';
/**
 * The runtime statuses purged: finished instances only. Running, pending and suspended
 * orchestrations and the entities (which the storage provider reports as running) are kept.
 */
export const PURGED_STATUSES: readonly df.OrchestrationRuntimeStatus[] = [
  df.OrchestrationRuntimeStatus.Completed,
  df.OrchestrationRuntimeStatus.Failed,
  df.OrchestrationRuntimeStatus.Terminated,
];

/** The part of the durable client the purge uses. */
export type PurgeClient = Pick<df.DurableClient, 'purgeInstanceHistoryBy'>;

/** What {@link purgeFinishedInstances} did. */
export interface PurgeOutcome {
  /** Instances whose history was deleted. */
  purged: number;
  /** Instances created before this were purged (when the purge ran). */
  createdBefore?: Date;
}

/**
 * Deletes the history of the finished instances created more than `afterDays` days before `now`
 * (`afterDays` 0: nothing, the history is kept). The filter is on the creation time, the only time
 * the purge API filters on; jobs last hours, so it is close to the completion time.
 */
export async function purgeFinishedInstances(
  client: PurgeClient,
  afterDays: number,
  now: Date,
): Promise<PurgeOutcome> {
  if (afterDays <= 0) return { purged: 0 };
  const createdBefore = new Date(now.getTime() - afterDays * 86_400_000);
  const result = await client.purgeInstanceHistoryBy({
    // the extension's purge API wants a lower bound: the epoch takes every older instance
    createdTimeFrom: new Date(0),
    createdTimeTo: createdBefore,
    runtimeStatus: [...PURGED_STATUSES],
  });
  return { purged: result.instancesDeleted, createdBefore };
}

/**
 * Deletes the jobs listed (requested) more than `days` days before `now` from the job index; 0
 * days: none. @returns the jobs deleted and the time before which they were listed.
 */
export async function purgeJobIndex(
  index: Pick<JobIndex, 'purge'>,
  days: number,
  now: Date,
): Promise<{ purged: number; listedBefore?: Date }> {
  if (days <= 0) return { purged: 0 };
  const listedBefore = new Date(now.getTime() - days * 86_400_000);
  return { purged: await index.purge(listedBefore), listedBefore };
}

/** The timer's handler. */
export async function handlePurgeHistory(_timer: Timer, context: InvocationContext): Promise<void> {
  const runtime = getRuntime();
  const days = runtime.config.purgeAfterDays;
  const logger = invocationLogger(context);
  const outcome = await purgeFinishedInstances(df.getClient(context), days, new Date());
  if (outcome.createdBefore)
    logger.info(
      `Purged the durable history of ${outcome.purged} finished instance(s) created before ${outcome.createdBefore.toISOString()} (DMF_PURGE_AFTER_DAYS=${days})`,
    );
  else logger.info('Durable history kept: DMF_PURGE_AFTER_DAYS is 0');
  const indexDays = runtime.config.jobIndexDays;
  const index = await purgeJobIndex(runtime.jobIndex, indexDays, new Date());
  if (index.listedBefore)
    logger.info(
      `Deleted ${index.purged} job(s) requested before ${index.listedBefore.toISOString()} from the job index (DMF_JOB_INDEX_DAYS=${indexDays})`,
    );
  else logger.info('Job index kept: DMF_JOB_INDEX_DAYS is 0');
}

app.timer(PURGE_HISTORY_FUNCTION, {
  schedule: PURGE_HISTORY_CRON,
  extraInputs: [df.input.durableClient()],
  handler: handlePurgeHistory,
});
