/**
 * Alerts of finished and rejected jobs: {@link startAlerts} starts one `jobAlert` orchestration per
 * job outcome (when a configured alert wants it), and the `alertDeliver` activity sends one alert's
 * message. The job never waits for the webhook: its finish only starts the orchestration (one
 * durable call), and a failure to start is a warning. The orchestration retries each delivery on
 * durable timers.
 */
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import {
  alertMessage,
  AlertNoticeSchema,
  alertsFor,
  deliverAlert,
  type AlertDelivery,
  type AlertNotice,
} from '../../shared/alerts/index.js';
import { defineActivity } from '../../shared/app/activity.js';
import { startOnce } from '../../shared/app/durableClient.js';
import { ORCHESTRATORS } from '../../shared/app/names.js';
import type { Runtime } from '../../shared/app/runtime.js';
import { resolveSecret } from '../../shared/config/index.js';
import { alertInstanceId } from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import { errorMessage } from '../../shared/util.js';

/** Input of the `jobAlert` orchestration: the notice and the alerts that want it (by name). */
export const JobAlertInputSchema = z.strictObject({
  notice: AlertNoticeSchema,
  alerts: z.array(z.string()).min(1),
});
/** See {@link JobAlertInputSchema}. */
export type JobAlertInput = z.infer<typeof JobAlertInputSchema>;

/**
 * Starts the alerts of a job outcome, if any configured alert wants it: one `jobAlert` instance per
 * job (`alert-…` from the job id, so a retried finish starts nothing twice). Never throws: an
 * alert must not fail or hold up the job.
 */
export async function startAlerts(
  runtime: Pick<Runtime, 'config'>,
  client: DurableClient | undefined,
  notice: AlertNotice,
  logger: Pick<Logger, 'info' | 'warn'>,
): Promise<void> {
  const alerts = alertsFor(runtime.config.alerts, notice);
  if (alerts.length === 0 || !client) return;
  try {
    const input: JobAlertInput = { notice, alerts };
    const started = await startOnce(client, ORCHESTRATORS.jobAlert, alertInstanceId(notice.jobId), input);
    if (started === 'started')
      logger.info(`Alert of job ${notice.jobId} (${notice.status}): ${alerts.join(', ')}`);
  } catch (error) {
    logger.warn(`Could not start the alert of job ${notice.jobId}: ${errorMessage(error)}`);
  }
}

/** Input of {@link deliverAlertActivity}: which alert, and what to say. */
export const DeliverAlertInputSchema = z.strictObject({ alert: z.string(), notice: AlertNoticeSchema });

/**
 * Sends one alert's message. The webhook url is read from the app setting the alert names, here
 * and now (it never enters durable state); a transient failure throws (the orchestration retries),
 * a refusal answers `delivered: false`. An alert no longer configured is skipped.
 */
export const deliverAlertActivity = defineActivity({
  name: 'alertDeliver',
  input: DeliverAlertInputSchema,
  log: ({ alert, notice }) => ({ alert, jobId: notice.jobId }),
  handler: async ({ alert: name, notice }, { runtime, logger }): Promise<AlertDelivery> => {
    const alert = runtime.config.alerts.find((a) => a.name === name);
    if (!alert) {
      logger.warn(`Alert "${name}" is no longer configured: not sent`);
      return { delivered: false };
    }
    const url = resolveSecret(alert.urlSetting);
    const delivery = await deliverAlert(url, alertMessage(alert, notice));
    if (delivery.delivered) logger.info(`Alert "${name}" sent (HTTP ${delivery.status})`);
    else logger.warn(`Alert "${name}" refused by the webhook (HTTP ${delivery.status}): not sent again`);
    return delivery;
  },
});

/** The alert activities. */
export const ALERT_ACTIVITIES = { deliver: deliverAlertActivity };
