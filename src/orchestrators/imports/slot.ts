/**
 * The per-environment slot: one import holds it (= has an ImportFromPackage execution in flight in
 * F&O, {@link IMPORT_SLOT_CAPACITY}); the others wait in ARRIVAL order. A holder lets go when F&O's
 * execution is final; one that ended without knowing that (terminated, crashed, `TimedOut`) keeps
 * the slot until a waiter's recheck hears from F&O that its execution is final (or that F&O never
 * had it), because F&O fails an ImportFromPackage started while another runs. An import takes its place in the queue
 * when it is started (`enqueue`, by the trigger and again by its orchestration), prepares its
 * package meanwhile, and then asks for the slot (`acquire`, which marks it ready). Only ready
 * imports at the head of the queue are granted, so a later file never overtakes an earlier one.
 *
 * Here: the pure state transitions, the durable entity `importSlot` that applies them, and what the
 * import orchestration does with it ({@link environmentSlot}). Waiters are granted by the entity
 * itself (moved into the holders) when a holder leaves; the orchestration that caused it wakes them
 * with an external event (the `importNotifySlot` activity), and every waiter rechecks on a timer in
 * case an event was missed or a holder no longer runs (`importFindStaleHolders`).
 */
import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { z } from 'zod';
import { IMPORT_ACTIVITIES } from '../../activities/imports/index.js';
import { slotEntityId, type PauseState } from '../../shared/app/environments.js';
import { ENTITIES, IMPORT_EVENTS } from '../../shared/app/names.js';
import type { PauseInfo } from '../../shared/jobs/index.js';
import { callActivity } from '../common/call.js';

/** One queued or holding import. */
export interface SlotMember {
  instanceId: string;
  since: string;
  /**
   * How long F&O may not know the import's execution after it got the slot (its project's
   * `notStartedGraceSeconds`): a holder that ended is let go without F&O's word only after that.
   */
  graceMs?: number;
}

/** State of one environment's slot. */
export interface SlotState {
  holders: SlotMember[];
  waiters: (SlotMember & { ready: boolean })[];
  /** Capacity given by the last `acquire` (the environment's `concurrency`). */
  capacity: number;
  /**
   * Set while the environment is paused (`POST /api/environments/{env}/pause`): nothing is granted,
   * arrivals keep their place in the queue; `resume` grants again, in queue order.
   */
  paused?: PauseState;
}

/** Answer to `acquire`. */
export interface AcquireResult {
  granted: boolean;
  /** 1-based place in the queue when not granted. */
  position: number;
  /**
   * Whom this waiter checks on its recheck (do they still run?): the holders and the one waiter
   * directly ahead. Every waiter watching its predecessor covers the whole queue with one check
   * each, where watching everyone ahead would cost n² lookups for n queued files.
   */
  watch: string[];
  /** Others granted by this call (must be notified). */
  notify: string[];
  /** When not granted: the holders (whose F&O executions the recheck asks about). */
  holders?: SlotMember[];
  /**
   * When granted: the waiter now first in line, if any. The caller wakes it so it rechecks at its
   * new place (every 60 s at the head) instead of on the longer interval of its old place.
   */
  next?: string;
  /** When not granted because the environment is paused: the pause. */
  paused?: PauseState;
}

/**
 * Imports holding an environment's slot at once: one. Microsoft's package API docs: "ImportFromPackage()
 * must not be called in parallel threads. Otherwise, it will fail." (The entity keeps a `capacity`
 * for the state it stored before.)
 */
export const IMPORT_SLOT_CAPACITY = 1;

/** A fresh, empty slot. */
export function emptySlot(): SlotState {
  return { holders: [], waiters: [], capacity: 1 };
}

/**
 * Moves ready waiters at the head of the queue into free places; returns the instance ids granted.
 * Nothing while the environment is paused.
 */
function grant(state: SlotState, now: string): string[] {
  const granted: string[] = [];
  if (state.paused) return granted;
  while (state.holders.length < state.capacity && state.waiters[0]?.ready === true) {
    const next = state.waiters.shift()!;
    state.holders.push({
      instanceId: next.instanceId,
      since: now,
      ...(next.graceMs !== undefined ? { graceMs: next.graceMs } : {}),
    });
    granted.push(next.instanceId);
  }
  return granted;
}

/**
 * Takes a place in the queue (no-op when already queued or holding), ordered by arrival time
 * `since` (when the trigger received the file; ties keep the order of the calls): the first
 * episodes of orchestrations started one after the other may run in any order.
 */
export function enqueue(state: SlotState, input: { instanceId: string; now: string; since?: string }): void {
  const known =
    state.holders.some((h) => h.instanceId === input.instanceId) ||
    state.waiters.some((w) => w.instanceId === input.instanceId);
  if (known) return;
  const since = input.since ?? input.now;
  const index = state.waiters.findIndex((w) => w.since > since);
  const member = { instanceId: input.instanceId, since, ready: false };
  if (index < 0) state.waiters.push(member);
  else state.waiters.splice(index, 0, member);
}

/**
 * Asks for the slot (and marks the caller ready). Granted when the caller holds it already, or
 * when it is at the head of the queue and there is room.
 */
export function acquire(
  state: SlotState,
  input: { instanceId: string; capacity: number; now: string; graceMs?: number },
): AcquireResult {
  state.capacity = input.capacity;
  const next = (): string | undefined => state.waiters[0]?.instanceId;
  if (state.holders.some((h) => h.instanceId === input.instanceId)) {
    return { granted: true, position: 0, watch: [], notify: [], next: next() };
  }
  const grace = input.graceMs !== undefined ? { graceMs: input.graceMs } : {};
  const waiter = state.waiters.find((w) => w.instanceId === input.instanceId);
  if (waiter) Object.assign(waiter, { ready: true }, grace);
  else state.waiters.push({ instanceId: input.instanceId, since: input.now, ready: true, ...grace });
  const notify = grant(state, input.now).filter((id) => id !== input.instanceId);
  if (state.holders.some((h) => h.instanceId === input.instanceId)) {
    return { granted: true, position: 0, watch: [], notify, next: next() };
  }
  const index = state.waiters.findIndex((w) => w.instanceId === input.instanceId);
  return {
    granted: false,
    position: index + 1,
    watch: [
      ...state.holders.map((h) => h.instanceId),
      ...(index > 0 ? [state.waiters[index - 1]!.instanceId] : []),
    ],
    notify,
    holders: state.holders.map((h) => ({ ...h })),
    ...(state.paused ? { paused: { ...state.paused } } : {}),
  };
}

/**
 * Pauses the environment: nothing is granted until {@link resume}; holders keep the slot (F&O runs
 * their executions), waiters keep their places. Pausing a paused environment keeps the first pause
 * (its time and author). @returns the pause in force.
 */
export function pause(state: SlotState, input: PauseState): PauseState {
  state.paused ??= { since: input.since, by: input.by, ...(input.reason ? { reason: input.reason } : {}) };
  return state.paused;
}

/**
 * Resumes the environment and grants the free places to the waiters at the head of the queue, in
 * queue order. @returns the instance ids granted (the caller wakes every waiter).
 */
export function resume(state: SlotState, input: { now: string }): string[] {
  delete state.paused;
  return grant(state, input.now);
}

/**
 * Removes instances from holders and waiters (release by the import itself, or eviction of ones
 * that no longer run) and grants the freed places. @returns the instance ids granted.
 */
export function remove(state: SlotState, input: { instanceIds: string[]; now: string }): string[] {
  const gone = new Set(input.instanceIds);
  state.holders = state.holders.filter((h) => !gone.has(h.instanceId));
  state.waiters = state.waiters.filter((w) => !gone.has(w.instanceId));
  return grant(state, input.now);
}

/** The slot entity of an environment. */
export function slotEntity(environment: string): df.EntityId {
  return slotEntityId(environment);
}

/** Input of `enqueue`: who, when, and the arrival time that orders the queue. */
export const EnqueueInputSchema = z.object({
  instanceId: z.string(),
  now: z.string(),
  since: z.string().optional(),
});

/**
 * The `enqueue` a trigger signals (with its durable client) just before it starts an import, so
 * imports queue in the order their files arrived; the orchestration signals it again, idempotently.
 */
export function enqueueSignal(
  environment: string,
  instanceId: string,
  requestedAt: string,
): { entity: df.EntityId; input: z.infer<typeof EnqueueInputSchema> } {
  return { entity: slotEntity(environment), input: { instanceId, now: requestedAt, since: requestedAt } };
}

const AcquireInputSchema = z.object({
  instanceId: z.string(),
  capacity: z.number().int().min(1),
  now: z.string(),
  graceMs: z.number().min(0).optional(),
});
const RemoveInputSchema = z.object({ instanceIds: z.array(z.string()), now: z.string() });
/** Input of `pause` (written by the operator API, which validated `by` and `reason`). */
export const PauseInputSchema = z.strictObject({
  since: z.string(),
  by: z.string().min(1).max(100),
  reason: z.string().max(500).optional(),
});
const ResumeInputSchema = z.object({ now: z.string() });

/** Registers the slot entity: `enqueue`, `acquire`, `remove`, `pause`, `resume`, `get`. */
export function registerSlotEntity(): void {
  df.app.entity<SlotState>(ENTITIES.slot, (context) => {
    const state = { ...emptySlot(), ...context.df.getState(emptySlot) };
    switch (context.df.operationName) {
      case 'enqueue':
        enqueue(state, EnqueueInputSchema.parse(context.df.getInput()));
        break;
      case 'acquire':
        context.df.return(acquire(state, AcquireInputSchema.parse(context.df.getInput())));
        break;
      case 'remove':
        context.df.return(remove(state, RemoveInputSchema.parse(context.df.getInput())));
        break;
      case 'pause':
        context.df.return(pause(state, PauseInputSchema.parse(context.df.getInput())));
        break;
      case 'resume':
        context.df.return(resume(state, ResumeInputSchema.parse(context.df.getInput())));
        break;
      case 'get':
        context.df.return(state);
        break;
      default:
        throw new Error(`${ENTITIES.slot}: unknown operation ${String(context.df.operationName)}`);
    }
    context.df.setState(state);
  });
}

/**
 * How often the first waiter re-checks the slot when no grant event came (a missed notification, a
 * holder or waiter that no longer runs). A waiter further back waits this times its position, up to
 * {@link SLOT_RECHECK_MAX_FACTOR}: grants arrive as events, the recheck is only the safety net, and
 * 200 queued files should not cost 200 activity calls a minute.
 */
export const SLOT_RECHECK_MS = 60_000;
/** Longest recheck interval, in multiples of {@link SLOT_RECHECK_MS}. */
export const SLOT_RECHECK_MAX_FACTOR = 15;

/** How the wait for the slot ended. */
export interface SlotWait {
  /** A cancel came first (while preparing or waiting): the import holds no slot place any more to use. */
  canceled: boolean;
  /** When granted: the waiter now first in line, to wake once this import has started. */
  next?: string;
}

/**
 * The slot as one import orchestration uses it: take a place, wait for the grant (or a cancel),
 * release it, wake others. Sub-generators (`yield*`), deterministic.
 */
export function environmentSlot(
  context: OrchestrationContext,
  options: { environment: string; instanceId: string },
): {
  /** Takes the import's place in the queue (a signal: the trigger did it already; idempotent). */
  enqueue(since: string): void;
  /**
   * Waits until the slot is granted or a cancel is raised; `onWaiting` hears each queue position.
   * `graceMs`: how long F&O may not know this import's execution once it holds the slot.
   */
  wait(
    options: {
      capacity: number;
      graceMs: number;
      /**
       * Lists the job as `Queued` (with the pause) or back to waiting (undefined) in the job index,
       * each time the environment's pause starts or ends while it waits (an activity: only then).
       */
      onPausedChange?: (paused: PauseInfo | undefined) => Generator<Task, void, unknown>;
    },
    onWaiting: (position: number, paused: PauseInfo | undefined) => void,
  ): Generator<Task, SlotWait, unknown>;
  /** Leaves the slot (holder or waiter) and wakes whom that grants it to. */
  release(): Generator<Task, void, unknown>;
  /** Wakes the given imports (`slotGranted`); a failure is left to their recheck. */
  notify(instanceIds: string[]): Generator<Task, void, unknown>;
} {
  const { instanceId } = options;
  const entity = slotEntity(options.environment);
  const now = (): string => context.df.currentUtcDateTime.toISOString();

  function* notify(instanceIds: string[]): Generator<Task, void, unknown> {
    if (instanceIds.length === 0) return;
    try {
      yield* callActivity(
        context,
        IMPORT_ACTIVITIES.notifySlot,
        { instanceIds },
        { attempts: 5, firstMs: 2_000 },
      );
    } catch {
      // the granted imports also find out at their next recheck
    }
  }
  function* removing(instanceIds: string[]): Generator<Task, ReturnType<typeof remove>, unknown> {
    return (yield context.df.callEntity(entity, 'remove', { instanceIds, now: now() })) as ReturnType<
      typeof remove
    >;
  }
  function* acquiring(capacity: number, graceMs: number): Generator<Task, AcquireResult, unknown> {
    const acquired = (yield context.df.callEntity(entity, 'acquire', {
      instanceId,
      capacity,
      now: now(),
      graceMs,
    })) as ReturnType<typeof acquire>;
    yield* notify(acquired.notify);
    return acquired;
  }

  return {
    enqueue(since) {
      context.df.signalEntity(entity, 'enqueue', { instanceId, now: now(), since });
    },
    *wait({ capacity, graceMs, onPausedChange }, onWaiting) {
      // FIFO; stale holders evicted on the recheck timer
      const cancelWaiters: Task[] = [];
      const cancelWaiter = (): Task => {
        const task = context.df.waitForExternalEvent(IMPORT_EVENTS.cancel);
        cancelWaiters.push(task);
        return task;
      };
      let listedPaused = false;
      let acquired = yield* acquiring(capacity, graceMs);
      while (!acquired.granted) {
        const paused = acquired.paused ? { environment: options.environment, ...acquired.paused } : undefined;
        onWaiting(acquired.position, paused);
        if (onPausedChange && (paused !== undefined) !== listedPaused) {
          yield* onPausedChange(paused);
          listedPaused = paused !== undefined;
        }
        const granted = context.df.waitForExternalEvent(IMPORT_EVENTS.slotGranted);
        const cancel = cancelWaiter();
        const recheckMs = SLOT_RECHECK_MS * Math.min(Math.max(1, acquired.position), SLOT_RECHECK_MAX_FACTOR);
        const recheck = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + recheckMs));
        const winner = (yield context.df.Task.any([granted, cancel, recheck])) as Task;
        if (winner !== recheck) recheck.cancel();
        if (winner === cancel) break;
        if (winner === recheck) {
          // a holder that ended still holds the slot while F&O runs its execution (the activity asks)
          const stale = yield* callActivity(
            context,
            IMPORT_ACTIVITIES.findStaleHolders,
            {
              instanceIds: acquired.watch,
              environment: options.environment,
              now: now(),
              holders: (acquired.holders ?? []).filter((h) => acquired.watch.includes(h.instanceId)),
            },
            { attempts: 3, firstMs: 2_000 },
          );
          if (stale.length > 0) {
            const freed = yield* removing(stale);
            yield* notify(freed.filter((id) => id !== instanceId));
          }
        }
        acquired = yield* acquiring(capacity, graceMs);
      }
      if (acquired.granted && cancelWaiters.length === 0) {
        // a cancel raised while preparing is buffered: a zero timer lets it win if it is there
        const cancel = cancelWaiter();
        const zero = context.df.createTimer(context.df.currentUtcDateTime);
        const winner = (yield context.df.Task.any([cancel, zero])) as Task;
        if (winner !== zero) zero.cancel();
      }
      return {
        canceled: cancelWaiters.some((t) => t.isCompleted),
        ...(acquired.next !== undefined ? { next: acquired.next } : {}),
      };
    },
    *release() {
      yield* notify(yield* removing([instanceId]));
    },
    notify,
  };
}
