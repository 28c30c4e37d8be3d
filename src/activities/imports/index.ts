/** The import's activities (durable names `import…`). */
import { checkDefinitionActivity } from './definition.js';
import { finishActivity } from './finish.js';
import { prepareActivity } from './prepare.js';
import { findStaleHoldersActivity, notifySlotActivity } from './slot.js';
import { uploadAndStartActivity } from './uploadAndStart.js';

/** Activities of the `importPackage` orchestration, by role. */
export const IMPORT_ACTIVITIES = {
  prepare: prepareActivity,
  checkDefinition: checkDefinitionActivity,
  uploadAndStart: uploadAndStartActivity,
  finish: finishActivity,
  findStaleHolders: findStaleHoldersActivity,
  notifySlot: notifySlotActivity,
};
