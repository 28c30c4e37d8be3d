/**
 * The learned duration history: per data project (or recurring activity), the durations of its last
 * executions with the size of what each processed (when known), kept by a durable entity. Polls are
 * planned from it (`nextPollDelayMs` scales the durations to the size of the run at hand), and a
 * finished execution adds its estimated duration and size.
 */
import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { z } from 'zod';
import { ENTITIES } from '../../shared/app/names.js';
import { estimatedDurationMs, type DurationSample } from '../../shared/polling/schedule.js';

/** Earlier durations kept per data project. */
export const HISTORY_LENGTH = 10;

/** Entity key of a data project's duration history (`{environment}:{project}`). */
export function historyKey(environment: string, project: string): string {
  return `${environment}:${project}`;
}

/**
 * Entity key of an environment's duration history of one kind of execution, all its data projects
 * together (`{environment}:*import`, `{environment}:*export`): the prior of a project with too short a
 * history of its own. No data project's key can equal it (a project name starts with a letter or digit).
 */
export function environmentHistoryKey(environment: string, kind: 'import' | 'export'): string {
  return `${environment}:*${kind}`;
}

/** What `add` takes: a sample, or a bare duration (ms) as orchestrations of earlier versions send it. */
const AddInputSchema = z.union([
  z.number().positive(),
  z.object({ ms: z.number().positive(), size: z.number().positive().optional() }),
]);

/**
 * Registers the history entity: `add` (a sample, newest first; a bare duration is kept as it is),
 * `get` (the samples, newest first: entries of earlier versions are bare durations).
 */
export function registerHistoryEntity(): void {
  df.app.entity<(number | DurationSample)[]>(ENTITIES.history, (context) => {
    const samples = context.df.getState(() => []) ?? [];
    switch (context.df.operationName) {
      case 'add': {
        const sample = AddInputSchema.parse(context.df.getInput());
        context.df.setState([sample, ...samples].slice(0, HISTORY_LENGTH));
        break;
      }
      case 'get':
        context.df.return(samples);
        break;
      default:
        throw new Error(`${ENTITIES.history}: unknown operation ${String(context.df.operationName)}`);
    }
  });
}

/** The samples of the history under `key`, newest first (bare durations from earlier versions included). */
export function* readHistory(
  context: OrchestrationContext,
  key: string,
): Generator<Task, (number | DurationSample)[], unknown> {
  return (yield context.df.callEntity(new df.EntityId(ENTITIES.history, key), 'get')) as (
    number | DurationSample
  )[];
}

/**
 * Adds a finished execution to the histories under `keys` (signals: nothing to wait for). Its
 * duration is estimated from the last poll that found it unfinished and the one that found it done;
 * `size` (when known) is what it processed.
 */
export function learnDuration(
  context: OrchestrationContext,
  keys: readonly string[],
  polled: { lastUnfinishedMs: number; finishedMs: number; size?: number },
): void {
  const ms = estimatedDurationMs(polled);
  // without a size, the bare duration as before (the signal of earlier versions, unchanged)
  const sample: number | DurationSample =
    polled.size !== undefined && polled.size > 0 ? { ms, size: polled.size } : ms;
  for (const key of keys) context.df.signalEntity(new df.EntityId(ENTITIES.history, key), 'add', sample);
}
