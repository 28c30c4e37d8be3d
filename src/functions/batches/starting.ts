/**
 * The use cases behind a file of a batch arriving in the inbound container: its batch's job is
 * started on its first file (a batch import, or a chain run), and woken by every later one (the
 * `batchFile` event: it looks at its folder again). One batch, one job, however many files and
 * deliveries: the instance id is derived from the batch's folder. A file arriving once the batch
 * stopped taking files (complete, or ended) is refused (recorded, left in place).
 */
import type { DurableClient } from 'durable-functions';
import { findStatus, isActive, startOnce } from '../../shared/app/durableClient.js';
import { IMPORT_EVENTS, ORCHESTRATORS } from '../../shared/app/names.js';
import type { Runtime } from '../../shared/app/runtime.js';
import { getDataProject } from '../../shared/config/index.js';
import {
  batchImportInstanceId,
  chainInstanceId,
  chainStepInstanceId,
  executionIdFor,
  importInstanceId,
  type ChainInput,
  type ImportInput,
  type ParentCustomStatus,
} from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import { recordJob, type ResolvedBatchPath } from '../../shared/storage/index.js';
import { isRecord } from '../../shared/util.js';
import { recordRejection } from '../common/rejections.js';

/** The job a batch file belongs to: its instance id, orchestration and input. */
export type PlannedBatch =
  | { kind: 'batch'; instanceId: string; input: ImportInput }
  | { kind: 'chain'; instanceId: string; input: ChainInput };

/** Code of a file refused because its batch stopped taking files (complete, or ended) before it arrived. */
export const BATCH_CLOSED = 'BATCH_CLOSED';

/**
 * The job of the batch `resolved` names, as its first file starts it: the batch's settings as
 * configured now (the trigger file, when it is complete, its deadline from `now`).
 */
export function plannedBatch(
  config: Runtime['config'],
  resolved: ResolvedBatchPath,
  blob: { container: string },
  now: Date,
): PlannedBatch {
  const requestedAt = now.toISOString();
  const ids = { container: blob.container, folder: resolved.folder };
  if (resolved.kind === 'batch') {
    const { project } = resolved;
    return {
      kind: 'batch',
      instanceId: batchImportInstanceId(ids),
      input: {
        source: {
          kind: 'batch',
          container: blob.container,
          folder: resolved.folder,
          batchId: resolved.batchId,
          collect: {
            trigger: project.batch.trigger,
            complete: project.batch.complete,
            deadline: new Date(now.getTime() + project.batch.timeoutMinutes * 60_000).toISOString(),
          },
        },
        logicalPath: resolved.folder,
        fileName: resolved.batchId,
        environment: resolved.environment.name,
        project: project.name,
        definitionGroupId: project.definitionGroupId,
        legalEntity: resolved.legalEntity,
        execute: project.execute,
        overwrite: project.overwrite,
        trigger: 'blob',
        requestedAt,
      },
    };
  }
  const { chain } = resolved;
  return {
    kind: 'chain',
    instanceId: chainInstanceId(ids),
    input: {
      chain: chain.name,
      environment: resolved.environment.name,
      container: blob.container,
      folder: resolved.folder,
      batchId: resolved.batchId,
      collect: {
        trigger: chain.batch.trigger,
        complete: chain.batch.complete,
        deadline: new Date(now.getTime() + chain.batch.timeoutMinutes * 60_000).toISOString(),
      },
      onPartialSuccess: chain.onPartialSuccess,
      steps: chain.projects.map((name) => {
        const project = getDataProject(config, name);
        return {
          project: project.name,
          definitionGroupId: project.definitionGroupId,
          legalEntity: project.legalEntity,
          execute: project.execute,
          overwrite: project.overwrite,
        };
      }),
      trigger: 'blob',
      requestedAt,
    },
  };
}

/** The names of the files a batch job has taken (from its custom status), if it shows them. */
function takenFiles(customStatus: unknown): string[] {
  const batch = isRecord(customStatus) && isRecord(customStatus.batch) ? customStatus.batch : {};
  return Array.isArray(batch.files) ? batch.files.filter((f): f is string => typeof f === 'string') : [];
}

/** What happened to a delivered file of a batch. */
export type BatchDelivery =
  /** Its batch's job was started by it. */
  | { outcome: 'started'; instanceId: string }
  /** Its batch's job was told (it looks at the folder again). */
  | { outcome: 'notified'; instanceId: string }
  /** The file is one its batch's job has already taken (a late or repeated delivery). */
  | { outcome: 'taken'; instanceId: string }
  /** The batch stopped taking files (complete, or ended) before the file arrived: refused, left in place. */
  | { outcome: 'refused'; instanceId: string; reason: string };

/**
 * Starts the job of the batch a delivered file belongs to, or tells the running one that a file
 * arrived (see the module comment). A started job is listed in the job index at once.
 */
export async function deliverBatchFile(
  runtime: Runtime,
  client: DurableClient,
  resolved: ResolvedBatchPath,
  blob: { container: string; path: string; etag: string },
  options: { now: Date; logger: Logger },
): Promise<BatchDelivery> {
  const planned = plannedBatch(runtime.config, resolved, blob, options.now);
  const { instanceId } = planned;
  const status = await findStatus(client, instanceId);
  if (!status) {
    const orchestrator = planned.kind === 'batch' ? ORCHESTRATORS.importPackage : ORCHESTRATORS.importChain;
    if (
      (await startOnce(client, orchestrator, instanceId, planned.input, { checkFirst: false })) === 'started'
    ) {
      await recordStarted(runtime, planned, options.logger);
      return { outcome: 'started', instanceId };
    }
  }
  const current = status ?? (await findStatus(client, instanceId));
  const custom = isRecord(current?.customStatus) ? current.customStatus : {};
  const collecting = custom.stage === undefined || custom.stage === 'Collecting';
  if (isActive(current) && collecting) {
    await client.raiseEvent(instanceId, IMPORT_EVENTS.batchFile, { name: resolved.fileName });
    return { outcome: 'notified', instanceId };
  }
  if (takenFiles(current?.customStatus).includes(resolved.fileName)) return { outcome: 'taken', instanceId };
  const reason = `"${resolved.fileName}" arrived after batch "${resolved.batchId}" stopped taking files (job ${instanceId}, ${isActive(current) ? 'running' : `finished ${String(current?.runtimeStatus ?? '')}`.trim()}): it is not part of it and was left where it is. Drop a batch's files before its trigger file; to send a batch again, use a new batch id.`;
  await recordRejection(runtime, {
    id: importInstanceId({ source: `${blob.container}/${blob.path}`, version: blob.etag }),
    trigger: 'blob',
    subject: blob.path,
    reason,
    code: BATCH_CLOSED,
    rejectedAt: options.now.toISOString(),
    details: { container: blob.container, etag: blob.etag, jobId: instanceId },
  });
  return { outcome: 'refused', instanceId, reason };
}

/** Lists a just started batch job (Pending, collecting its files) in the job index. */
async function recordStarted(
  runtime: Pick<Runtime, 'jobIndex'>,
  planned: PlannedBatch,
  logger: Logger,
): Promise<void> {
  const base = {
    instanceId: planned.instanceId,
    runtimeStatus: 'Pending',
    input: planned.input,
    createdTime: planned.input.requestedAt,
    lastUpdatedTime: new Date(),
  };
  if (planned.kind === 'batch') {
    await recordJob(
      runtime.jobIndex,
      logger,
      'import',
      {
        ...base,
        customStatus: { stage: 'Collecting', executionId: executionIdFor(planned.instanceId), polls: 0 },
      },
      { insertOnly: true },
    );
    return;
  }
  const customStatus: ParentCustomStatus = {
    stage: 'Collecting',
    children: planned.input.steps.map((s) => ({
      id: chainStepInstanceId(planned.instanceId, s.project),
      status: 'Pending',
      project: s.project,
    })),
  };
  await recordJob(runtime.jobIndex, logger, 'chain', { ...base, customStatus }, { insertOnly: true });
}
