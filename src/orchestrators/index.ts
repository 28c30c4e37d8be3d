/**
 * Every orchestration and entity of the app. Importing this module registers nothing: the app's
 * entry (and the replay tests) call {@link registerOrchestrations}.
 */
import * as df from 'durable-functions';
import { ORCHESTRATORS } from '../shared/app/names.js';
import { registerHistoryEntity } from './common/history.js';
import { exportPackageOrchestrator } from './exports/exportPackage.js';
import { importPackageOrchestrator } from './imports/importPackage.js';
import { registerSlotEntity } from './imports/slot.js';
import { recurringExportDrainOrchestrator } from './recurring/exportDrain.js';
import { recurringImportOrchestrator } from './recurring/recurringImport.js';

/** Registers the four orchestrations and the two entities with the Functions host. */
export function registerOrchestrations(): void {
  df.app.orchestration(ORCHESTRATORS.importPackage, importPackageOrchestrator);
  df.app.orchestration(ORCHESTRATORS.exportPackage, exportPackageOrchestrator);
  df.app.orchestration(ORCHESTRATORS.recurringExportDrain, recurringExportDrainOrchestrator);
  df.app.orchestration(ORCHESTRATORS.recurringImport, recurringImportOrchestrator);
  registerSlotEntity();
  registerHistoryEntity();
}
