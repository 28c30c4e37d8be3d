/**
 * Every activity of the app. Importing this module registers nothing: the app's entry calls
 * `registerActivities(ACTIVITIES)`; the replay tests register stand-ins under the same names.
 */
import type { ActivityDescriptor } from '../shared/app/activity.js';
import { ALERT_ACTIVITIES } from './common/alerts.js';
import { BATCH_ACTIVITIES } from './common/batches.js';
import { EXECUTION_ACTIVITIES } from './common/executions.js';
import { QUEUED_ACTIVITIES } from './common/queued.js';
import { CHAIN_ACTIVITIES } from './chains/index.js';
import { EXPORT_ACTIVITIES, MULTI_COMPANY_EXPORT_ACTIVITIES } from './exports/index.js';
import { IMPORT_ACTIVITIES } from './imports/index.js';
import { RECURRING_ACTIVITIES } from './recurring/index.js';

export {
  ALERT_ACTIVITIES,
  QUEUED_ACTIVITIES,
  BATCH_ACTIVITIES,
  CHAIN_ACTIVITIES,
  EXECUTION_ACTIVITIES,
  EXPORT_ACTIVITIES,
  IMPORT_ACTIVITIES,
  MULTI_COMPANY_EXPORT_ACTIVITIES,
  RECURRING_ACTIVITIES,
};

/** All activities, once each. */
export const ACTIVITIES: readonly ActivityDescriptor[] = [
  ...Object.values(EXECUTION_ACTIVITIES),
  ...Object.values(ALERT_ACTIVITIES),
  ...Object.values(QUEUED_ACTIVITIES),
  ...Object.values(BATCH_ACTIVITIES),
  ...Object.values(IMPORT_ACTIVITIES),
  ...Object.values(EXPORT_ACTIVITIES),
  ...Object.values(RECURRING_ACTIVITIES),
  ...Object.values(CHAIN_ACTIVITIES),
  ...Object.values(MULTI_COMPANY_EXPORT_ACTIVITIES),
];
