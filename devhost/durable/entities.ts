/**
 * Durable entities: operations on one entity run one at a time, in order (a chain per entity, forgotten
 * when idle so memory stays flat), each as a one-operation batch through the app's entity function;
 * the new state is saved before the result is reported, and the signals the operation sends go out
 * afterwards.
 */
import { randomUUID } from 'node:crypto';
import type { AppRegistry } from '../core-api.js';
import type { HostClock } from '../clock.js';
import {
  errorText,
  findFunction,
  invokeRegistered,
  triggerBindingName,
  typedDataToJsonText,
} from '../invoke.js';
import type { HostLogger } from '../invoke.js';
import type { DurableStore } from './store.js';
import type { EntityRecord } from './state.js';

/** An operation's outcome as the orchestrator (or nobody, for a signal) receives it. */
export interface EntityOperationResult {
  isError: boolean;
  result: string | undefined;
}

/** Options for {@link DurableEntities}. */
export interface DurableEntitiesOptions {
  registry: AppRegistry;
  clock: HostClock;
  logger: HostLogger;
  store: DurableStore;
  /** Runs a step counted as in-flight work (the scheduler's). */
  work: (fn: () => Promise<void>) => Promise<void>;
}

/** The `@name@key` id the Durable Task framework gives an entity. */
export function entitySchedulerId(name: string, key: string): string {
  return `@${name.toLowerCase()}@${key}`;
}

/** Runs entity operations (one per engine). */
export class DurableEntities {
  readonly #opts: DurableEntitiesOptions;
  readonly #chains = new Map<string, Promise<void>>();

  constructor(options: DurableEntitiesOptions) {
    this.#opts = options;
  }

  /** Reads an entity's state (`undefined` when it does not exist). */
  async read(name: string, key: string): Promise<EntityRecord | undefined> {
    const record = await this.#opts.store.readEntity(entitySchedulerId(name, key));
    return record?.exists ? record : undefined;
  }

  /** Signals an entity (fire and forget). */
  signal(name: string, key: string, op: string, inputJson: string | undefined): void {
    this.run(entitySchedulerId(name, key), op, inputJson, async () => {});
  }

  /** Runs `op` on the entity after its earlier operations; `onResult` gets the outcome. */
  run(
    schedulerId: string,
    op: string,
    inputJson: string | undefined,
    onResult: (r: EntityOperationResult) => Promise<void>,
  ): void {
    const iso = (): string => new Date(this.#opts.clock.now()).toISOString();
    const previous = this.#chains.get(schedulerId) ?? Promise.resolve();
    const run = previous.then(() =>
      this.#opts.work(async () => {
        const at = schedulerId.indexOf('@', 1);
        const name = schedulerId.slice(1, at);
        const key = schedulerId.slice(at + 1);
        const fn = findFunction(this.#opts.registry, name, 'entityTrigger');
        if (!fn) {
          await onResult({
            isError: true,
            result: JSON.stringify(`The entity function '${name}' is not registered in this app.`),
          });
          return;
        }
        const record = (await this.#opts.store.readEntity(schedulerId)) ?? {
          name,
          key,
          exists: false,
          state: null,
          lastModifiedTime: iso(),
        };
        const payload = {
          self: { name, key },
          exists: record.exists,
          state: record.exists ? record.state : null,
          batch: [{ name: op, input: inputJson, isSignal: false, id: randomUUID() }],
        };
        let outcome: EntityOperationResult;
        try {
          const response = await invokeRegistered(
            this.#opts.registry,
            fn,
            {
              inputData: [
                { name: triggerBindingName(fn, 'entityTrigger'), data: { string: JSON.stringify(payload) } },
              ],
            },
            this.#opts.logger,
          );
          const out = JSON.parse(typedDataToJsonText(response.returnValue)) as {
            entityExists: boolean;
            entityState?: string;
            results: { isError: boolean; result?: string }[];
            signals: { target: { name: string; key: string }; name: string; input?: string }[];
          };
          await this.#opts.store.saveEntity(schedulerId, {
            name,
            key,
            exists: out.entityExists,
            state: out.entityExists ? (out.entityState ?? null) : null,
            lastModifiedTime: iso(),
          });
          const r = out.results[0];
          outcome = { isError: r?.isError ?? false, result: r?.result };
          for (const s of out.signals) this.signal(s.target.name, s.target.key, s.name, s.input || undefined);
        } catch (err) {
          outcome = { isError: true, result: JSON.stringify(errorText(err).message) };
        }
        await onResult(outcome);
      }),
    );
    const settled = run.catch(() => {});
    this.#chains.set(schedulerId, settled);
    // Forget idle entities so memory stays flat.
    void settled.then(() => {
      if (this.#chains.get(schedulerId) === settled) this.#chains.delete(schedulerId);
    });
  }
}
