/**
 * The `importChain` orchestration: one batch of files through an ordered chain of import data
 * projects. Collect the batch (as a batch import does), then run one import per project — a child
 * job of its own (`importPackage` as a sub-orchestration, its id derived from the chain's) with the
 * batch files its entities take — each after the previous one succeeded; a project ending
 * PartiallySucceeded stops the chain or not, as configured. Deterministic: only `context.df.*`.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import { CHAIN_ACTIVITIES } from '../../activities/chains/index.js';
import { ORCHESTRATORS } from '../../shared/app/names.js';
import {
  chainStepInstanceId,
  ChainInputSchema,
  groupOutcome,
  type BlobRef,
  type ChildJob,
  type ImportInput,
  type ImportResult,
  type JobError,
  type JobOutcome,
  type ParentCustomStatus,
  type ParentResult,
} from '../../shared/jobs/index.js';
import { errorMessage } from '../../shared/util.js';
import { batchErrors, collectBatch } from '../common/batches.js';
import { callActivity, callOrchestration, subOrchestration } from '../common/call.js';
import { customStatus } from '../common/status.js';

/** A chain's step: the import orchestration, run as a child job. */
const importStep = subOrchestration<ImportInput, ImportResult>(ORCHESTRATORS.importPackage);

/** The orchestrator function. */
export function* importChainOrchestrator(
  context: OrchestrationContext,
): Generator<Task, ParentResult, unknown> {
  const input = ChainInputSchema.parse(context.df.getInput());
  const instanceId = context.df.instanceId;
  const now = (): Date => context.df.currentUtcDateTime;
  const children: ChildJob[] = input.steps.map((s) => ({
    id: chainStepInstanceId(instanceId, s.project),
    status: 'Pending',
    project: s.project,
  }));
  const { publish } = customStatus<ParentCustomStatus>(context, { stage: 'Collecting', children });
  const showChildren = (): void => publish({ children: children.map((c) => ({ ...c })) });
  const errors: JobError[] = [];
  const timings: ParentResult['timings'] = { requestedAt: input.requestedAt, finishedAt: '' };

  function* finish(outcome: JobOutcome, leftovers: BlobRef[]): Generator<Task, ParentResult, unknown> {
    publish({ stage: 'Finishing' });
    timings.finishedAt = now().toISOString();
    const result: ParentResult = {
      id: instanceId,
      kind: 'chain',
      status: outcome,
      environment: input.environment,
      project: input.chain,
      children,
      errors,
      trigger: input.trigger,
      timings,
      ...(batch ? { batch } : {}),
    };
    const final = yield* callActivity(
      context,
      CHAIN_ACTIVITIES.finish,
      { result, folder: input.folder, leftovers },
      { attempts: 5, firstMs: 5_000 },
    );
    publish({ stage: 'Done' });
    return final;
  }

  // a) the batch: complete with its trigger file and a file for every required entity of every
  // project, or Failed at its deadline with its files left where they are
  const collected = yield* collectBatch(context, {
    batchId: input.batchId,
    collect: input.collect,
    check: {
      instanceId,
      container: input.container,
      folder: input.folder,
      owner: { kind: 'chain', projects: input.steps.map((s) => s.project) },
    },
    onProgress: (progress) => publish({ batch: progress }),
  });
  const { check } = collected;
  const batch: ParentResult['batch'] = {
    id: input.batchId,
    folder: input.folder,
    files: check.files.map((f) => ({
      name: f.name,
      ...(f.entity ? { entity: f.entity } : {}),
      ...(f.project ? { project: f.project } : {}),
    })),
  };
  if (collected.outcome !== 'ready') {
    errors.push(...batchErrors(collected, input.collect));
    for (const child of children) child.status = 'Skipped';
    return yield* finish(collected.outcome === 'canceled' ? 'Canceled' : 'Failed', []);
  }
  timings.collectedAt = now().toISOString();

  // b) one import per project, in order; each waits for the previous one's outcome
  publish({ stage: 'Running' });
  const leftovers: BlobRef[] = check.triggerFile
    ? [{ container: input.container, path: check.triggerFile.path }]
    : [];
  let stopped = false;
  for (const [i, step] of input.steps.entries()) {
    const child = children[i]!;
    const files = check.files
      .filter((f) => f.project === step.project)
      .map(({ project: _project, ...file }) => file);
    if (stopped || files.length === 0) {
      // a step never run keeps nothing of the batch: its files are archived with the chain's
      child.status = 'Skipped';
      leftovers.push(...files.map((f) => ({ container: input.container, path: f.path })));
      continue;
    }
    child.status = 'Running';
    child.files = files.map((f) => f.name);
    showChildren();
    let outcome: ImportResult['status'];
    try {
      const result = yield* callOrchestration(
        context,
        importStep,
        {
          source: {
            kind: 'batch',
            container: input.container,
            folder: input.folder,
            batchId: input.batchId,
            files,
          },
          logicalPath: input.folder,
          fileName: input.batchId,
          environment: input.environment,
          project: step.project,
          definitionGroupId: step.definitionGroupId,
          legalEntity: step.legalEntity,
          execute: step.execute,
          overwrite: step.overwrite,
          trigger: input.trigger,
          requestedAt: now().toISOString(),
          parentId: instanceId,
        },
        child.id,
      );
      outcome = result.status;
      child.errorCount = result.errors.length;
    } catch (error) {
      outcome = 'Failed';
      errors.push({
        code: 'CHAIN_STEP_FAILED',
        message: `The import of project "${step.project}" (job ${child.id}) failed: ${errorMessage(error)}`,
      });
    }
    child.status = outcome;
    showChildren();
    const goOn =
      outcome === 'Succeeded' || (outcome === 'PartiallySucceeded' && input.onPartialSuccess === 'continue');
    if (!goOn) {
      stopped = true;
      const rest = input.steps.slice(i + 1).map((s) => `"${s.project}"`);
      errors.push({
        code: 'CHAIN_STOPPED',
        message: `The chain stopped at project "${step.project}" (job ${child.id}), which ended ${outcome}${
          outcome === 'PartiallySucceeded' ? ' (the chain says "onPartialSuccess": "stop")' : ''
        }${rest.length > 0 ? `: ${rest.join(', ')} did not run` : ''}.`,
      });
    }
  }
  showChildren();
  return yield* finish(stopped ? 'Failed' : groupOutcome(children), leftovers);
}
