/**
 * Job ids (= orchestration instance ids): derived from what identifies the request, so that every
 * delivery of the same request maps to one instance and one F&O execution. Only `[a-z0-9-]` after
 * the prefix: valid as an instance id, an execution id and a blob name part. The prefix names the
 * kind of job (the job API reads it).
 */
import { createHash } from 'node:crypto';

/** Prefix of every import instance id. */
export const IMPORT_INSTANCE_PREFIX = 'imp-';
/** Prefix of package export instance ids. */
export const EXPORT_INSTANCE_PREFIX = 'exp-';
/** Prefix of recurring import instance ids. */
export const RECURRING_IMPORT_INSTANCE_PREFIX = 'rim-';
/** Prefix of every recurring export drain's instance id. */
export const RECURRING_EXPORT_INSTANCE_PREFIX = 'recurring-export-';

const digest = (...parts: string[]): string =>
  createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 32);

/** The instance id of an import: a hash of where the file is and which version it is. */
export function importInstanceId(parts: { source: string; version: string }): string {
  return `${IMPORT_INSTANCE_PREFIX}${digest(parts.source, parts.version)}`;
}

const EXECUTION_PREFIX = 'dmffn-';

/** The F&O execution id of an import or export: derived from its instance id. */
export function executionIdFor(instanceId: string): string {
  return `${EXECUTION_PREFIX}${instanceId}`;
}

/** The instance id an execution id was derived from ({@link executionIdFor}), if it was. */
export function instanceIdOfExecution(executionId: string): string | undefined {
  return executionId.startsWith(EXECUTION_PREFIX) ? executionId.slice(EXECUTION_PREFIX.length) : undefined;
}

/** Instance id of an export: a hash of the environment, the data project and the request. */
export function exportInstanceId(parts: { environment: string; project: string; request: string }): string {
  return `${EXPORT_INSTANCE_PREFIX}${digest(parts.environment, parts.project, parts.request)}`;
}

/** Instance id of a recurring import: a hash of the blob and its version (one enqueue per version). */
export function recurringImportInstanceId(parts: { source: string; version: string }): string {
  return `${RECURRING_IMPORT_INSTANCE_PREFIX}${digest(parts.source, parts.version)}`;
}

/** Instance id of the drain of one environment + activity: at most one runs at a time. */
export function recurringExportInstanceId(environment: string, activityId: string): string {
  return `${RECURRING_EXPORT_INSTANCE_PREFIX}${environment}-${activityId}`;
}
