/** Timer: starts the scheduled package exports that are due (per data project `schedule`). */
import { app, type InvocationContext, type Timer } from '@azure/functions';
import * as df from 'durable-functions';
import { getRuntime, invocationLogger } from '../../shared/app/runtime.js';
import { planScheduledExports, plannedExportJob, runningExports, startPlannedExport } from './starting.js';

/** Name of the timer function. */
export const EXPORT_SCHEDULE_FUNCTION = 'exportScheduleTimer';
/** How often the schedules are checked (NCRONTAB): every minute. */
export const EXPORT_SCHEDULE_CRON = '0 * * * * *';

/** Starts every due scheduled export once (instance id per project + occurrence). */
export async function handleExportSchedule(_timer: Timer, context: InvocationContext): Promise<void> {
  const runtime = getRuntime();
  const logger = invocationLogger(context);
  const now = new Date();
  const scheduled = runtime.config.dataProjects.filter((p) => p.direction === 'export' && p.schedule);
  if (scheduled.length === 0) return;
  const client = df.getClient(context);
  const longest = Math.max(...scheduled.map((p) => p.polling.deadlineHours));
  const running = await runningExports(runtime.jobIndex, new Date(now.getTime() - (longest + 1) * 3_600_000));
  for (const plan of planScheduledExports(runtime.config, now, (env, project) =>
    running.has(`${env}/${project}`),
  )) {
    const where = `${plan.project.environment}/${plan.project.name}`;
    if (plan.skipped) {
      logger.info(
        `Scheduled export of ${where} for ${plan.occurrence.toISOString()} not started: ${plan.skipped}`,
      );
      continue;
    }
    const planned = plannedExportJob(
      runtime.config,
      {
        environment: plan.project.environment,
        project: plan.project.name,
        requestId: `schedule:${plan.occurrence.toISOString()}`,
        scheduledFor: plan.occurrence.toISOString(),
      },
      { trigger: 'schedule', now },
    );
    const outcome = await startPlannedExport(client, { ...planned, instanceId: plan.instanceId });
    if (outcome.started) logger.info(`Started scheduled export ${plan.instanceId} of ${where}`);
  }
}

app.timer(EXPORT_SCHEDULE_FUNCTION, {
  schedule: EXPORT_SCHEDULE_CRON,
  extraInputs: [df.input.durableClient()],
  handler: handleExportSchedule,
});
