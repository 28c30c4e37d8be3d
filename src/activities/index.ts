/**
 * Every activity of the app. Importing this module registers nothing: the app's entry calls
 * `registerActivities(ACTIVITIES)`; the replay tests register stand-ins under the same names.
 */
import type { ActivityDescriptor } from '../shared/app/activity.js';
import { EXECUTION_ACTIVITIES } from './common/executions.js';
import { EXPORT_ACTIVITIES } from './exports/index.js';
import { IMPORT_ACTIVITIES } from './imports/index.js';
import { RECURRING_ACTIVITIES } from './recurring/index.js';

export { EXECUTION_ACTIVITIES, EXPORT_ACTIVITIES, IMPORT_ACTIVITIES, RECURRING_ACTIVITIES };

/** All activities, once each. */
export const ACTIVITIES: readonly ActivityDescriptor[] = [
  ...Object.values(EXECUTION_ACTIVITIES),
  ...Object.values(IMPORT_ACTIVITIES),
  ...Object.values(EXPORT_ACTIVITIES),
  ...Object.values(RECURRING_ACTIVITIES),
];
