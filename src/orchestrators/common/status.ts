/** The custom status of an orchestration (where it is, for people and the job API). */
import type { OrchestrationContext } from 'durable-functions';

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
