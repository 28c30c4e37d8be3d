/** The custom status of an orchestration (where it is, for people and the job API). */
import type { OrchestrationContext } from 'durable-functions';
import type { ChildJob, ParentCustomStatus } from '../../shared/jobs/index.js';

/**
 * Starts the custom status at `initial` (published at once) and returns it with `publish`, which
 * applies a patch and publishes the whole status again.
 */
export function customStatus<S extends object>(
  context: OrchestrationContext,
  initial: S,
): { status: S; publish: (patch: Partial<S>) => void } {
  const status = { ...initial };
  const publish = (patch: Partial<S>): void => {
    Object.assign(status, patch);
    context.df.setCustomStatus({ ...status });
  };
  publish({});
  return { status, publish };
}

/**
 * The custom status of a job made of jobs (a chain, a multi-company export), started at `stage`:
 * `publish` as {@link customStatus}, and `showChildren`, which publishes the children as they are now.
 */
export function parentStatus(
  context: OrchestrationContext,
  stage: ParentCustomStatus['stage'],
  children: ChildJob[],
): { publish: (patch: Partial<ParentCustomStatus>) => void; showChildren: () => void } {
  const { publish } = customStatus<ParentCustomStatus>(context, { stage, children });
  return { publish, showChildren: () => publish({ children: children.map((c) => ({ ...c })) }) };
}
