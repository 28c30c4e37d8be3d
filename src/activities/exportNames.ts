/** Names of the export and recurring-integration orchestrations, activities, functions and events. */
import { EVENT_TYPE_PREFIX } from '../shared/events/index.js';

/** The package export orchestration. */
export const EXPORT_ORCHESTRATOR = 'exportPackage';

/** Activities of the package export. */
export const EXPORT_ACTIVITIES = {
  start: 'exportStart',
  store: 'exportStore',
  finish: 'exportFinish',
} as const;

/** The recurring export drain (one singleton per environment + activity). */
export const RECURRING_EXPORT_ORCHESTRATOR = 'recurringExportDrain';
/** The recurring import (enqueue + status tracking) orchestration. */
export const RECURRING_IMPORT_ORCHESTRATOR = 'recurringImport';

/** Activities of the recurring integrations. */
export const RECURRING_ACTIVITIES = {
  dequeueBatch: 'recurringDequeueBatch',
  ackBatch: 'recurringAckBatch',
  fileMissing: 'recurringFileMissing',
  enqueue: 'recurringEnqueue',
  messageStatus: 'recurringMessageStatus',
  executionId: 'recurringExecutionId',
  finish: 'recurringImportFinish',
} as const;

/** CloudEvent types of exports and recurring integrations. */
export const EXPORT_EVENT_TYPES = {
  /** A package export finished (Succeeded, PartiallySucceeded) and its package is stored. */
  completed: `${EVENT_TYPE_PREFIX}.export.completed`,
  /** A package export failed, was canceled or timed out. */
  failed: `${EVENT_TYPE_PREFIX}.export.failed`,
  /** A recurring export message's file was stored in the outbound container and acked. */
  recurringReceived: `${EVENT_TYPE_PREFIX}.recurring.export.received`,
  /** A dequeued message had no file (`IsDownLoadFileExist: false`). */
  recurringFileMissing: `${EVENT_TYPE_PREFIX}.recurring.export.fileMissing`,
  /** A recurring import finished with `Processed`. */
  recurringImportCompleted: `${EVENT_TYPE_PREFIX}.recurring.import.completed`,
  /** A recurring import finished with errors, was refused or timed out. */
  recurringImportFailed: `${EVENT_TYPE_PREFIX}.recurring.import.failed`,
} as const;

/** `source` attribute of export events. */
export const EXPORT_EVENT_SOURCE = '/dmf-functions/export';
/** `source` attribute of recurring integration events. */
export const RECURRING_EVENT_SOURCE = '/dmf-functions/recurring';

/** Prefix of package export instance ids (= job ids). */
export const EXPORT_INSTANCE_PREFIX = 'exp-';
/** Prefix of recurring import instance ids. */
export const RECURRING_IMPORT_INSTANCE_PREFIX = 'rim-';

/** Prefix of every recurring export drain's instance id. */
export const RECURRING_EXPORT_INSTANCE_PREFIX = 'recurring-export-';

/** Instance id of the drain of one environment + activity: at most one runs at a time. */
export function recurringExportInstanceId(environment: string, activityId: string): string {
  return `${RECURRING_EXPORT_INSTANCE_PREFIX}${environment}-${activityId}`;
}
