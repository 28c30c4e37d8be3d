/**
 * The local Durable Task engine: the client operations (start, status, query, raise event,
 * terminate, purge, wait), the lifecycle of an orchestration (deliver an event, run an episode,
 * commit it, finish or continue as new, report to a parent) and dispatching outstanding tasks.
 * Its parts: replay.ts (what an episode means), scheduler.ts (running work), entities.ts (entity
 * operations), store.ts (persistence) and state.ts (the shapes). The order is always *persist,
 * then act*: nothing is dispatched or shown before the state that implies it is saved.
 */
import { randomUUID } from 'node:crypto';
import type { AppRegistry } from '../core-api.js';
import type { HostClock } from '../clock.js';
import { errorText, findFunction } from '../invoke.js';
import type { HostLogger } from '../invoke.js';
import type { BindingServices } from '../bindings.js';
import { DurableEntities } from './entities.js';
import {
  dropCancelledTimers,
  episodeBatch,
  EventType,
  executionStarted,
  planEpisode,
  runOrchestrator,
  shownEvents,
  type RawAction,
} from './replay.js';
import { DurableScheduler, type LiveInstance } from './scheduler.js';
import {
  TERMINAL,
  toStatus,
  type EntityRecord,
  type HistoryEvent,
  type InstanceState,
  type InstanceStatus,
  type RuntimeStatus,
  type TaskRecord,
} from './state.js';
import { DurableStore } from './store.js';

export { ActionType, EventType, retryDelayMs, UPPER_SCHEMA_VERSION } from './replay.js';
export type { InstanceStatus } from './state.js';

/** Options for {@link DurableEngine}. */
export interface DurableEngineOptions {
  registry: AppRegistry;
  clock: HostClock;
  dataDir: string;
  taskHub: string;
  logger: HostLogger;
  /** Activities running at once (host.json durableTask.maxConcurrentActivityFunctions). Default 10. */
  maxConcurrentActivities?: number;
  /**
   * Where durable state lives: `files` (default) under `dataDir`, or `memory` (nothing survives the
   * process; benchmarks measure the engine without a filesystem with it).
   */
  store?: 'files' | 'memory';
}

/** Whether the extension would accept `id` as an instance id. */
export function isValidInstanceId(id: string): boolean {
  if (id === '' || id.length > 256 || /[/\\#?]/.test(id)) return false;
  return ![...id].some((c) => {
    const code = c.charCodeAt(0);
    return code < 0x20 || (code >= 0x7f && code <= 0x9f);
  });
}

/** Raised for an instance id the extension rejects (empty, over 256 characters, or containing / \\ # ? or control characters). */
export class InvalidInstanceIdError extends Error {
  constructor(instanceId: string) {
    super(
      `Instance ID '${instanceId}' is invalid: it must be 1-256 characters without '/', '\\', '#', '?' or control characters.`,
    );
    this.name = 'InvalidInstanceIdError';
  }
}

/** Raised when startNew targets an instance id that is still running (HTTP 409). */
export class InstanceExistsError extends Error {
  constructor(instanceId: string, status: RuntimeStatus) {
    super(`An orchestration instance with ID '${instanceId}' already exists with status ${status}.`);
    this.name = 'InstanceExistsError';
  }
}

/**
 * The local Durable Task engine: keeps every orchestration's history, calls the app's registered
 * orchestrator with the out-of-proc trigger payload (durable-functions' own replay does the rest),
 * turns new actions into work, and persists state before acting on it.
 */
export class DurableEngine {
  readonly store: DurableStore;
  readonly #opts: DurableEngineOptions;
  readonly #live = new Map<string, LiveInstance>();
  readonly #waiters = new Map<string, ((s: InstanceStatus) => void)[]>();
  readonly #scheduler: DurableScheduler;
  readonly #entities: DurableEntities;
  /** Extra inputs (durable client) and outputs of activities; set by the host once it listens. */
  bindings: BindingServices | undefined;
  #episodes = 0;

  constructor(options: DurableEngineOptions) {
    this.#opts = options;
    this.store =
      options.store === 'memory'
        ? DurableStore.inMemory()
        : DurableStore.inFolder(options.dataDir, options.taskHub);
    this.#scheduler = new DurableScheduler({
      registry: options.registry,
      clock: options.clock,
      logger: options.logger,
      maxConcurrentActivities: options.maxConcurrentActivities,
      bindings: () => this.bindings,
    });
    this.#entities = new DurableEntities({
      registry: options.registry,
      clock: options.clock,
      logger: options.logger,
      store: this.store,
      work: (fn) => this.#scheduler.work(fn),
    });
  }

  /** Task hub name (host.json extensions.durableTask.hubName). */
  get taskHub(): string {
    return this.#opts.taskHub;
  }

  /** Loads persisted instances and resumes every non-terminal one where it stopped. */
  async start(): Promise<void> {
    await this.store.init();
    const all = await this.store.listInstances();
    const byId = new Map(all.map((s) => [s.instanceId, s]));
    for (const state of all) {
      const terminal = TERMINAL.includes(state.runtimeStatus);
      // A finished instance may still owe the entity signals of its last episode.
      if (terminal && Object.keys(state.tasks).length === 0) continue;
      const live = this.#adopt(state);
      void this.#scheduler.enqueue(live, async () => {
        for (const task of Object.values(state.tasks)) {
          if (terminal && task.kind !== 'entitySignal') continue;
          if (task.kind === 'subOrchestration') {
            const child = byId.get(task.instanceId);
            if (child && TERMINAL.includes(child.runtimeStatus)) {
              await this.#deliverChildResult(live, task, child);
              continue;
            }
            if (child) continue; // resumes on its own
          }
          this.#dispatch(live, task, byId);
        }
        if (state.inbox.length > 0) this.#scheduleEpisode(live);
      });
    }
  }

  /** Stops dispatching work; in-flight handlers finish in the background. */
  async stop(): Promise<void> {
    await this.#scheduler.stop(this.#live.values());
    await this.store.close();
  }

  /** Counters since start: orchestrator episodes run, activities run, instances held in memory. */
  stats(): { episodes: number; activities: number; liveInstances: number } {
    return {
      episodes: this.#episodes,
      activities: this.#scheduler.activities,
      liveInstances: this.#live.size,
    };
  }

  /** True when no episode, activity or entity operation is running or queued. */
  isIdle(): boolean {
    return this.#scheduler.isIdle();
  }

  #adopt(state: InstanceState): LiveInstance {
    const live = this.#scheduler.adopt(state);
    this.#live.set(state.instanceId, live);
    return live;
  }

  #iso(): string {
    return new Date(this.#opts.clock.now()).toISOString();
  }

  // ---------------------------------------------------------------- client operations

  /**
   * Starts an orchestration. An existing instance id that is Pending/Running is rejected with
   * {@link InstanceExistsError} (the extension answers 409 Conflict); a terminal one is replaced.
   */
  async startNew(
    name: string,
    options: { instanceId?: string; input?: unknown; parent?: InstanceState['parent'] } = {},
  ): Promise<string> {
    const fn = findFunction(this.#opts.registry, name, 'orchestrationTrigger');
    if (!fn)
      throw new Error(
        `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`,
      );
    const instanceId = options.instanceId ?? randomUUID().replace(/-/g, '');
    if (!isValidInstanceId(instanceId)) throw new InvalidInstanceIdError(instanceId);
    const stored = this.#live.has(instanceId) ? undefined : await this.store.readInstance(instanceId);
    // Looked up again after the read: another start of the same id may have come in meanwhile.
    const existing = this.#live.get(instanceId)?.state ?? stored;
    if (existing && !TERMINAL.includes(existing.runtimeStatus)) {
      throw new InstanceExistsError(instanceId, existing.runtimeStatus);
    }
    const old = this.#live.get(instanceId);
    if (old) this.#retire(old);
    const now = this.#iso();
    const state: InstanceState = {
      instanceId,
      name: fn.metadata.name,
      input: options.input === undefined ? null : options.input,
      runtimeStatus: 'Pending',
      createdTime: now,
      lastUpdatedTime: now,
      output: null,
      customStatus: null,
      parent: options.parent,
      history: [],
      inbox: [executionStarted(fn.metadata.name, options.input, options.parent, this.#iso())],
      nextSeq: 0,
      leaves: [],
      leafTaskIds: [],
      tasks: {},
    };
    const live = this.#adopt(state);
    await this.#scheduler.enqueue(live, async () => {
      await this.store.saveInstance(state);
      this.#scheduleEpisode(live);
    });
    return instanceId;
  }

  /** Current status, or undefined when the instance does not exist. */
  async getStatus(
    instanceId: string,
    options: { showHistory?: boolean; showInput?: boolean } = {},
  ): Promise<InstanceStatus | undefined> {
    const live = this.#live.get(instanceId);
    if (live) return toStatus(live.state, options);
    const stored = await this.store.readInstance(instanceId);
    // It may have been started while the file was read.
    const state = this.#live.get(instanceId)?.state ?? stored;
    return state ? toStatus(state, options) : undefined;
  }

  /** Statuses of all instances matching the filter. */
  async queryStatuses(filter: {
    runtimeStatus?: string[];
    createdTimeFrom?: Date;
    createdTimeTo?: Date;
    showInput?: boolean;
  }): Promise<InstanceStatus[]> {
    const stored = await this.store.listInstances();
    const states = new Map(stored.map((s) => [s.instanceId, s]));
    for (const [id, live] of this.#live) states.set(id, live.state);
    return [...states.values()]
      .filter((s) => !filter.runtimeStatus?.length || filter.runtimeStatus.includes(s.runtimeStatus))
      .filter((s) => !filter.createdTimeFrom || new Date(s.createdTime) >= filter.createdTimeFrom)
      .filter((s) => !filter.createdTimeTo || new Date(s.createdTime) <= filter.createdTimeTo)
      .sort((a, b) => a.createdTime.localeCompare(b.createdTime))
      .map((s) => toStatus(s, { showInput: filter.showInput }));
  }

  /** Delivers an external event. Returns 'notFound' or 'gone' (terminal) when it cannot. */
  async raiseEvent(
    instanceId: string,
    eventName: string,
    inputJson: string | undefined,
  ): Promise<'ok' | 'notFound' | 'gone'> {
    const live = this.#live.get(instanceId);
    if (!live) return (await this.store.readInstance(instanceId)) ? 'gone' : 'notFound';
    const event: HistoryEvent = {
      EventType: EventType.EventRaised,
      EventId: -1,
      IsPlayed: false,
      Timestamp: this.#iso(),
      Name: eventName,
      Input: inputJson === undefined || inputJson === '' ? null : inputJson,
    };
    await this.#deliver(live, event, undefined);
    return 'ok';
  }

  /** Terminates a running instance. */
  async terminate(instanceId: string, reason: string): Promise<'ok' | 'notFound' | 'gone'> {
    const live = this.#live.get(instanceId);
    if (!live) return (await this.store.readInstance(instanceId)) ? 'gone' : 'notFound';
    await this.#scheduler.enqueue(live, async () => {
      if (TERMINAL.includes(live.state.runtimeStatus)) return;
      live.state.history.push({
        EventType: EventType.ExecutionTerminated,
        EventId: -1,
        IsPlayed: true,
        Timestamp: this.#iso(),
        Input: reason,
      });
      await this.#finish(live, 'Terminated', reason);
    });
    return 'ok';
  }

  /** Deletes an instance's state. Returns how many instances were deleted (0 or 1). */
  async purge(instanceId: string): Promise<number> {
    const live = this.#live.get(instanceId);
    if (live) this.#retire(live);
    return (await this.store.deleteInstance(instanceId)) ? 1 : 0;
  }

  /** Resolves with the final status once the instance is Completed, Failed or Terminated. */
  waitForCompletion(instanceId: string, timeoutMs = 30_000): Promise<InstanceStatus> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const unlisten = (): void => {
        const rest = (this.#waiters.get(instanceId) ?? []).filter((w) => w !== waiter);
        if (rest.length > 0) this.#waiters.set(instanceId, rest);
        else this.#waiters.delete(instanceId);
      };
      const waiter = (s: InstanceStatus): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        unlisten();
        resolve(s);
      };
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        unlisten();
        void this.getStatus(instanceId).then(
          (s) =>
            reject(
              new Error(
                `Instance ${instanceId} did not complete within ${timeoutMs} ms (status ${s?.runtimeStatus ?? 'none'}).`,
              ),
            ),
          reject,
        );
      }, timeoutMs);
      // Listening first, then looking: a finish in between is heard either way.
      this.#waiters.set(instanceId, [...(this.#waiters.get(instanceId) ?? []), waiter]);
      void this.getStatus(instanceId).then((s) => {
        if (s && TERMINAL.includes(s.runtimeStatus)) waiter(s);
      }, reject);
    });
  }

  /** Drops `live` from memory unless a newer run of the same id replaced it. */
  #forget(live: LiveInstance): void {
    if (this.#live.get(live.state.instanceId) === live) this.#live.delete(live.state.instanceId);
  }

  #retire(live: LiveInstance): void {
    live.generation++;
    for (const cancel of live.timers.values()) cancel();
    live.timers.clear();
    this.#forget(live);
  }

  // ---------------------------------------------------------------- episodes

  async #deliver(live: LiveInstance, event: HistoryEvent, taskId: number | undefined): Promise<void> {
    const generation = live.generation;
    await this.#scheduler.enqueue(live, async () => {
      if (generation !== live.generation || TERMINAL.includes(live.state.runtimeStatus)) return;
      if (taskId !== undefined) {
        if (!live.state.tasks[taskId]) return; // already delivered (duplicate after restart)
        delete live.state.tasks[taskId];
      }
      live.state.inbox.push(event);
      await this.store.saveInstance(live.state);
      this.#scheduleEpisode(live);
    });
  }

  #scheduleEpisode(live: LiveInstance): void {
    if (live.episodeQueued || this.#scheduler.stopped) return;
    live.episodeQueued = true;
    void this.#scheduler.enqueue(live, async () => {
      live.episodeQueued = false;
      if (live.state.inbox.length === 0 || TERMINAL.includes(live.state.runtimeStatus)) return;
      if (this.#live.get(live.state.instanceId) !== live) return;
      await this.#runEpisode(live);
      if (live.state.inbox.length > 0 && !TERMINAL.includes(live.state.runtimeStatus))
        this.#scheduleEpisode(live);
    });
  }

  async #runEpisode(live: LiveInstance): Promise<void> {
    this.#episodes++;
    const state = live.state;
    const now = this.#opts.clock.now();
    const batch = episodeBatch(state, now);
    const started: HistoryEvent = {
      EventType: EventType.OrchestratorStarted,
      EventId: -1,
      IsPlayed: false,
      Timestamp: new Date(now).toISOString(),
    };
    const fn = findFunction(this.#opts.registry, state.name, 'orchestrationTrigger');
    if (state.runtimeStatus === 'Pending') state.runtimeStatus = 'Running';
    const ran = fn
      ? await runOrchestrator(
          this.#opts.registry,
          fn,
          state,
          [...state.history, started, ...shownEvents(batch, false)],
          this.#opts.logger,
        )
      : {
          result: undefined,
          failure: `The orchestrator function '${state.name}' is not registered in this app.`,
        };
    const consumed = new Set(batch);
    state.inbox = state.inbox.filter((e) => !consumed.has(e));
    const ts = started.Timestamp;
    const { newEvents, newTasks, continueAsNew, failure, leaves } = planEpisode(
      state,
      batch,
      ran.result,
      ran.failure,
      now,
      ts,
    );

    // Commit the episode before acting on it.
    state.history.push(started, ...shownEvents(batch, true), ...newEvents);
    state.history.push({
      EventType: EventType.OrchestratorCompleted,
      EventId: -1,
      IsPlayed: true,
      Timestamp: ts,
    });
    state.lastUpdatedTime = ts;
    const done = failure !== undefined || (ran.result?.isDone ?? false);
    if (failure !== undefined) {
      const message =
        failure.startsWith('Non-deterministic') || failure.startsWith('The local host') || !fn
          ? failure
          : `Orchestrator function '${state.name}' failed: ${failure}`;
      await this.#finish(live, 'Failed', message);
      return;
    }
    if (done && continueAsNew) {
      await this.#continueAsNew(live, continueAsNew, newTasks);
      return;
    }
    for (const task of newTasks) state.tasks[task.id] = task;
    if (done) {
      // Fire-and-forget signals of the final episode still go out; everything else is dropped.
      const signals = newTasks.filter((t) => t.kind === 'entitySignal');
      state.tasks = Object.fromEntries(signals.map((t) => [t.id, t]));
      await this.#finish(live, 'Completed', ran.result?.output ?? null);
      for (const s of signals) this.#dispatch(live, s);
      return;
    }
    const cancelled = dropCancelledTimers(state, leaves);
    await this.store.saveInstance(state);
    for (const id of cancelled) {
      live.timers.get(id)?.();
      live.timers.delete(id);
    }
    for (const task of newTasks) if (!cancelled.has(task.id)) this.#dispatch(live, task);
  }

  async #continueAsNew(live: LiveInstance, action: RawAction, newTasks: TaskRecord[]): Promise<void> {
    const state = live.state;
    for (const cancel of live.timers.values()) cancel();
    live.timers.clear();
    live.generation++;
    const input: unknown =
      typeof action.input === 'string' ? JSON.parse(action.input) : (action.input ?? null);
    // Unprocessed external events carry over to the new execution.
    const carried = state.inbox.filter((e) => e.EventType === EventType.EventRaised);
    const signals = newTasks.filter((t) => t.kind === 'entitySignal');
    state.input = input;
    state.history = [];
    state.inbox = [executionStarted(state.name, input, state.parent, this.#iso()), ...carried];
    state.nextSeq = 0;
    state.leaves = [];
    state.leafTaskIds = [];
    state.tasks = Object.fromEntries(signals.map((t) => [t.id, t]));
    await this.store.saveInstance(state);
    for (const s of signals) this.#dispatch(live, s);
    this.#scheduleEpisode(live);
  }

  async #finish(live: LiveInstance, status: RuntimeStatus, output: unknown): Promise<void> {
    const state = live.state;
    const now = this.#iso();
    // Saved first, then shown: nobody sees a terminal status that a crash could still undo.
    const final: InstanceState = {
      ...state,
      runtimeStatus: status,
      output,
      lastUpdatedTime: now,
      inbox: [],
      tasks: status === 'Completed' ? state.tasks : {},
      history: [
        ...state.history,
        {
          EventType: EventType.ExecutionCompleted,
          EventId: -1,
          IsPlayed: true,
          Timestamp: now,
          OrchestrationStatus: status,
          Result: JSON.stringify(output ?? null),
        },
      ],
    };
    await this.store.saveInstance(final);
    Object.assign(state, final);
    for (const cancel of live.timers.values()) cancel();
    live.timers.clear();
    if (Object.keys(state.tasks).length === 0) this.#forget(live);
    const status_ = toStatus(state);
    for (const waiter of this.#waiters.get(state.instanceId) ?? []) waiter(status_);
    this.#waiters.delete(state.instanceId);
    if (state.parent) {
      const parent = this.#live.get(state.parent.instanceId);
      const task = parent?.state.tasks[state.parent.taskId];
      if (parent && task?.kind === 'subOrchestration' && task.instanceId === state.instanceId) {
        void this.#deliverChildResult(parent, task, state);
      }
    }
  }

  async #deliverChildResult(
    parent: LiveInstance,
    task: TaskRecord & { kind: 'subOrchestration' },
    child: InstanceState,
  ): Promise<void> {
    const ts = this.#iso();
    const event: HistoryEvent =
      child.runtimeStatus === 'Completed'
        ? {
            EventType: EventType.SubOrchestrationInstanceCompleted,
            EventId: -1,
            IsPlayed: false,
            Timestamp: ts,
            TaskScheduledId: task.id,
            Result: JSON.stringify(child.output ?? null),
          }
        : {
            EventType: EventType.SubOrchestrationInstanceFailed,
            EventId: -1,
            IsPlayed: false,
            Timestamp: ts,
            TaskScheduledId: task.id,
            Reason: `Sub-orchestration '${task.name}' (instance ${child.instanceId}) ${child.runtimeStatus === 'Terminated' ? 'was terminated' : 'failed'}: ${String(child.output)}`,
            Details: String(child.output),
          };
    await this.#deliverTaskEvent(parent, event, task);
  }

  async #deliverTaskEvent(live: LiveInstance, event: HistoryEvent, task: TaskRecord): Promise<void> {
    // Keep the task record with the event so the episode knows what it completes, even after a restart.
    event.DevhostTask = task;
    await this.#deliver(live, event, task.id);
  }

  // ---------------------------------------------------------------- dispatching work

  #dispatch(live: LiveInstance, task: TaskRecord, stored?: Map<string, InstanceState>): void {
    if (this.#scheduler.stopped) return;
    switch (task.kind) {
      case 'activity':
        this.#scheduler.runActivity(task, (event) => this.#deliverTaskEvent(live, event, task));
        return;
      case 'timer': {
        const cancel = this.#scheduler.setTimer(task.fireAt, () => {
          live.timers.delete(task.id);
          void this.#deliverTaskEvent(
            live,
            {
              EventType: EventType.TimerFired,
              EventId: -1,
              IsPlayed: false,
              Timestamp: this.#iso(),
              TimerId: task.id,
              FireAt: task.fireAt,
            },
            task,
          );
        });
        live.timers.set(task.id, cancel);
        return;
      }
      case 'subOrchestration': {
        const existing = stored?.get(task.instanceId) ?? this.#live.get(task.instanceId)?.state;
        if (
          existing &&
          existing.parent?.instanceId === live.state.instanceId &&
          existing.parent.taskId === task.id
        )
          return;
        this.startNew(task.name, {
          instanceId: task.instanceId,
          input: task.input,
          parent: { instanceId: live.state.instanceId, taskId: task.id },
        }).catch((err: unknown) => {
          void this.#deliverTaskEvent(
            live,
            {
              EventType: EventType.SubOrchestrationInstanceFailed,
              EventId: -1,
              IsPlayed: false,
              Timestamp: this.#iso(),
              TaskScheduledId: task.id,
              Reason: errorText(err).message,
              Details: errorText(err).details,
            },
            task,
          );
        });
        return;
      }
      case 'entityCall':
      case 'entitySignal':
        this.#entities.run(task.entity, task.op, task.inputJson, async (result) => {
          if (task.kind === 'entityCall') {
            const payload = result.isError
              ? { result: result.result, exceptionType: 'Error' }
              : { result: result.result };
            await this.#deliverTaskEvent(
              live,
              {
                EventType: EventType.EventRaised,
                EventId: -1,
                IsPlayed: false,
                Timestamp: this.#iso(),
                Name: task.requestId,
                Input: JSON.stringify(payload),
              },
              task,
            );
          } else {
            await this.#scheduler.enqueue(live, async () => {
              if (!live.state.tasks[task.id]) return;
              delete live.state.tasks[task.id];
              await this.store.saveInstance(live.state);
              if (TERMINAL.includes(live.state.runtimeStatus) && Object.keys(live.state.tasks).length === 0)
                this.#forget(live);
            });
          }
        });
        return;
    }
  }

  // ---------------------------------------------------------------- entities

  /** Reads an entity's state (`undefined` when it does not exist). */
  readEntity(name: string, key: string): Promise<EntityRecord | undefined> {
    return this.#entities.read(name, key);
  }

  /** Signals an entity from a client (fire and forget). */
  signalEntity(name: string, key: string, op: string, inputJson: string | undefined): void {
    this.#entities.signal(name, key, op, inputJson);
  }
}
