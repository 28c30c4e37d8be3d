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

/**
 * The instance id of an import of a url (HTTP JSON request or command): the url without its query
 * (a SAS is a secret, and a new SAS for the same blob is the same file) and the request that named it.
 */
export function urlImportInstanceId(url: URL, requestId: string): string {
  return importInstanceId({ source: `${url.origin}${url.pathname}`, version: requestId });
}

/**
 * The instance id of an import of a blob named by `blobPath` (`{container}/{path}`) in a request or
 * command: the same as the blob trigger gives that blob version, so both start one job.
 */
export function blobImportInstanceId(blobPath: string, etag: string): string {
  return importInstanceId({ source: blobPath, version: etag });
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

/** The request id of an export started by a Service Bus command: its MessageId, marked as such. */
export function exportCommandRequestId(messageId: string): string {
  return `command:${messageId}`;
}

/** The id of the rejection of a Service Bus command (`cmd-{MessageId}`, made safe as a blob name). */
export function commandRejectionId(messageId: string): string {
  return `cmd-${messageId}`.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** Instance id of a recurring import: a hash of the blob and its version (one enqueue per version). */
export function recurringImportInstanceId(parts: { source: string; version: string }): string {
  return `${RECURRING_IMPORT_INSTANCE_PREFIX}${digest(parts.source, parts.version)}`;
}

/** Instance id of the drain of one environment + activity: at most one runs at a time. */
export function recurringExportInstanceId(environment: string, activityId: string): string {
  return `${RECURRING_EXPORT_INSTANCE_PREFIX}${environment}-${activityId}`;
}

/** Prefix of the `jobAlert` instances (one per job outcome; not a job). */
export const ALERT_INSTANCE_PREFIX = 'alert-';

/** Instance id of the alert of a job: one per job, so a retried finish never alerts twice. */
export function alertInstanceId(jobId: string): string {
  return `${ALERT_INSTANCE_PREFIX}${digest('alert', jobId)}`;
}

/**
 * The job id a re-run of job `jobId` gets: derived from it (and of the same kind), so two re-run
 * requests of one job — concurrent or repeated — start one job. A job is re-run once; a re-run is
 * re-run again by its own id.
 */
export function rerunInstanceId(kind: 'import' | 'export', jobId: string): string {
  return `${kind === 'import' ? IMPORT_INSTANCE_PREFIX : EXPORT_INSTANCE_PREFIX}${digest('rerun', jobId)}`;
}

const RUN_SUFFIX = /-r(\d{8}t\d{9})$/;

/**
 * The job id of one run of a recurring export drain: the drain's instance id (one per environment
 * and activity) and the run's schedule occurrence, `…-r20260101t000000000`. Each run that handled
 * messages is its own job: a later run (or an idle one) never overwrites it.
 */
export function recurringExportRunId(instanceId: string, scheduledFor: string): string {
  const at = new Date(scheduledFor);
  const stamp = Number.isNaN(at.getTime())
    ? '00000000t000000000'
    : at
        .toISOString()
        .replace(/[-:.Z]/g, '')
        .toLowerCase();
  return `${instanceId}-r${stamp}`;
}

/** The drain instance id of a run id ({@link recurringExportRunId}); undefined for any other id. */
export function drainOfRunId(runId: string): string | undefined {
  if (!runId.startsWith(RECURRING_EXPORT_INSTANCE_PREFIX) || !RUN_SUFFIX.test(runId)) return undefined;
  return runId.replace(RUN_SUFFIX, '');
}

/** Prefix of chain instance ids (a batch run through an ordered chain of data projects). */
export const CHAIN_INSTANCE_PREFIX = 'chn-';
/** Prefix of multi-company export instance ids (one export per legal entity, grouped). */
export const MULTI_COMPANY_EXPORT_INSTANCE_PREFIX = 'mce-';

/**
 * The instance id of a batch import: a hash of the batch's folder (one batch, one job, one F&O
 * execution, whatever the number of files and deliveries). Prefixed like every import.
 */
export function batchImportInstanceId(parts: { container: string; folder: string }): string {
  return `${IMPORT_INSTANCE_PREFIX}${digest('batch', `${parts.container}/${parts.folder}/`)}`;
}

/** The instance id of a chain run: a hash of its batch's folder. */
export function chainInstanceId(parts: { container: string; folder: string }): string {
  return `${CHAIN_INSTANCE_PREFIX}${digest('chain', `${parts.container}/${parts.folder}/`)}`;
}

/** The instance id of a chain's step: the import of one project, a hash of the chain and the project. */
export function chainStepInstanceId(chainId: string, project: string): string {
  return `${IMPORT_INSTANCE_PREFIX}${digest('child', chainId, project)}`;
}

/** The instance id of one company's export in a multi-company run: a hash of the run and the company. */
export function companyExportInstanceId(parentId: string, legalEntity: string): string {
  return `${EXPORT_INSTANCE_PREFIX}${digest('child', parentId, legalEntity.toUpperCase())}`;
}

/** Instance id of a multi-company export: a hash of the environment, the project and the request. */
export function multiCompanyExportInstanceId(parts: {
  environment: string;
  project: string;
  request: string;
}): string {
  return `${MULTI_COMPANY_EXPORT_INSTANCE_PREFIX}${digest(parts.environment, parts.project, parts.request)}`;
}
