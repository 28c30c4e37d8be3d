/**
 * Activity descriptors: one object per activity holds its durable name, the zod schema of its input
 * and its handler. Orchestrators call an activity through its descriptor (`callActivity` in
 * src/orchestrators/common/call.ts), so the input is typed by the schema and the result by the
 * handler: the contract is written once. Importing a descriptor registers nothing:
 * {@link registerActivities} does, once, from the app's entry (tests register stand-ins instead).
 */
import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { z } from 'zod';
import type { Logger } from '../log/index.js';
import { isRecord } from '../util.js';
import { getRuntime, invocationLogger, type Runtime } from './runtime.js';

/** What a handler gets besides its input. */
export interface ActivityTools {
  /** The worker's shared services (created on first use). */
  readonly runtime: Runtime;
  /** A redacting logger bound to the invocation (and to the descriptor's `log` bindings). */
  readonly logger: Logger;
  readonly context: InvocationContext;
}

/** One activity: durable name, input schema, handler. */
export interface ActivityDescriptor<S extends z.ZodType = z.ZodType, R = unknown> {
  /** The durable name: it is in orchestration history, so it never changes. */
  readonly name: string;
  /** Schema of the input, parsed before the handler runs. */
  readonly input: S;
  /** The activity reads `df.getClient(context)` (declares the durable client binding). */
  readonly durableClient?: boolean;
  /** Bindings of the handler's log lines, taken from its input. */
  log?(input: z.output<S>): Record<string, unknown>;
  handler(input: z.output<S>, tools: ActivityTools): Promise<R>;
}

/** Declares an activity (identity: the point is the inferred types). */
export function defineActivity<S extends z.ZodType, R>(
  descriptor: ActivityDescriptor<S, R>,
): ActivityDescriptor<S, R> {
  return descriptor;
}

/**
 * Schema of an input only our own orchestrator writes (a result it built from earlier activity
 * results): checked for being an object, typed as `T`, passed on as it is.
 */
export function ownValue<T>(what: string): z.ZodType<T> {
  return z.custom<T>((value) => isRecord(value), { message: `expected ${what}` });
}

/** Registers each activity with the Functions host: input parsed, then the handler. */
export function registerActivities(activities: readonly ActivityDescriptor[]): void {
  for (const activity of activities) {
    df.app.activity(activity.name, {
      ...(activity.durableClient ? { extraInputs: [df.input.durableClient()] } : {}),
      handler: async (raw: unknown, context: InvocationContext) => {
        const input: unknown = activity.input.parse(raw);
        const logger = invocationLogger(context, activity.log?.(input) ?? {});
        return activity.handler(input, {
          get runtime() {
            return getRuntime();
          },
          logger,
          context,
        });
      },
    });
  }
}
