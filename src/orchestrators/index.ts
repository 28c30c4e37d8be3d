/**
 * Every orchestration and entity of the app. Importing this module registers nothing: the app's
 * entry (and the replay tests) call {@link registerOrchestrations}.
 */
import * as df from 'durable-functions';
import { ORCHESTRATORS } from '../shared/app/names.js';
import { jobAlertOrchestrator } from './common/alert.js';
import { registerHistoryEntity } from './common/history.js';
import { importChainOrchestrator } from './chains/importChain.js';
import { exportPackageOrchestrator } from './exports/exportPackage.js';
import { multiCompanyExportOrchestrator } from './exports/multiCompanyExport.js';
import { importPackageOrchestrator } from './imports/importPackage.js';
import { registerSlotEntity } from './imports/slot.js';
import { recurringExportDrainOrchestrator } from './recurring/exportDrain.js';
import { recurringImportOrchestrator } from './recurring/recurringImport.js';

/** Registers the orchestrations (six kinds of job and their alerts) and the two entities with the Functions host. */
export function registerOrchestrations(): void {
  df.app.orchestration(ORCHESTRATORS.importPackage, importPackageOrchestrator);
  df.app.orchestration(ORCHESTRATORS.exportPackage, exportPackageOrchestrator);
  df.app.orchestration(ORCHESTRATORS.recurringExportDrain, recurringExportDrainOrchestrator);
  df.app.orchestration(ORCHESTRATORS.recurringImport, recurringImportOrchestrator);
  df.app.orchestration(ORCHESTRATORS.jobAlert, jobAlertOrchestrator);
  df.app.orchestration(ORCHESTRATORS.importChain, importChainOrchestrator);
  df.app.orchestration(ORCHESTRATORS.multiCompanyExport, multiCompanyExportOrchestrator);
  registerSlotEntity();
  registerHistoryEntity();
}
