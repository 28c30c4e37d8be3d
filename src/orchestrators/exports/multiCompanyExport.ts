/**
 * The `multiCompanyExport` orchestration: one export data project for several legal entities. One
 * export per company — a child job of its own (`exportPackage` as a sub-orchestration, its id
 * derived from the group's), stored under its company's folder — one after the other (F&O runs
 * one export of a data project at a time), each whatever the others' outcomes; the group's result
 * lists each company's status and package. Deterministic: only `context.df.*`.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import { MULTI_COMPANY_EXPORT_ACTIVITIES } from '../../activities/exports/index.js';
import { ORCHESTRATORS } from '../../shared/app/names.js';
import {
  companyExportInstanceId,
  groupOutcome,
  MultiCompanyExportInputSchema,
  type ChildJob,
  type ExportInput,
  type ExportResult,
  type JobError,
  type ParentCustomStatus,
  type ParentResult,
} from '../../shared/jobs/index.js';
import { errorMessage } from '../../shared/util.js';
import { callActivity, callOrchestration, subOrchestration } from '../common/call.js';
import { customStatus } from '../common/status.js';

/** One company's export, run as a child job. */
const companyExport = subOrchestration<ExportInput, ExportResult>(ORCHESTRATORS.exportPackage);

/** The orchestrator function. */
export function* multiCompanyExportOrchestrator(
  context: OrchestrationContext,
): Generator<Task, ParentResult, unknown> {
  const input = MultiCompanyExportInputSchema.parse(context.df.getInput());
  const instanceId = context.df.instanceId;
  const children: ChildJob[] = input.legalEntities.map((legalEntity) => ({
    id: companyExportInstanceId(instanceId, legalEntity),
    status: 'Pending',
    legalEntity,
  }));
  const { publish } = customStatus<ParentCustomStatus>(context, { stage: 'Running', children });
  const showChildren = (): void => publish({ children: children.map((c) => ({ ...c })) });
  const errors: JobError[] = [];

  for (const child of children) {
    const legalEntity = child.legalEntity!;
    child.status = 'Running';
    showChildren();
    try {
      const result = yield* callOrchestration(
        context,
        companyExport,
        {
          environment: input.environment,
          project: input.project,
          definitionGroupId: input.definitionGroupId,
          legalEntity,
          packageName: input.packageName,
          reExecute: input.reExecute,
          unpack: input.unpack,
          polling: input.polling,
          trigger: input.trigger,
          ...(input.correlationId ? { correlationId: input.correlationId } : {}),
          // the group's request time: every company's package lands in the same dated folder
          requestedAt: input.requestedAt,
          ...(input.scheduledFor ? { scheduledFor: input.scheduledFor } : {}),
          legalEntityFolder: true,
          parentId: instanceId,
        },
        child.id,
      );
      child.status = result.status;
      child.errorCount = result.errors.length;
      if (result.package) child.package = result.package;
    } catch (error) {
      child.status = 'Failed';
      errors.push({
        code: 'COMPANY_EXPORT_FAILED',
        message: `The export of legal entity ${legalEntity} (job ${child.id}) failed: ${errorMessage(error)}`,
      });
    }
  }
  showChildren();
  const outcome = groupOutcome(children);
  const failed = children.filter((c) => c.status !== 'Succeeded' && c.status !== 'PartiallySucceeded');
  if (failed.length > 0) {
    errors.push({
      code: 'COMPANY_EXPORTS_FAILED',
      message: `No package for ${failed.map((c) => `${c.legalEntity} (${c.status}, job ${c.id})`).join(', ')}: see each company's job.`,
    });
  }
  publish({ stage: 'Finishing' });
  const final = yield* callActivity(
    context,
    MULTI_COMPANY_EXPORT_ACTIVITIES.finish,
    {
      id: instanceId,
      kind: 'multiCompanyExport',
      status: outcome,
      environment: input.environment,
      project: input.project,
      children,
      errors,
      trigger: input.trigger,
      ...(input.correlationId ? { correlationId: input.correlationId } : {}),
      timings: { requestedAt: input.requestedAt, finishedAt: context.df.currentUtcDateTime.toISOString() },
      legalEntities: input.legalEntities,
      ...(input.scheduledFor ? { scheduledFor: input.scheduledFor } : {}),
    },
    { attempts: 5, firstMs: 5_000 },
  );
  publish({ stage: 'Done' });
  return final;
}
