/** Timer: starts the recurring export drains that are due (one singleton per environment + activity). */
import { app, type InvocationContext, type Timer } from '@azure/functions';
import * as df from 'durable-functions';
import { getRuntime, invocationLogger } from '../../shared/app/runtime.js';
import { startDueDrains } from './starting.js';

/** Name of the drain timer function. */
export const RECURRING_EXPORT_TIMER_FUNCTION = 'recurringExportTimer';
/** How often the drain schedules are checked (NCRONTAB): every minute. */
export const RECURRING_EXPORT_CRON = '0 * * * * *';

/** Starts the drains that are due. */
export async function handleRecurringExportTimer(_timer: Timer, context: InvocationContext): Promise<void> {
  const runtime = getRuntime();
  const logger = invocationLogger(context);
  const starts = await startDueDrains(df.getClient(context), runtime.config, new Date());
  for (const s of starts) {
    if (s.outcome === 'started') logger.info(`Started drain ${s.instanceId} for ${s.occurrence ?? ''}`);
    else if (s.outcome === 'running')
      logger.info(`Drain ${s.instanceId} is still running: not started again`);
    else if (s.outcome === 'paused')
      logger.info(`Drain ${s.instanceId} not started: environment ${s.activity.environment} is paused`);
  }
}

app.timer(RECURRING_EXPORT_TIMER_FUNCTION, {
  schedule: RECURRING_EXPORT_CRON,
  extraInputs: [df.input.durableClient()],
  handler: handleRecurringExportTimer,
});
