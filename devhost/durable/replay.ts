/**
 * One orchestrator episode, the way the out-of-proc protocol runs it: which inbox events the episode
 * shows, the trigger payload (history + new events) handed to the app's orchestrator (durable-functions
 * replays it with its own code), and what the returned cumulative actions mean — the replay check
 * against the actions already recorded (a mismatch is "Non-deterministic workflow detected") and the
 * new tasks and history events, numbered exactly as the library numbers them (one id per activity,
 * timer, sub-orchestration and entity call/signal in yield order; retries and long timers consume
 * ids of their own). Nothing here saves or dispatches: the engine commits the plan, then acts on it.
 */
import { randomUUID } from 'node:crypto';
import type { AppRegistry, RegisteredFunction } from '../core-api.js';
import type { RpcInvocationResponse } from '../core-types.js';
import { errorText, invokeRegistered, triggerBindingName, typedDataToJsonText } from '../invoke.js';
import type { HostLogger } from '../invoke.js';
import type { HistoryEvent, InstanceState, RetryState, TaskRecord } from './state.js';

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

/** One action as the library returns it. */
export interface RawAction {
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

/** What the orchestrator returns for an episode (cumulative actions, in yield order). */
export interface OrchestratorResult {
  isDone: boolean;
  actions: RawAction[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
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

/** The ExecutionStarted event that opens an execution (a new instance or a continueAsNew). */
export function executionStarted(
  name: string,
  input: unknown,
  parent: InstanceState['parent'],
  timestamp: string,
): HistoryEvent {
  return {
    EventType: EventType.ExecutionStarted,
    EventId: -1,
    IsPlayed: false,
    Timestamp: timestamp,
    Name: name,
    Input: input === undefined ? null : JSON.stringify(input),
    ParentInstance: parent
      ? { OrchestrationInstance: { InstanceId: parent.instanceId }, TaskScheduleId: parent.taskId }
      : null,
  };
}

/** Delivered task events carry their task record (`DevhostTask`, never shown to the app). */
function taskOf(event: HistoryEvent): TaskRecord | undefined {
  return event.DevhostTask as TaskRecord | undefined;
}

/** Whether processing `event` makes the library consume a sequence id by itself (retries, long timers). */
function consumesId(event: HistoryEvent, now: number): boolean {
  const task = taskOf(event);
  if (!task) return false;
  if (task.kind === 'timer') {
    if (task.retry) return !task.retry.exhausted;
    return task.longFinalFireAt !== undefined && new Date(task.longFinalFireAt).getTime() > now;
  }
  const failed =
    event.EventType === EventType.TaskFailed || event.EventType === EventType.SubOrchestrationInstanceFailed;
  return failed && (task.kind === 'activity' || task.kind === 'subOrchestration') && task.retry !== undefined;
}

/**
 * The inbox events the next episode shows. The library numbers ids in processing order; one
 * id-consuming event per episode, first, keeps our numbering identical to its own.
 */
export function episodeBatch(state: InstanceState, now: number): HistoryEvent[] {
  const batch: HistoryEvent[] = [];
  for (const event of state.inbox) {
    if (batch.length > 0 && consumesId(event, now)) break;
    batch.push(event);
  }
  return batch;
}

/** History events without the host's bookkeeping, flagged as played or new. */
export function shownEvents(batch: HistoryEvent[], isPlayed: boolean): HistoryEvent[] {
  return batch.map(({ DevhostTask: _t, ...e }) => ({ ...e, IsPlayed: isPlayed }));
}

/**
 * Calls the app's orchestrator with the out-of-proc trigger payload. An orchestrator that throws
 * still reports its actions (after `$OutOfProcData$:` in the error); `failure` is its message.
 */
export async function runOrchestrator(
  registry: AppRegistry,
  fn: RegisteredFunction,
  state: InstanceState,
  history: HistoryEvent[],
  logger: HostLogger,
): Promise<{ result: OrchestratorResult | undefined; failure: string | undefined }> {
  const payload = {
    history,
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
      registry,
      fn,
      {
        inputData: [
          {
            name: triggerBindingName(fn, 'orchestrationTrigger'),
            data: { string: JSON.stringify(payload) },
          },
        ],
      },
      logger,
    );
    return {
      result: JSON.parse(typedDataToJsonText(response.returnValue)) as OrchestratorResult,
      failure: undefined,
    };
  } catch (err) {
    const { message } = errorText(err);
    const at = message.indexOf(OUT_OF_PROC_LABEL);
    if (at >= 0) {
      const result = JSON.parse(message.slice(at + OUT_OF_PROC_LABEL.length)) as OrchestratorResult;
      // The library puts the orchestrator's error message in the state (the prefix is not it).
      return { result, failure: result.error ?? message.slice(0, at).trimEnd() };
    }
    return { result: undefined, failure: message };
  }
}

/** What an episode decided, before anything is saved or dispatched. */
export interface EpisodePlan {
  /** History events the episode adds after the shown batch (TaskScheduled, TimerCreated, …). */
  newEvents: HistoryEvent[];
  /** New outstanding work, by the ids the library gave it. */
  newTasks: TaskRecord[];
  /** The continueAsNew action, when the orchestrator asked for one. */
  continueAsNew: RawAction | undefined;
  /** Why the instance fails (orchestrator error, non-determinism, unsupported action), if it does. */
  failure: string | undefined;
  /** Every leaf action of this replay, in order (for timer cancellation). */
  leaves: RawAction[];
}

/**
 * Turns an orchestrator's result into the episode's plan. Advances the replay bookkeeping of
 * `state` (next id, recorded action signatures and their task ids, custom status).
 */
export function planEpisode(
  state: InstanceState,
  batch: HistoryEvent[],
  result: OrchestratorResult | undefined,
  failure: string | undefined,
  now: number,
  ts: string,
): EpisodePlan {
  const newEvents: HistoryEvent[] = [];
  const newTasks: TaskRecord[] = [];

  // 1. Ids the library consumes on its own while processing the first event.
  const first = batch[0];
  if (result && first && consumesId(first, now)) {
    const task = taskOf(first) as TaskRecord;
    const id = state.nextSeq++;
    if (task.kind === 'timer' && task.retry) {
      // Next attempt of a retried call.
      const retry: RetryState = { ...task.retry, attempt: task.retry.attempt + 1, exhausted: false };
      newTasks.push(attemptTask(state, id, retry, newEvents, ts));
    } else if (task.kind === 'timer') {
      const final = new Date(task.longFinalFireAt as string).getTime();
      const fireAt = final - now > MAX_SHORT_TIMER_MS ? now + LONG_TIMER_INTERVAL_MS : final;
      newTasks.push(timerTask(id, fireAt, newEvents, ts, { longFinalFireAt: task.longFinalFireAt }));
      state.leafTaskIds = state.leafTaskIds?.map((x) => (x === task.id ? id : x));
    } else if ('retry' in task && task.retry) {
      // A failed attempt: the library waits for a retry timer (or, after the last attempt, one more timer).
      const exhausted = task.retry.attempt >= task.retry.options.maxNumberOfAttempts;
      const fireAt = exhausted ? now : now + retryDelayMs(task.retry.options, task.retry.attempt);
      newTasks.push(timerTask(id, fireAt, newEvents, ts, { retry: { ...task.retry, exhausted } }));
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
        const task = taskForAction(state, action, now, newEvents, ts);
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
  return { newEvents, newTasks, continueAsNew, failure, leaves };
}

/**
 * Removes the timers the replay cancelled (the library cancels by flagging its action) from the
 * outstanding tasks; returns their ids, so their armed timers can be cancelled too.
 */
export function dropCancelledTimers(state: InstanceState, leaves: RawAction[]): Set<number> {
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
  return cancelled;
}

function attemptTask(
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

function timerTask(
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

function taskForAction(
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
      return attemptTask(state, id, retry, events, ts);
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
        return timerTask(id, now + LONG_TIMER_INTERVAL_MS, events, ts, {
          longFinalFireAt: new Date(final).toISOString(),
        });
      }
      return timerTask(id, final, events, ts);
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
