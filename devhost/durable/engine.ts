import { randomUUID } from 'node:crypto';
import type { AppRegistry, RegisteredFunction } from '../core-api.js';
import type { HostClock } from '../clock.js';
import { invokeRegistered, typedDataToJsonText } from '../invoke.js';
import type { HostLogger } from '../invoke.js';
import type { RpcInvocationResponse } from '../core-types.js';
import type { BindingServices } from '../bindings.js';
import { FileDurableStore } from './store.js';
import type {
  EntityRecord,
  HistoryEvent,
  InstanceState,
  RetryState,
  RuntimeStatus,
  TaskRecord,
} from './store.js';

/** DurableTask.Core `EventType` numbers used in histories. */
export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionTerminated: 2,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
} as const;

/** durable-functions `ActionType` numbers. */
export const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  CallEntity: 7,
  CallHttp: 8,
  SignalEntity: 9,
  WhenAny: 11,
  WhenAll: 12,
} as const;

/** Replay schema the host advertises (`upperSchemaVersion` 2 = the library's V3). */
export const UPPER_SCHEMA_VERSION = 2;
const MAX_SHORT_TIMER_MS = 6 * 24 * 3600_000;
const LONG_TIMER_INTERVAL_MS = 3 * 24 * 3600_000;
const OUT_OF_PROC_LABEL = '$OutOfProcData$:';
/** How long stop() waits for running handlers. */
const STOP_DRAIN_MS = 10_000;
const TERMINAL: readonly RuntimeStatus[] = ['Completed', 'Failed', 'Terminated'];

/** Options for {@link DurableEngine}. */
export interface DurableEngineOptions {
  registry: AppRegistry;
  clock: HostClock;
  dataDir: string;
  taskHub: string;
  logger: HostLogger;
  /** Activities running at once (host.json durableTask.maxConcurrentActivityFunctions). Default 10. */
  maxConcurrentActivities?: number;
}

/** Status as the Durable HTTP API returns it. */
export interface InstanceStatus {
  name: string;
  instanceId: string;
  runtimeStatus: RuntimeStatus;
  input: unknown;
  customStatus: unknown;
  output: unknown;
  createdTime: string;
  lastUpdatedTime: string;
  history?: unknown[];
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

interface RawAction {
  actionType: number;
  functionName?: string;
  input?: unknown;
  instanceId?: string;
  retryOptions?: RetryState['options'];
  fireAt?: string;
  isCanceled?: boolean;
  externalEventName?: string;
  operation?: string;
  compoundActions?: RawAction[];
}

interface OrchestratorResult {
  isDone: boolean;
  actions: RawAction[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
}

interface LiveInstance {
  state: InstanceState;
  chain: Promise<void>;
  episodeQueued: boolean;
  timers: Map<number, () => void>;
  /** Bumped on terminate/purge/restart so late completions of old work are dropped. */
  generation: number;
}

function flattenActions(actions: RawAction[], out: RawAction[] = []): RawAction[] {
  for (const a of actions) {
    if (a.actionType === ActionType.WhenAll || a.actionType === ActionType.WhenAny) {
      flattenActions(a.compoundActions ?? [], out);
    } else out.push(a);
  }
  return out;
}

function signature(a: RawAction): string {
  const target = a.functionName ?? a.externalEventName ?? a.instanceId ?? '';
  return `${a.actionType}:${target}${a.operation ? `:${a.operation}` : ''}`;
}

/** JSON text of an action input; the library already JSON-encodes string inputs of activities. */
function activityInputJson(input: unknown): string | undefined {
  if (input === undefined) return undefined;
  return typeof input === 'string' ? input : JSON.stringify(input);
}

/** The DurableTask.Core RetryInterceptor delay after failed attempt `attempt` (1-based). */
export function retryDelayMs(options: RetryState['options'], attempt: number): number {
  const backoff =
    options.backoffCoefficient && options.backoffCoefficient > 0 ? options.backoffCoefficient : 1;
  const delay = options.firstRetryIntervalInMilliseconds * Math.pow(backoff, attempt - 1);
  const max = options.maxRetryIntervalInMilliseconds;
  return max && max > 0 ? Math.min(delay, max) : delay;
}

function errorText(err: unknown): { message: string; details: string } {
  if (err instanceof Error) return { message: err.message, details: err.stack ?? err.message };
  const s = typeof err === 'string' ? err : JSON.stringify(err);
  return { message: s, details: s };
}

/**
 * The local Durable Task engine: keeps every orchestration's history, calls the app's registered
 * orchestrator with the out-of-proc trigger payload (durable-functions' own replay does the rest),
 * turns new actions into work, and persists state before acting on it.
 */
export class DurableEngine {
  readonly store: FileDurableStore;
  readonly #opts: DurableEngineOptions;
  readonly #live = new Map<string, LiveInstance>();
  readonly #entityChains = new Map<string, Promise<void>>();
  readonly #waiters = new Map<string, ((s: InstanceStatus) => void)[]>();
  #inFlight = 0;
  readonly #running = new Set<Promise<unknown>>();
  #activityRunning = 0;
  readonly #activityQueue: (() => void)[] = [];
  #stopped = false;
  /** Extra inputs (durable client) and outputs of activities; set by the host once it listens. */
  bindings: BindingServices | undefined;
  #episodes = 0;
  #activities = 0;

  constructor(options: DurableEngineOptions) {
    this.#opts = options;
    this.store = new FileDurableStore(options.dataDir, options.taskHub);
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
      void this.#enqueue(live, async () => {
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
    this.#stopped = true;
    for (const live of this.#live.values()) {
      for (const cancel of live.timers.values()) cancel();
      live.timers.clear();
    }
    // Let running handlers finish (bounded); what they report after this is dropped and redone
    // on the next start, exactly as after a crash.
    const drained = Promise.allSettled([...this.#running, ...[...this.#live.values()].map((l) => l.chain)]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise((resolve) => (timer = setTimeout(resolve, STOP_DRAIN_MS)))]);
    clearTimeout(timer);
  }

  /** Counters since start: orchestrator episodes run, activities run, instances held in memory. */
  stats(): { episodes: number; activities: number; liveInstances: number } {
    return { episodes: this.#episodes, activities: this.#activities, liveInstances: this.#live.size };
  }

  /** True when no episode, activity or entity operation is running or queued. */
  isIdle(): boolean {
    return this.#inFlight === 0;
  }

  #adopt(state: InstanceState): LiveInstance {
    const live: LiveInstance = {
      state,
      chain: Promise.resolve(),
      episodeQueued: false,
      timers: new Map(),
      generation: 0,
    };
    this.#live.set(state.instanceId, live);
    return live;
  }

  #work<T>(fn: () => Promise<T>): Promise<T> {
    this.#inFlight++;
    const run = fn();
    this.#running.add(run);
    return run.finally(() => {
      this.#running.delete(run);
      this.#inFlight--;
      if (this.#inFlight === 0 && !this.#stopped) this.#opts.clock.onIdle?.(() => this.isIdle());
    });
  }

  #enqueue(live: LiveInstance, fn: () => Promise<void>): Promise<void> {
    const run = live.chain.then(() => (this.#stopped ? undefined : this.#work(fn)));
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

  #fn(name: string, triggerType: string): RegisteredFunction | undefined {
    for (const fn of this.#opts.registry.functions.values()) {
      if (fn.metadata.name.toLowerCase() !== name.toLowerCase()) continue;
      if (Object.values(fn.metadata.bindings).some((b) => b.type === triggerType)) return fn;
    }
    return undefined;
  }

  #triggerName(fn: RegisteredFunction, triggerType: string): string {
    const entry = Object.entries(fn.metadata.bindings).find(([, b]) => b.type === triggerType);
    if (!entry) throw new Error(`function ${fn.metadata.name} has no ${triggerType}`);
    return entry[0];
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
    const fn = this.#fn(name, 'orchestrationTrigger');
    if (!fn)
      throw new Error(
        `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`,
      );
    const instanceId = options.instanceId ?? randomUUID().replace(/-/g, '');
    if (!isValidInstanceId(instanceId)) throw new InvalidInstanceIdError(instanceId);
    const existing = this.#live.get(instanceId)?.state ?? this.store.readInstanceSync(instanceId);
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
      inbox: [this.#executionStarted(fn.metadata.name, options.input, options.parent)],
      nextSeq: 0,
      leaves: [],
      leafTaskIds: [],
      tasks: {},
    };
    const live = this.#adopt(state);
    await this.#enqueue(live, async () => {
      await this.store.saveInstance(state);
      this.#scheduleEpisode(live);
    });
    return instanceId;
  }

  #executionStarted(name: string, input: unknown, parent?: InstanceState['parent']): HistoryEvent {
    return {
      EventType: EventType.ExecutionStarted,
      EventId: -1,
      IsPlayed: false,
      Timestamp: this.#iso(),
      Name: name,
      Input: input === undefined ? null : JSON.stringify(input),
      ParentInstance: parent
        ? { OrchestrationInstance: { InstanceId: parent.instanceId }, TaskScheduleId: parent.taskId }
        : null,
    };
  }

  /** Current status, or undefined when the instance does not exist. */
  getStatus(
    instanceId: string,
    options: { showHistory?: boolean; showInput?: boolean } = {},
  ): InstanceStatus | undefined {
    const state = this.#live.get(instanceId)?.state ?? this.store.readInstanceSync(instanceId);
    return state ? this.#toStatus(state, options) : undefined;
  }

  #toStatus(
    state: InstanceState,
    options: { showHistory?: boolean; showInput?: boolean } = {},
  ): InstanceStatus {
    const status: InstanceStatus = {
      name: state.name,
      instanceId: state.instanceId,
      runtimeStatus: state.runtimeStatus,
      input: options.showInput === false ? null : (state.input ?? null),
      customStatus: state.customStatus ?? null,
      output: state.output ?? null,
      createdTime: state.createdTime,
      lastUpdatedTime: state.lastUpdatedTime,
    };
    if (options.showHistory) status.history = state.history.map(({ IsPlayed: _p, ...e }) => e);
    return status;
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
      .map((s) => this.#toStatus(s, { showInput: filter.showInput }));
  }

  /** Delivers an external event. Returns 'notFound' or 'gone' (terminal) when it cannot. */
  async raiseEvent(
    instanceId: string,
    eventName: string,
    inputJson: string | undefined,
  ): Promise<'ok' | 'notFound' | 'gone'> {
    const live = this.#live.get(instanceId);
    if (!live) return this.store.readInstanceSync(instanceId) ? 'gone' : 'notFound';
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
    if (!live) return this.store.readInstanceSync(instanceId) ? 'gone' : 'notFound';
    await this.#enqueue(live, async () => {
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
    const current = this.getStatus(instanceId);
    if (current && TERMINAL.includes(current.runtimeStatus)) return Promise.resolve(current);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `Instance ${instanceId} did not complete within ${timeoutMs} ms (status ${this.getStatus(instanceId)?.runtimeStatus ?? 'none'}).`,
          ),
        );
      }, timeoutMs);
      const list = this.#waiters.get(instanceId) ?? [];
      list.push((s) => {
        clearTimeout(timer);
        resolve(s);
      });
      this.#waiters.set(instanceId, list);
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
    await this.#enqueue(live, async () => {
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
    if (live.episodeQueued || this.#stopped) return;
    live.episodeQueued = true;
    void this.#enqueue(live, async () => {
      live.episodeQueued = false;
      if (live.state.inbox.length === 0 || TERMINAL.includes(live.state.runtimeStatus)) return;
      if (this.#live.get(live.state.instanceId) !== live) return;
      await this.#runEpisode(live);
      if (live.state.inbox.length > 0 && !TERMINAL.includes(live.state.runtimeStatus))
        this.#scheduleEpisode(live);
    });
  }

  /** Whether processing `event` makes the library consume a sequence id by itself (retries, long timers). */
  #consumesId(state: InstanceState, event: HistoryEvent, now: number): boolean {
    const task = this.#taskOf(state, event);
    if (!task) return false;
    if (task.kind === 'timer') {
      if (task.retry) return !task.retry.exhausted;
      return task.longFinalFireAt !== undefined && new Date(task.longFinalFireAt).getTime() > now;
    }
    const failed =
      event.EventType === EventType.TaskFailed ||
      event.EventType === EventType.SubOrchestrationInstanceFailed;
    return (
      failed && (task.kind === 'activity' || task.kind === 'subOrchestration') && task.retry !== undefined
    );
  }

  /** Delivered task events carry their task record (`DevhostTask`, never shown to the app). */
  #taskOf(_state: InstanceState, event: HistoryEvent): TaskRecord | undefined {
    return event.DevhostTask as TaskRecord | undefined;
  }

  async #runEpisode(live: LiveInstance): Promise<void> {
    this.#episodes++;
    const state = live.state;
    const now = this.#opts.clock.now();
    // The library numbers ids in processing order; one id-consuming event per episode, first,
    // keeps our numbering identical to its own.
    const batch: HistoryEvent[] = [];
    for (const event of state.inbox) {
      if (batch.length > 0 && this.#consumesId(state, event, now)) break;
      batch.push(event);
    }
    const started: HistoryEvent = {
      EventType: EventType.OrchestratorStarted,
      EventId: -1,
      IsPlayed: false,
      Timestamp: new Date(now).toISOString(),
    };
    const shown = [
      ...state.history,
      started,
      ...batch.map(({ DevhostTask: _t, ...e }) => ({ ...e, IsPlayed: false })),
    ];
    const fn = this.#fn(state.name, 'orchestrationTrigger');
    if (state.runtimeStatus === 'Pending') state.runtimeStatus = 'Running';
    let result: OrchestratorResult | undefined;
    let failure: string | undefined;
    if (!fn) {
      failure = `The orchestrator function '${state.name}' is not registered in this app.`;
    } else {
      const payload = {
        history: shown,
        input: state.input,
        instanceId: state.instanceId,
        isReplaying: false,
        parentInstanceId: state.parent?.instanceId ?? null,
        upperSchemaVersion: UPPER_SCHEMA_VERSION,
        longRunningTimerIntervalDuration: '3.00:00:00',
        maximumShortTimerDuration: '6.00:00:00',
        defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
      };
      try {
        const response: RpcInvocationResponse = await invokeRegistered(
          this.#opts.registry,
          fn,
          {
            inputData: [
              {
                name: this.#triggerName(fn, 'orchestrationTrigger'),
                data: { string: JSON.stringify(payload) },
              },
            ],
          },
          this.#opts.logger,
        );
        result = JSON.parse(typedDataToJsonText(response.returnValue)) as OrchestratorResult;
      } catch (err) {
        const { message } = errorText(err);
        const at = message.indexOf(OUT_OF_PROC_LABEL);
        if (at >= 0) {
          result = JSON.parse(message.slice(at + OUT_OF_PROC_LABEL.length)) as OrchestratorResult;
          // The library puts the orchestrator's error message in the state (the prefix is not it).
          failure = result.error ?? message.slice(0, at).trimEnd();
        } else {
          failure = message;
        }
      }
    }

    const consumed = new Set(batch);
    state.inbox = state.inbox.filter((e) => !consumed.has(e));
    const newEvents: HistoryEvent[] = [];
    const newTasks: TaskRecord[] = [];
    const ts = started.Timestamp;

    // 1. Ids the library consumes on its own while processing the first event.
    const first = batch[0];
    if (result && first && this.#consumesId(state, first, now)) {
      const task = this.#taskOf(state, first) as TaskRecord;
      const id = state.nextSeq++;
      if (task.kind === 'timer' && task.retry) {
        // Next attempt of a retried call.
        const retry: RetryState = { ...task.retry, attempt: task.retry.attempt + 1, exhausted: false };
        newTasks.push(this.#attemptTask(state, id, retry, newEvents, ts));
      } else if (task.kind === 'timer') {
        const final = new Date(task.longFinalFireAt as string).getTime();
        const fireAt = final - now > MAX_SHORT_TIMER_MS ? now + LONG_TIMER_INTERVAL_MS : final;
        newTasks.push(this.#timerTask(id, fireAt, newEvents, ts, { longFinalFireAt: task.longFinalFireAt }));
        state.leafTaskIds = state.leafTaskIds?.map((x) => (x === task.id ? id : x));
      } else if ('retry' in task && task.retry) {
        // A failed attempt: the library waits for a retry timer (or, after the last attempt, one more timer).
        const exhausted = task.retry.attempt >= task.retry.options.maxNumberOfAttempts;
        const fireAt = exhausted ? now : now + retryDelayMs(task.retry.options, task.retry.attempt);
        newTasks.push(this.#timerTask(id, fireAt, newEvents, ts, { retry: { ...task.retry, exhausted } }));
      }
    }

    // 2. New actions, in the order the library numbered them.
    let continueAsNew: RawAction | undefined;
    let leaves: RawAction[] = [];
    if (result) {
      leaves = flattenActions(result.actions.flat());
      const known = state.leaves.length;
      for (let i = 0; i < Math.min(known, leaves.length); i++) {
        const sig = signature(leaves[i] as RawAction);
        if (sig !== state.leaves[i]) {
          failure = `Non-deterministic workflow detected: action ${i} was '${state.leaves[i]}' in the history but the replay produced '${sig}'. The orchestrator code changed or is not deterministic.`;
          break;
        }
      }
      if (!failure && leaves.length < known && !result.isDone) {
        failure = `Non-deterministic workflow detected: the replay produced ${leaves.length} actions but the history has ${known}.`;
      }
      if (!failure) {
        for (const action of leaves.slice(known)) {
          state.leaves.push(signature(action));
          const task = this.#taskForAction(state, action, now, newEvents, ts);
          (state.leafTaskIds ??= []).push(task && typeof task === 'object' ? task.id : null);
          if (task === 'continueAsNew') continueAsNew = action;
          else if (task === 'unsupported') {
            failure = `The local host does not support action type ${action.actionType} (${signature(action)}).`;
            break;
          } else if (task) newTasks.push(task);
        }
      }
      if (result.customStatus !== undefined) state.customStatus = result.customStatus;
    }

    // 3. Commit the episode before acting on it.
    state.history.push(
      started,
      ...batch.map(({ DevhostTask: _t, ...e }) => ({ ...e, IsPlayed: true })),
      ...newEvents,
    );
    state.history.push({
      EventType: EventType.OrchestratorCompleted,
      EventId: -1,
      IsPlayed: true,
      Timestamp: ts,
    });
    state.lastUpdatedTime = ts;
    const done = failure !== undefined || (result?.isDone ?? false);
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
      await this.#finish(live, 'Completed', result?.output ?? null);
      for (const s of signals) this.#dispatch(live, s);
      return;
    }
    // A cancelled timer never fires (the library cancels by flagging its action).
    const cancelled = new Set<number>();
    leaves.forEach((a, i) => {
      const id = state.leafTaskIds?.[i];
      if (
        a.actionType === ActionType.CreateTimer &&
        a.isCanceled &&
        typeof id === 'number' &&
        state.tasks[id]?.kind === 'timer'
      ) {
        delete state.tasks[id];
        cancelled.add(id);
      }
    });
    await this.store.saveInstance(state);
    for (const id of cancelled) {
      live.timers.get(id)?.();
      live.timers.delete(id);
    }
    for (const task of newTasks) if (!cancelled.has(task.id)) this.#dispatch(live, task);
  }

  #attemptTask(
    state: InstanceState,
    id: number,
    retry: RetryState,
    events: HistoryEvent[],
    ts: string,
  ): TaskRecord {
    if (retry.target.kind === 'activity') {
      const inputJson = activityInputJson(retry.target.input);
      events.push({
        EventType: EventType.TaskScheduled,
        EventId: id,
        IsPlayed: true,
        Timestamp: ts,
        Name: retry.target.name,
        Input: inputJson ?? null,
      });
      return { kind: 'activity', id, name: retry.target.name, inputJson, retry };
    }
    const instanceId = retry.target.instanceId ?? `${state.instanceId}:${id}`;
    events.push({
      EventType: EventType.SubOrchestrationInstanceCreated,
      EventId: id,
      IsPlayed: true,
      Timestamp: ts,
      Name: retry.target.name,
      InstanceId: instanceId,
      Input: JSON.stringify(retry.target.input ?? null),
    });
    return {
      kind: 'subOrchestration',
      id,
      name: retry.target.name,
      instanceId,
      input: retry.target.input,
      retry,
    };
  }

  #timerTask(
    id: number,
    fireAt: number,
    events: HistoryEvent[],
    ts: string,
    extra: { retry?: RetryState; longFinalFireAt?: string } = {},
  ): TaskRecord {
    const iso = new Date(fireAt).toISOString();
    events.push({
      EventType: EventType.TimerCreated,
      EventId: id,
      IsPlayed: true,
      Timestamp: ts,
      FireAt: iso,
    });
    return { kind: 'timer', id, fireAt: iso, ...extra };
  }

  #taskForAction(
    state: InstanceState,
    a: RawAction,
    now: number,
    events: HistoryEvent[],
    ts: string,
  ): TaskRecord | 'continueAsNew' | 'unsupported' | undefined {
    switch (a.actionType) {
      case ActionType.CallActivity: {
        const id = state.nextSeq++;
        const inputJson = activityInputJson(a.input);
        events.push({
          EventType: EventType.TaskScheduled,
          EventId: id,
          IsPlayed: true,
          Timestamp: ts,
          Name: a.functionName,
          Input: inputJson ?? null,
        });
        return { kind: 'activity', id, name: a.functionName ?? '', inputJson };
      }
      case ActionType.CallActivityWithRetry:
      case ActionType.CallSubOrchestratorWithRetry: {
        const id = state.nextSeq++;
        const kind = a.actionType === ActionType.CallActivityWithRetry ? 'activity' : 'subOrchestration';
        const retry: RetryState = {
          options: a.retryOptions ?? { firstRetryIntervalInMilliseconds: 1000, maxNumberOfAttempts: 1 },
          attempt: 1,
          target: { kind, name: a.functionName ?? '', input: a.input, instanceId: a.instanceId || undefined },
        };
        return this.#attemptTask(state, id, retry, events, ts);
      }
      case ActionType.CallSubOrchestrator: {
        const id = state.nextSeq++;
        const instanceId = a.instanceId || `${state.instanceId}:${id}`;
        events.push({
          EventType: EventType.SubOrchestrationInstanceCreated,
          EventId: id,
          IsPlayed: true,
          Timestamp: ts,
          Name: a.functionName,
          InstanceId: instanceId,
          Input: JSON.stringify(a.input ?? null),
        });
        return { kind: 'subOrchestration', id, name: a.functionName ?? '', instanceId, input: a.input };
      }
      case ActionType.CreateTimer: {
        const id = state.nextSeq++;
        const final = new Date(a.fireAt ?? now).getTime();
        if (final - now > MAX_SHORT_TIMER_MS) {
          return this.#timerTask(id, now + LONG_TIMER_INTERVAL_MS, events, ts, {
            longFinalFireAt: new Date(final).toISOString(),
          });
        }
        return this.#timerTask(id, final, events, ts);
      }
      case ActionType.WaitForExternalEvent:
        return undefined;
      case ActionType.ContinueAsNew:
        return 'continueAsNew';
      case ActionType.CallEntity: {
        const id = state.nextSeq++;
        const requestId = randomUUID();
        const inputJson =
          a.input === undefined ? undefined : typeof a.input === 'string' ? a.input : JSON.stringify(a.input);
        events.push({
          EventType: EventType.EventSent,
          EventId: id,
          IsPlayed: true,
          Timestamp: ts,
          InstanceId: a.instanceId,
          Name: 'op',
          Input: JSON.stringify({
            id: requestId,
            op: a.operation,
            signal: false,
            input: inputJson,
            parent: state.instanceId,
          }),
        });
        return {
          kind: 'entityCall',
          id,
          entity: a.instanceId ?? '',
          op: a.operation ?? '',
          inputJson,
          requestId,
        };
      }
      case ActionType.SignalEntity: {
        const id = state.nextSeq++;
        const inputJson =
          a.input === undefined ? undefined : typeof a.input === 'string' ? a.input : JSON.stringify(a.input);
        return { kind: 'entitySignal', id, entity: a.instanceId ?? '', op: a.operation ?? '', inputJson };
      }
      default:
        return 'unsupported';
    }
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
    state.inbox = [this.#executionStarted(state.name, input, state.parent), ...carried];
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
    const status_ = this.#toStatus(state);
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
    if (this.#stopped) return;
    switch (task.kind) {
      case 'activity':
        this.#runActivity(live, task);
        return;
      case 'timer': {
        const cancel = this.#opts.clock.setTimer(
          new Date(task.fireAt).getTime(),
          () => {
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
          },
          { wakesIdleHost: true },
        );
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
        this.#runEntityOperation(task.entity, task.op, task.inputJson, async (result) => {
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
            await this.#enqueue(live, async () => {
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

  #runActivity(live: LiveInstance, task: TaskRecord & { kind: 'activity' }): void {
    const start = (): void => {
      this.#activityRunning++;
      this.#activities++;
      void this.#work(async () => {
        let event: HistoryEvent;
        const ts = (): string => this.#iso();
        const fn = this.#fn(task.name, 'activityTrigger');
        try {
          if (!fn) throw new Error(`The activity function '${task.name}' is not registered in this app.`);
          const response = await invokeRegistered(
            this.#opts.registry,
            fn,
            {
              inputData: [
                {
                  name: this.#triggerName(fn, 'activityTrigger'),
                  data: task.inputJson === undefined ? undefined : { string: task.inputJson },
                },
                ...(this.bindings?.extraInputs(fn) ?? []),
              ],
            },
            this.#opts.logger,
          );
          await this.bindings?.applyOutputs(fn, response.outputData ?? []);
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
        await this.#deliverTaskEvent(live, event, task);
      }).finally(() => {
        this.#activityRunning--;
        this.#activityQueue.shift()?.();
      });
    };
    if (this.#activityRunning < (this.#opts.maxConcurrentActivities ?? 10)) start();
    else this.#activityQueue.push(start);
  }

  // ---------------------------------------------------------------- entities

  /** Reads an entity's state (`undefined` when it does not exist). */
  readEntity(name: string, key: string): EntityRecord | undefined {
    const record = this.store.readEntitySync(`@${name.toLowerCase()}@${key}`);
    return record?.exists ? record : undefined;
  }

  /** Signals an entity from a client (fire and forget). */
  signalEntity(name: string, key: string, op: string, inputJson: string | undefined): void {
    this.#runEntityOperation(`@${name.toLowerCase()}@${key}`, op, inputJson, async () => {});
  }

  #runEntityOperation(
    schedulerId: string,
    op: string,
    inputJson: string | undefined,
    onResult: (r: { isError: boolean; result: string | undefined }) => Promise<void>,
  ): void {
    const previous = this.#entityChains.get(schedulerId) ?? Promise.resolve();
    const run = previous.then(() =>
      this.#work(async () => {
        const at = schedulerId.indexOf('@', 1);
        const name = schedulerId.slice(1, at);
        const key = schedulerId.slice(at + 1);
        const fn = this.#fn(name, 'entityTrigger');
        if (!fn) {
          await onResult({
            isError: true,
            result: JSON.stringify(`The entity function '${name}' is not registered in this app.`),
          });
          return;
        }
        const record = this.store.readEntitySync(schedulerId) ?? {
          name,
          key,
          exists: false,
          state: null,
          lastModifiedTime: this.#iso(),
        };
        const payload = {
          self: { name, key },
          exists: record.exists,
          state: record.exists ? record.state : null,
          batch: [{ name: op, input: inputJson, isSignal: false, id: randomUUID() }],
        };
        let outcome: { isError: boolean; result: string | undefined };
        try {
          const response = await invokeRegistered(
            this.#opts.registry,
            fn,
            {
              inputData: [
                { name: this.#triggerName(fn, 'entityTrigger'), data: { string: JSON.stringify(payload) } },
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
          await this.store.saveEntity(schedulerId, {
            name,
            key,
            exists: out.entityExists,
            state: out.entityExists ? (out.entityState ?? null) : null,
            lastModifiedTime: this.#iso(),
          });
          const r = out.results[0];
          outcome = { isError: r?.isError ?? false, result: r?.result };
          for (const s of out.signals)
            this.signalEntity(s.target.name, s.target.key, s.name, s.input || undefined);
        } catch (err) {
          outcome = { isError: true, result: JSON.stringify(errorText(err).message) };
        }
        await onResult(outcome);
      }),
    );
    const settled = run.catch(() => {});
    this.#entityChains.set(schedulerId, settled);
    // Forget idle entities so memory stays flat.
    void settled.then(() => {
      if (this.#entityChains.get(schedulerId) === settled) this.#entityChains.delete(schedulerId);
    });
  }
}
