/**
 * The durable names of the app: orchestrations, entities and the external events they wait for.
 * These strings are in durable history and state (and entity names in storage keys): they never
 * change. Activity names stand in their descriptors (src/activities/); job id prefixes in
 * src/shared/jobs/ids.ts; event types in src/shared/events/.
 */

/** Orchestration names. */
export const ORCHESTRATORS = {
  /** One file into F&O (src/orchestrators/imports/importPackage.ts). */
  importPackage: 'importPackage',
  /** One data project out of F&O (src/orchestrators/exports/exportPackage.ts). */
  exportPackage: 'exportPackage',
  /** One drain of a recurring export queue (src/orchestrators/recurring/exportDrain.ts). */
  recurringExportDrain: 'recurringExportDrain',
  /** One file enqueued to a recurring import (src/orchestrators/recurring/recurringImport.ts). */
  recurringImport: 'recurringImport',
  /** The alert of one finished or rejected job (src/orchestrators/common/alert.ts); not a job. */
  jobAlert: 'jobAlert',
  /** One batch through an ordered chain of data projects (src/orchestrators/chains/importChain.ts). */
  importChain: 'importChain',
  /** One export data project for several legal entities (src/orchestrators/exports/multiCompanyExport.ts). */
  multiCompanyExport: 'multiCompanyExport',
} as const;

/** Entity names. */
export const ENTITIES = {
  /** Per environment (key = environment name): which imports may run ImportFromPackage now, which wait. */
  slot: 'importSlot',
  /**
   * Per data project or recurring activity (key from `historyKey`), and per environment and kind
   * (key from `environmentHistoryKey`): recent execution durations, read by every kind of poll (the
   * name predates exports and recurring imports).
   */
  history: 'importHistory',
} as const;

/** External events the import orchestration waits for. */
export const IMPORT_EVENTS = {
  /** Raised when the environment's slot was granted to the instance. */
  slotGranted: 'slotGranted',
  /** Raised by `POST /api/jobs/{id}/cancel`. */
  cancel: 'cancel',
  /** Raised by the blob trigger when a file of a batch (or a chain's batch) arrived: look again. */
  batchFile: 'batchFile',
} as const;

/** External events of jobs waiting for a paused environment. */
export const ENVIRONMENT_EVENTS = {
  /**
   * Raised on the exports and recurring imports that wait for their environment when
   * `POST /api/environments/{env}/resume` resumes it (queued imports are woken with `slotGranted`).
   */
  resumed: 'environmentResumed',
} as const;
