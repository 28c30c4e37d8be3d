/**
 * How the durable engine runs work: each instance's steps one after another (a per-instance chain),
 * everything in flight counted (so a virtual clock knows when the host is idle), activities run
 * through the app's activity functions at most `maxConcurrentActivities` at a time, durable timers
 * armed on the host clock, and a bounded wait for running work when the host stops.
 */
import type { AppRegistry } from '../core-api.js';
import type { HostClock } from '../clock.js';
import type { BindingServices } from '../bindings.js';
import {
  errorText,
  findFunction,
  invokeRegistered,
  triggerBindingName,
  typedDataToJsonText,
} from '../invoke.js';
import type { HostLogger } from '../invoke.js';
import { EventType } from './replay.js';
import type { HistoryEvent, InstanceState, TaskRecord } from './state.js';

/** How long stop() waits for running handlers. */
const STOP_DRAIN_MS = 10_000;

/** An instance the engine holds in memory (not terminal, or still owing entity signals). */
export interface LiveInstance {
  state: InstanceState;
  chain: Promise<void>;
  episodeQueued: boolean;
  timers: Map<number, () => void>;
  /** Bumped on terminate/purge/restart so late completions of old work are dropped. */
  generation: number;
}

/** Options for {@link DurableScheduler}. */
export interface DurableSchedulerOptions {
  registry: AppRegistry;
  clock: HostClock;
  logger: HostLogger;
  /** Activities running at once. Default 10. */
  maxConcurrentActivities?: number;
  /** Extra inputs (durable client) and outputs of activities, once the host has them. */
  bindings: () => BindingServices | undefined;
}

/** Runs the engine's work (one per engine). */
export class DurableScheduler {
  readonly #opts: DurableSchedulerOptions;
  #inFlight = 0;
  readonly #running = new Set<Promise<unknown>>();
  #activityRunning = 0;
  readonly #activityQueue: (() => void)[] = [];
  /** Activities started since the engine started. */
  activities = 0;
  /** Set by {@link stop}: nothing new starts. */
  stopped = false;

  constructor(options: DurableSchedulerOptions) {
    this.#opts = options;
  }

  /** A new in-memory holder for an instance's state. */
  adopt(state: InstanceState): LiveInstance {
    return { state, chain: Promise.resolve(), episodeQueued: false, timers: new Map(), generation: 0 };
  }

  /** True when no episode, activity or entity operation is running or queued. */
  isIdle(): boolean {
    return this.#inFlight === 0;
  }

  /** Runs `fn` counted as in flight; when the last work ends, the clock hears the host is idle. */
  work<T>(fn: () => Promise<T>): Promise<T> {
    this.#inFlight++;
    const run = fn();
    this.#running.add(run);
    return run.finally(() => {
      this.#running.delete(run);
      this.#inFlight--;
      if (this.#inFlight === 0 && !this.stopped) this.#opts.clock.onIdle?.(() => this.isIdle());
    });
  }

  /** Runs `fn` after the instance's earlier steps (an error is logged and does not stop the chain). */
  enqueue(live: LiveInstance, fn: () => Promise<void>): Promise<void> {
    const run = live.chain.then(() => (this.stopped ? undefined : this.work(fn)));
    live.chain = run.catch((err: unknown) => {
      this.#opts.logger(
        'error',
        'system',
        live.state.name,
        `durable engine error: ${errorText(err).details}`,
      );
    });
    return run;
  }

  /** Arms a durable timer on the host clock; `fire` runs at `fireAt`. Returns its cancel function. */
  setTimer(fireAt: string, fire: () => void): () => void {
    return this.#opts.clock.setTimer(new Date(fireAt).getTime(), fire, { wakesIdleHost: true });
  }

  /**
   * Runs an activity (queued while `maxConcurrentActivities` run) and reports its TaskCompleted or
   * TaskFailed event.
   */
  runActivity(task: TaskRecord & { kind: 'activity' }, report: (event: HistoryEvent) => Promise<void>): void {
    const start = (): void => {
      this.#activityRunning++;
      this.activities++;
      void this.work(async () => {
        let event: HistoryEvent;
        const ts = (): string => new Date(this.#opts.clock.now()).toISOString();
        const fn = findFunction(this.#opts.registry, task.name, 'activityTrigger');
        try {
          if (!fn) throw new Error(`The activity function '${task.name}' is not registered in this app.`);
          const bindings = this.#opts.bindings();
          const response = await invokeRegistered(
            this.#opts.registry,
            fn,
            {
              inputData: [
                {
                  name: triggerBindingName(fn, 'activityTrigger'),
                  data: task.inputJson === undefined ? undefined : { string: task.inputJson },
                },
                ...(bindings?.extraInputs(fn) ?? []),
              ],
            },
            this.#opts.logger,
          );
          await this.#opts.bindings()?.applyOutputs(fn, response.outputData ?? []);
          event = {
            EventType: EventType.TaskCompleted,
            EventId: -1,
            IsPlayed: false,
            Timestamp: ts(),
            TaskScheduledId: task.id,
            Result: typedDataToJsonText(response.returnValue),
          };
        } catch (err) {
          const { message, details } = errorText(err);
          event = {
            EventType: EventType.TaskFailed,
            EventId: -1,
            IsPlayed: false,
            Timestamp: ts(),
            TaskScheduledId: task.id,
            Reason: `Activity function '${task.name}' failed: ${message}`,
            Details: details,
          };
        }
        await report(event);
      }).finally(() => {
        this.#activityRunning--;
        this.#activityQueue.shift()?.();
      });
    };
    if (this.#activityRunning < (this.#opts.maxConcurrentActivities ?? 10)) start();
    else this.#activityQueue.push(start);
  }

  /**
   * Stops starting work and cancels `live`'s timers; waits (bounded) for running handlers. What
   * they report after this is dropped and redone on the next start, exactly as after a crash.
   */
  async stop(live: Iterable<LiveInstance>): Promise<void> {
    this.stopped = true;
    const chains: Promise<void>[] = [];
    for (const instance of live) {
      for (const cancel of instance.timers.values()) cancel();
      instance.timers.clear();
      chains.push(instance.chain);
    }
    const drained = Promise.allSettled([...this.#running, ...chains]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise((resolve) => (timer = setTimeout(resolve, STOP_DRAIN_MS)))]);
    clearTimeout(timer);
  }
}
