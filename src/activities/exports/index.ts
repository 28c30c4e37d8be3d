/** The package export's activities (durable names `export…`). */
import { multiCompanyFinishActivity } from './companies.js';
import { finishActivity, startActivity, storeActivity } from './package.js';

/** Activities of the `exportPackage` orchestration, by role. */
export const EXPORT_ACTIVITIES = {
  start: startActivity,
  store: storeActivity,
  finish: finishActivity,
};

/** Activities of the `multiCompanyExport` orchestration (each company's export is an `exportPackage`). */
export const MULTI_COMPANY_EXPORT_ACTIVITIES = { finish: multiCompanyFinishActivity };
