/**
 * The end of a multi-company export: each company's export is a job of its own (`exportPackage`,
 * with its own result); the group's result JSON lists them with their statuses and packages.
 */
import { defineActivity, ownValue } from '../../shared/app/activity.js';
import type { Runtime } from '../../shared/app/runtime.js';
import { EXPORT_EVENT_SOURCE, MULTI_COMPANY_EXPORT_EVENT_TYPES } from '../../shared/events/index.js';
import type { ParentResult } from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import { exportLogicalPath } from '../../shared/storage/index.js';
import { publishOutcome, recordFinal, storeResult } from '../common/results.js';

/**
 * Writes the group's result JSON (results container, `exports/{environment}/{project}/{id}/`),
 * lists the job as final and publishes `…export.multiCompany.completed` / `….failed`.
 */
export async function finishMultiCompanyExport(
  runtime: Runtime,
  result: ParentResult,
  logger: Logger,
): Promise<ParentResult> {
  const final = await storeResult(runtime, exportLogicalPath(result.environment, result.project), result);
  await recordFinal(runtime, logger, 'multiCompanyExport', final);
  await publishOutcome(runtime, final, {
    types: MULTI_COMPANY_EXPORT_EVENT_TYPES,
    source: EXPORT_EVENT_SOURCE,
    subject: `${final.environment}/${final.project}`,
  });
  logger.info(`Multi-company export ${final.id} finished: ${final.status}; result in ${final.resultBlob}`);
  return final;
}

/** {@link finishMultiCompanyExport} as an activity. */
export const multiCompanyFinishActivity = defineActivity({
  name: 'exportMultiCompanyFinish',
  input: ownValue<ParentResult>('the multi-company export result'),
  log: (result) => ({ instanceId: result.id }),
  handler: (result, { runtime, logger }) => finishMultiCompanyExport(runtime, result, logger),
});
