/** Names of the import pipeline's activities, orchestrations, entities and events. */

/** The import orchestration. */
export const IMPORT_ORCHESTRATOR = 'importPackage';

/** Activity names. */
export const IMPORT_ACTIVITIES = {
  prepare: 'importPrepare',
  uploadAndStart: 'importUploadAndStart',
  getStatus: 'importGetStatus',
  collectErrors: 'importCollectErrors',
  finish: 'importFinish',
  findStaleHolders: 'importFindStaleHolders',
  notifySlot: 'importNotifySlot',
} as const;

/** Entity names. */
export const IMPORT_ENTITIES = {
  /** Per environment (key = environment name): who may run ImportFromPackage now, who waits. */
  slot: 'importSlot',
  /** Per data project (key = `{environment}:{project}`): recent execution durations. */
  history: 'importHistory',
} as const;

/** External events the import orchestration waits for. */
export const IMPORT_EVENTS = {
  /** Raised when the environment's slot was granted to the instance. */
  slotGranted: 'slotGranted',
  /** Raised by `POST /api/jobs/{id}/cancel`. */
  cancel: 'cancel',
} as const;

/** Entity key of a data project's duration history. */
export function historyKey(environment: string, project: string): string {
  return `${environment}:${project}`;
}
