/**
 * The end of a multi-company export: each company's export is a job of its own (`exportPackage`,
 * with its own result); the group's result JSON lists them with their statuses and packages.
 */
import { defineActivity, ownValue } from '../../shared/app/activity.js';
import type { Runtime } from '../../shared/app/runtime.js';
import { MULTI_COMPANY_EXPORT_EVENT_TYPES } from '../../shared/events/index.js';
import type { ParentResult } from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import { finishJob } from '../common/results.js';
import { exportEnding } from './package.js';

/**
 * Writes the group's result JSON (results container, `exports/{environment}/{project}/{id}/`),
 * lists the job as final and publishes `…export.multiCompany.completed` / `….failed`.
 */
export async function finishMultiCompanyExport(
  runtime: Runtime,
  result: ParentResult,
  logger: Logger,
): Promise<ParentResult> {
  const ending = exportEnding(result, MULTI_COMPANY_EXPORT_EVENT_TYPES);
  return finishJob(
    runtime,
    logger,
    { kind: 'multiCompanyExport', label: 'Multi-company export', ...ending },
    result,
  );
}

/** {@link finishMultiCompanyExport} as an activity. */
export const multiCompanyFinishActivity = defineActivity({
  name: 'exportMultiCompanyFinish',
  input: ownValue<ParentResult>('the multi-company export result'),
  log: (result) => ({ instanceId: result.id }),
  handler: (result, { runtime, logger }) => finishMultiCompanyExport(runtime, result, logger),
});
