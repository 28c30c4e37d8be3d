/** The package export's activities (durable names `export…`). */
import { finishActivity, startActivity, storeActivity } from './package.js';

/** Activities of the `exportPackage` orchestration, by role. */
export const EXPORT_ACTIVITIES = {
  start: startActivity,
  store: storeActivity,
  finish: finishActivity,
};
