/** What every orchestration reads from its context first. Deterministic: only `context.df.*`. */
import type { OrchestrationContext } from 'durable-functions';
import type { z } from 'zod';

/** An orchestration's input (parsed), its instance id and its replay-safe clock. */
export interface OrchestrationStart<T> {
  input: T;
  instanceId: string;
  /** The orchestration's current time (`currentUtcDateTime`: the same on every replay). */
  now: () => Date;
}

/** Parses the orchestration's input with `schema` (the starter wrote it) and names its instance and clock. */
export function orchestrationStart<S extends z.ZodType>(
  context: OrchestrationContext,
  schema: S,
): OrchestrationStart<z.output<S>> {
  return {
    input: schema.parse(context.df.getInput()),
    instanceId: context.df.instanceId,
    now: () => context.df.currentUtcDateTime,
  };
}
