/**
 * The learned duration history: per data project (or recurring activity), the durations of its last
 * executions, kept by a durable entity. Polls are planned from it (`nextPollDelayMs`), and a
 * finished execution adds its estimated duration.
 */
import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { z } from 'zod';
import { ENTITIES } from '../../shared/app/names.js';
import { estimatedDurationMs } from '../../shared/polling/schedule.js';

/** Earlier durations kept per data project. */
export const HISTORY_LENGTH = 10;

/** Entity key of a data project's duration history (`{environment}:{project}`). */
export function historyKey(environment: string, project: string): string {
  return `${environment}:${project}`;
}

/** Registers the history entity: `add` (a duration in ms, newest first), `get`. */
export function registerHistoryEntity(): void {
  df.app.entity<number[]>(ENTITIES.history, (context) => {
    const durations = context.df.getState(() => []) ?? [];
    switch (context.df.operationName) {
      case 'add': {
        const ms = z.number().positive().parse(context.df.getInput());
        context.df.setState([ms, ...durations].slice(0, HISTORY_LENGTH));
        break;
      }
      case 'get':
        context.df.return(durations);
        break;
      default:
        throw new Error(`${ENTITIES.history}: unknown operation ${String(context.df.operationName)}`);
    }
  });
}

/** The durations of the history under `key`, newest first. */
export function* readHistory(context: OrchestrationContext, key: string): Generator<Task, number[], unknown> {
  return (yield context.df.callEntity(new df.EntityId(ENTITIES.history, key), 'get')) as number[];
}

/**
 * Adds a finished execution to the history under `key` (a signal: nothing to wait for). Its
 * duration is estimated from the last poll that found it unfinished and the one that found it done.
 */
export function learnDuration(
  context: OrchestrationContext,
  key: string,
  polled: { lastUnfinishedMs: number; finishedMs: number },
): void {
  context.df.signalEntity(new df.EntityId(ENTITIES.history, key), 'add', estimatedDurationMs(polled));
}
